"""`describe` says what of autoscalerOptions the local runtime keeps but cannot apply."""

from __future__ import annotations

from typing import Any

from rayplane.api.raycluster import RayCluster
from rayplane.local.notes import local_notes


def _cluster(autoscaling: bool, options: dict[str, Any]) -> RayCluster:
    container = {"name": "ray", "image": "rayproject/ray:2.60.0"}
    return RayCluster.model_validate(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "c"},
            "spec": {
                "enableInTreeAutoscaling": autoscaling,
                "autoscalerOptions": options,
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [container]}},
                },
            },
        }
    )


def _about_autoscaler(notes: list[str]) -> list[str]:
    return [n for n in notes if "autoscalerOptions" in n]


def test_sidecar_container_settings_are_listed() -> None:
    notes = _about_autoscaler(
        local_notes(
            _cluster(
                True,
                {
                    "image": "rayproject/ray:2.60.0",
                    "resources": {"limits": {"cpu": "500m"}},
                    "idleTimeoutSeconds": 30,
                },
            )
        )
    )
    assert len(notes) == 1
    assert "image, resources kept but not applied locally" in notes[0]
    assert "idleTimeoutSeconds" not in notes[0]  # honored, so not listed


def test_version_v1_says_v2_runs() -> None:
    notes = _about_autoscaler(local_notes(_cluster(True, {"version": "v1"})))
    assert notes == [
        "autoscalerOptions.version is v1; the local runtime runs Ray's v2 autoscaler, "
        "which scales by the same replicas/workersToDelete contract."
    ]
    assert _about_autoscaler(local_notes(_cluster(True, {"version": "v2"}))) == []


def test_options_without_autoscaling_are_called_unused() -> None:
    notes = _about_autoscaler(local_notes(_cluster(False, {"idleTimeoutSeconds": 30})))
    assert notes and "unused" in notes[0]
