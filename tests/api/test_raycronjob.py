"""RayCronJob: KubeRay's ValidateRayCronJobSpec cases, the gate, and KubeRay's samples.

The two samples under tests/api/samples are copied unchanged from ray-project/kuberay
(ray-operator/config/samples/ray-cronjob*.sample.yaml); each file's first line says from
which commit.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from rayplane.api.loading import load
from rayplane.api.raycronjob import RayCronJob
from rayplane.api.validation import FeatureGates, validate

SAMPLES = Path(__file__).parent / "samples"
ON = FeatureGates(RayCronJob=True)

VALID: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCronJob",
    "metadata": {"name": "test-cronjob", "namespace": "default"},
    "spec": {
        "schedule": "*/5 * * * *",
        "jobTemplate": {
            "entrypoint": "python test.py",
            "rayClusterSpec": {
                "headGroupSpec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "ray-head", "image": "rayproject/ray:2.52.0"}]
                        }
                    }
                }
            },
        },
    },
}


def _doc(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    doc["spec"].update(spec)
    return doc


def _errors(doc: dict[str, Any], gates: FeatureGates = ON) -> list[tuple[str, str]]:
    return [(f.path, f.message) for f in validate(doc, gates).errors]


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"schedule": "0 9 * * *", "timeZone": "Asia/Taipei"},
        {"schedule": "0 0 * * *", "timeZone": "UTC"},
        {"schedule": "@every 1h30m"},
        {"schedule": "0 9 * * mon-fri", "suspend": True},
    ],
)
def test_kuberays_valid_cases_pass(spec: dict[str, Any]) -> None:
    assert _errors(_doc(**spec)) == []


@pytest.mark.parametrize(
    ("spec", "path", "says"),
    [
        ({"schedule": "invalid cron"}, "spec.schedule", "invalid cron schedule"),
        ({"schedule": "TZ=UTC */5 * * * *"}, "spec.schedule", "set spec.timeZone instead"),
        ({"schedule": "CRON_TZ=UTC */5 * * * *"}, "spec.schedule", "set spec.timeZone"),
        ({"timeZone": "Invalid/Zone"}, "spec.timeZone", "invalid time zone"),
        ({"timeZone": ""}, "spec.timeZone", "must not be an empty string"),
        ({"jobTemplate": {}}, "spec.jobTemplate", "rayClusterSpec"),
    ],
)
def test_kuberays_invalid_cases_fail_at_the_field(
    spec: dict[str, Any], path: str, says: str
) -> None:
    errors = _errors(_doc(**spec))
    assert any(p == path and says in m for p, m in errors), errors


def test_the_job_template_is_checked_as_a_rayjob_spec_where_the_user_wrote_it() -> None:
    doc = _doc()
    doc["spec"]["jobTemplate"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"][
        "containers"
    ] = []
    paths = [p for p, _ in _errors(doc)]
    assert "spec.jobTemplate.rayClusterSpec.headGroupSpec.template.spec.containers" in paths


def test_name_is_at_most_36_so_the_rayjob_name_fits() -> None:
    doc = _doc()
    doc["metadata"]["name"] = "a" * 37
    assert [p for p, _ in _errors(doc)] == ["metadata.name"]
    doc["metadata"]["name"] = "a" * 36
    assert _errors(doc) == []


def test_batch_cronjob_fields_kuberay_lacks_are_refused() -> None:
    for field in ("concurrencyPolicy", "startingDeadlineSeconds", "successfulJobsHistoryLimit"):
        errors = _errors(_doc(**{field: 1}))
        assert any(p == f"spec.{field}" for p, _ in errors), errors


def test_without_the_gate_it_is_refused_with_how_to_turn_it_on() -> None:
    errors = _errors(_doc(), FeatureGates())
    assert len(errors) == 1
    path, message = errors[0]
    assert path == "kind"
    assert "RayCronJob feature gate" in message
    assert "RAYPLANE_FEATURE_GATES=RayCronJob=true" in message


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("kuberay-ray-cronjob*")))
def test_kuberays_samples_validate_and_load(sample: str) -> None:
    docs = [d for d in load([SAMPLES / sample]) if d.kind == "RayCronJob"]
    assert len(docs) == 1
    report = validate(docs[0].raw, ON)
    assert report.ok, [str(f) for f in report.findings]
    assert isinstance(report.resource, RayCronJob)
    cron = report.resource
    assert cron.spec.job_template.entrypoint == "python /home/ray/samples/sample_code.py"
    assert cron.spec.job_template.shutdown_after_job_finishes is True
    # What we read is what KubeRay's sample says, field for field, and nothing more.
    assert cron.wire()["spec"] == docs[0].raw["spec"]
