"""Random edits of the examples and of KubeRay's samples: validation rejects with a field
path, and whatever it accepts goes through the reconcilers and `render` without an
exception. bench/fuzz_validation.py runs the same harness on >= 10,000 mutants."""

from __future__ import annotations

import functools
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rayplane.kubernetes.testing.kuberay import module_dir
from tests.api.fuzzing import Figures, check_one, mutate, seeds


@functools.cache
def _bases() -> list[dict[str, Any]]:
    return seeds(module_dir() / "config" / "samples")


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), edits=st.integers(1, 4))
def test_mutants_are_rejected_with_a_path_or_run_without_an_exception(
    seed: int, edits: int
) -> None:
    rng = random.Random(seed)
    doc = mutate(rng.choice(_bases()), rng, edits)
    figures = Figures()
    check_one(doc, figures, f"seed={seed} edits={edits}")
    assert not figures.crashes, figures.crashes[0]
    assert not figures.pathless, figures.pathless[0]
