"""validate() never raises: random damage to valid documents always yields a Report.

The mutations are the ones a user makes by hand: a deleted key, a value of the wrong type,
an extra (or real but misplaced) field, an edited string or number, at any depth.
"""

from __future__ import annotations

import copy
import functools
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from rayplane.api.findings import Finding
from rayplane.api.validation import KINDS, FeatureGates, Report, validate, validate_object
from rayplane.api.validation.structure import without_nulls


def _field_names() -> list[str]:
    """Every wire name the models know, so inserted keys often hit a real rule."""
    names: set[str] = set()
    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
            stack = [info.annotation]
            while stack:
                tp = stack.pop()
                if isinstance(tp, type) and issubclass(tp, BaseModel):
                    walk(tp)
                stack.extend(getattr(tp, "__args__", ()))

    for model in KINDS.values():
        walk(model)
    return sorted(names)


FIELD_NAMES = _field_names()
INTERESTING = [
    "RAY_REDIS_ADDRESS",
    "REDIS_PASSWORD",
    "RAY_enable_autoscaler_v2",
    "rocksdb",
    "token",
    "v2",
    "Never",
    "Always",
    "DeleteWorkers",
    "DeleteNone",
    "SUCCEEDED",
    "Failed",
    "InteractiveMode",
    "SidecarMode",
    "NewClusterWithIncrementalUpgrade",
    "ray.io/cluster",
    "ray.io/ft-enabled",
    "num-cpus",
    "labels",
    "true",
    "2.51.0",
    "gcs-storage",
    "/etc/ray/tls",
    "Waiting",
    "RayClusterSuspended",
    "",
    "-1",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(INTERESTING)
)
keys = st.sampled_from(FIELD_NAMES) | st.sampled_from(INTERESTING) | st.text(max_size=10)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=6,
)


def _containers(obj: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every dict and list in *obj*, the root included."""
    found: list[tuple[Any, ...]] = []
    if isinstance(obj, dict):
        found.append(here)
        for key, value in obj.items():
            found.extend(_containers(value, (*here, key)))
    elif isinstance(obj, list):
        found.append(here)
        for index, value in enumerate(obj):
            found.extend(_containers(value, (*here, index)))
    return found


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def _tweak(value: Any, rnd: random.Random, data: st.DataObject) -> Any:
    """A small edit of a scalar: what a typo does."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rnd.choice([-value - 1, -1, 1, 10**10, -(10**10)])
    if isinstance(value, float):
        return -value
    if isinstance(value, str):
        if not value:
            return rnd.choice(INTERESTING)
        index = rnd.randrange(len(value))
        edit = rnd.choice(["drop", "upper", "insert", "dup"])
        if edit == "drop":
            return value[:index] + value[index + 1 :]
        if edit == "upper":
            return value.upper() if value != value.upper() else value.lower()
        if edit == "insert":
            return value[:index] + rnd.choice("x-_. /é0") + value[index:]
        return value + value
    return data.draw(json_values)


def _other_type(value: Any, data: st.DataObject) -> Any:
    def differs(candidate: Any) -> bool:
        return type(candidate) is not type(value)

    return data.draw(json_values.filter(differs))


def mutate(doc: Any, rnd: random.Random, data: st.DataObject) -> Any:
    containers = _containers(doc)
    if not containers:
        return data.draw(json_values)
    target = _at(doc, rnd.choice(containers))
    action = rnd.choice(["delete", "retype", "insert", "tweak", "tweak", "replace_root"])
    if action == "replace_root":
        return data.draw(json_values) if rnd.randrange(20) == 0 else doc
    members = list(target.keys()) if isinstance(target, dict) else list(range(len(target)))
    if action == "insert" or not members:
        value = data.draw(json_values)
        if isinstance(target, dict):
            target[
                rnd.choice(FIELD_NAMES + INTERESTING) if rnd.randrange(4) else data.draw(keys)
            ] = value
        else:
            target.insert(rnd.randrange(len(target) + 1), value)
        return doc
    member = rnd.choice(members)
    if action == "delete":
        del target[member]
    elif action == "retype":
        target[member] = _other_type(target[member], data)
    else:
        target[member] = _tweak(target[member], rnd, data)
    return doc


def _check(report: Any, doc: Any) -> None:
    assert isinstance(report, Report)
    assert report.ok == (not report.errors and report.resource is not None)
    if not report.ok:
        assert report.errors or report.resource is None
    for finding in report.findings:
        assert isinstance(finding, Finding)
        assert isinstance(finding.path, str) and finding.path
        text = str(finding)
        assert text.startswith(f"{finding.path}: ")
        json.dumps(finding.as_dict(), default=str)
    if report.ok:
        assert report.resource is not None
        assert validate_object(report.resource).ok
        if _is_json(doc):  # JSON (what Kubernetes stores) has no NaN or Infinity
            # A valid document survives the trip through the model unchanged.
            # Members set to null are dropped, as the API server prunes them.
            assert report.resource.wire() == without_nulls(doc)


def _is_json(doc: Any) -> bool:
    try:
        json.dumps(doc, allow_nan=False)
    except ValueError:
        return False
    return True


@functools.cache
def _bases(make: Callable[[str], dict[str, Any]], examples_dir: Path) -> list[dict[str, Any]]:
    """The valid minimal documents and every ray.io/v1 seed example (valid or not)."""
    bases = [make(kind) for kind in KINDS]
    for path in sorted(examples_dir.glob("*.yaml")):
        bases.extend(
            d
            for d in yaml.safe_load_all(path.read_text())
            if isinstance(d, dict) and d.get("apiVersion") == "ray.io/v1"
        )
    return bases


ALL_GATES = FeatureGates.parse(
    ",".join(
        f"{n}=true"
        for n in (
            "GCSFaultToleranceEmbeddedStorage",
            "RayClusterNetworkPolicy",
            "RayClusterMTLS",
            "RayClusterHistoryServer",
        )
    )
)


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_validate_never_raises_on_damaged_documents(
    make: Callable[[str], dict[str, Any]],
    examples_dir: Path,
    data: st.DataObject,
) -> None:
    rnd = data.draw(st.randoms(use_true_random=False))
    doc = copy.deepcopy(rnd.choice(_bases(make, examples_dir)))
    for _ in range(rnd.randint(1, 4)):
        doc = mutate(doc, rnd, data)
    before = copy.deepcopy(doc)
    gates = rnd.choice([None, ALL_GATES, FeatureGates(RayJobDeletionPolicy=False)])
    report = validate(doc, gates)
    assert doc == before, "validate changed its input"
    _check(report, doc)
