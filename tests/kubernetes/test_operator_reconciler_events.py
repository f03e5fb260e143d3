"""The operator posts the reconcilers' own events as Kubernetes Events, with their reasons
(KubeRay's where KubeRay has one), rather than reasons of its own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kubernetes.operator_harness import fake_api, operator, run
from tests.support import example

pytestmark = pytest.mark.timeout(60)


def _events(kube: Any, kind: str, name: str) -> dict[str, dict[str, Any]]:
    found = kube.objects("events", "default")
    return {
        e["reason"]: e
        for e in found
        if e["involvedObject"]["kind"] == kind and e["involvedObject"]["name"] == name
    }


def test_a_rayjob_gets_the_reconcilers_events() -> None:
    async def scenario() -> None:
        job = example("rayjob-data-pipeline.yaml")
        job["metadata"]["namespace"] = "default"
        name = job["metadata"]["name"]
        async with fake_api() as kube, operator(kube):
            kube.create(job)

            def posted() -> dict[str, dict[str, Any]] | None:
                events = _events(kube, "RayJob", name)
                wanted = {"JobDeploymentStatusChanged", "CreatedRayCluster"}
                return events if events.keys() >= wanted else None

            events = await kube.wait_for(posted)
        assert events["JobDeploymentStatusChanged"]["type"] == "Normal"
        assert "New -> Initializing" in events["JobDeploymentStatusChanged"]["message"]
        assert "ReconcileError" not in events

    run(scenario)


def test_a_missing_selected_cluster_is_kuberays_warning() -> None:
    async def scenario() -> None:
        job = example("rayjob-data-pipeline.yaml")
        job["metadata"]["namespace"] = "default"
        job["spec"].pop("rayClusterSpec", None)
        job["spec"].pop("shutdownAfterJobFinishes", None)
        job["spec"].pop("ttlSecondsAfterFinished", None)
        job["spec"]["clusterSelector"] = {"ray.io/cluster": "not-there"}
        name = job["metadata"]["name"]
        async with fake_api() as kube, operator(kube):
            kube.create(job)
            events = await kube.wait_for(
                lambda: _events(kube, "RayJob", name).get("RayClusterNotFound")
            )
        assert events["type"] == "Warning"
        assert "not-there" in events["message"]
        assert not events["message"].startswith("Warning")

    run(scenario)
