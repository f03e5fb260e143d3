"""A member set to null is "not set", as the API server prunes it from a custom resource:
`rayStartParams:` left empty in YAML is valid in KubeRay, so it is here."""

from __future__ import annotations

import pytest

from rayplane.api.validation import validate
from tests.api.conftest import minimal


@pytest.mark.parametrize(
    "path",
    [
        ("spec", "headGroupSpec", "rayStartParams"),
        ("spec", "workerGroupSpecs", 0, "rayStartParams"),
        ("spec", "workerGroupSpecs"),
        ("spec", "headGroupSpec", "template", "spec", "containers", 0, "name"),
    ],
)
def test_null_members_are_unset(path: tuple[str | int, ...]) -> None:
    doc = minimal("RayCluster")
    target = doc
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    target[path[-1]] = None  # type: ignore[index]
    report = validate(doc)
    assert report.ok, [str(f) for f in report.errors]
