"""Reconcilers report typed events: the reason travels with the message."""

from __future__ import annotations

from datetime import UTC, datetime

from rayplane.api.rayjob import RayJob
from rayplane.reconcile.events import Event
from rayplane.reconcile.job import ObservedJob, reconcile_job
from rayplane.reconcile.kuberay import SUFFIX_ALPHABET, SUFFIX_LENGTH, random_suffix

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def _job(**spec: object) -> RayJob:
    doc = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "demo", "namespace": "default"},
        "spec": {
            "entrypoint": "python -c 'print(1)'",
            "rayClusterSpec": {
                "headGroupSpec": {
                    "template": {"spec": {"containers": [{"name": "ray-head", "image": "ray"}]}}
                }
            },
            **spec,
        },
    }
    return RayJob.model_validate(doc)


def test_a_transition_is_a_normal_event_with_its_own_reason() -> None:
    plan = reconcile_job(_job(), ObservedJob(), NOW, rand=lambda: "abcde")
    assert Event(
        "Normal", "JobDeploymentStatusChanged", "JobDeploymentStatus New -> Initializing"
    ) in (plan.events)


def test_creating_the_cluster_uses_kuberays_reason() -> None:
    job = _job()
    first = reconcile_job(job, ObservedJob(), NOW, rand=lambda: "abcde")
    job = job.model_copy(update={"status": first.status})
    plan = reconcile_job(job, ObservedJob(), NOW, rand=lambda: "abcde")
    created = [e for e in plan.events if e.reason == "CreatedRayCluster"]
    assert created and created[0].type == "Normal"


def test_a_selected_cluster_that_is_missing_is_kuberays_warning() -> None:
    job = _job(rayClusterSpec=None, clusterSelector={"ray.io/cluster": "gone"})
    first = reconcile_job(job, ObservedJob(), NOW, rand=lambda: "abcde")
    job = job.model_copy(update={"status": first.status})
    plan = reconcile_job(job, ObservedJob(), NOW, rand=lambda: "abcde")
    warnings = [e for e in plan.events if e.warns]
    assert [e.reason for e in warnings] == ["RayClusterNotFound"]
    assert "gone" in warnings[0].message and not warnings[0].message.startswith("Warning")


def test_one_random_suffix_in_kuberays_alphabet() -> None:
    for _ in range(50):
        suffix = random_suffix()
        assert len(suffix) == SUFFIX_LENGTH and set(suffix) <= set(SUFFIX_ALPHABET)
