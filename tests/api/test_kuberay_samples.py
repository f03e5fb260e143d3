"""`rayplane validate` accepts every sample KubeRay v1.5.0 ships (config/samples, all
subdirectories) with KubeRay's default feature gates, since KubeRay accepts them too."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayplane.api.loading import load
from rayplane.api.validation import KINDS, validate
from rayplane.api.validation.paths import join
from rayplane.kubernetes.testing.kuberay import module_dir

SAMPLES = module_dir() / "config" / "samples"
# Samples KubeRay itself refuses, with the reason; a refusal of ours must be listed here.
KUBERAY_REFUSES: dict[str, str] = {}


def _sample_files() -> list[Path]:
    return sorted(SAMPLES.rglob("*.yaml")) if SAMPLES.is_dir() else []


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="KubeRay's module is not in the Go cache")
def test_every_kuberay_sample_is_accepted() -> None:
    refused: dict[str, list[str]] = {}
    checked = 0
    for path in _sample_files():
        for doc in load([path]):
            if doc.kind not in KINDS:
                continue
            checked += 1
            report = validate(doc.raw)
            if not report.ok:
                refused[f"{path.relative_to(SAMPLES)}#{doc.index + 1}"] = [
                    str(f) for f in report.errors
                ]
    assert checked >= 60
    unexpected = {k: v for k, v in refused.items() if k not in KUBERAY_REFUSES}
    assert not unexpected, "\n".join(f"{k}: {v}" for k, v in unexpected.items())


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        ("dashboard-host=0.0.0.0", 'write it as dashboard-host: "0.0.0.0"'),
        ("--foo", "drop the dashes and spaces: foo"),
        ("a b", "use the flag's name without dashes"),
        ("Num-CPUs", "use the flag's name without dashes"),
    ],
)
def test_ray_start_param_keys_must_be_flag_names(key: str, fix: str) -> None:
    doc = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "demo"},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {key: "x"},
                "template": {"spec": {"containers": [{"name": "ray", "image": "ray"}]}},
            }
        },
    }
    errors = {f.path: str(f) for f in validate(doc).errors}
    path = join("spec.headGroupSpec.rayStartParams", key)
    assert path in errors, errors
    assert fix in errors[path]
