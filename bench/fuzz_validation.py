"""Fuzz validation, the pure reconcilers and `render` with mutants of real manifests.

Mutants are random edits (deleted, nulled or odd-valued members, inserted keys that the
rules read) of examples/ and of KubeRay v1.5.0's config/samples. Each goes through
`validate`; a rejection must name a field path for every error, and an accepted mutant
goes through reconcile_cluster/job/service (nothing observed yet) and render. Prints
the figures; exits 1 on any exception or path-less rejection.

    python bench/fuzz_validation.py --mutants 10000 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.api.fuzzing

from tests.api.fuzzing import run, seeds

from rayplane.kubernetes.testing.kuberay import module_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=3, help="tracebacks to print")
    args = parser.parse_args()
    samples = module_dir() / "config" / "samples"
    bases = seeds(samples)
    print(f"seeds: {len(bases)} documents (KubeRay samples: {samples.is_dir()})")
    started = time.perf_counter()
    figures = run(args.mutants, args.seed, bases)
    elapsed = time.perf_counter() - started
    print(figures.line() + f" seconds={elapsed:.1f}")
    for crash in figures.crashes[: args.show]:
        print(crash)
    for pathless in figures.pathless[: args.show]:
        print("without a path:", pathless)
    return 1 if figures.crashes or figures.pathless else 0


if __name__ == "__main__":
    sys.exit(main())
