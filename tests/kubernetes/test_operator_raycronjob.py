"""The operator's RayCronJob controller against the fake API server (gate RayCronJob).

A schedule of ``@every 1s`` (robfig's descriptor, which KubeRay accepts) makes the first
tick come a second after creation, so no test waits for a minute boundary.
"""

from __future__ import annotations

from typing import Any

import pytest

from rayplane.api.validation import FeatureGates
from tests.kubernetes.operator_harness import fake_api, operator, run

pytestmark = pytest.mark.timeout(60)


def _cron(schedule: str = "@every 1s") -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCronJob",
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "entrypoint": "python -c 'print(1)'",
                # Suspended RayJobs: the RayJob controller leaves them alone (no clusters).
                "suspend": True,
                "shutdownAfterJobFinishes": True,
                "rayClusterSpec": {
                    "headGroupSpec": {
                        "rayStartParams": {},
                        "template": {
                            "spec": {"containers": [{"name": "ray-head", "image": "ray"}]}
                        },
                    }
                },
            },
        },
    }


def test_a_tick_creates_an_owned_rayjob_and_deleting_the_raycronjob_collects_it() -> None:
    async def scenario() -> None:
        async with fake_api() as kube, operator(kube, gates=FeatureGates(RayCronJob=True)):
            cron = kube.create(_cron())
            job = await kube.wait_for(lambda: next(iter(kube.objects("rayjobs", "default")), None))
            meta = job["metadata"]
            assert meta["name"].startswith("nightly-")
            assert meta["labels"] == {"ray.io/cronjob-name": "nightly"}
            assert "ray.io/cronjob-scheduled-timestamp" in meta["annotations"]
            (owner,) = meta["ownerReferences"]
            assert (owner["kind"], owner["uid"]) == ("RayCronJob", cron["metadata"]["uid"])
            assert job["spec"]["entrypoint"] == "python -c 'print(1)'"
            await kube.wait_for(
                lambda: (
                    (kube.get("raycronjobs", "default", "nightly") or {})
                    .get("status", {})
                    .get("lastScheduleTime")
                )
            )
            kube.delete("raycronjobs", "default", "nightly")
            await kube.wait_for(lambda: not kube.objects("rayjobs", "default"))

    run(scenario)


def test_without_the_gate_the_operator_runs_no_raycronjob_controller() -> None:
    async def scenario() -> None:
        async with fake_api() as kube:
            async with operator(kube) as op:
                assert "RayCronJob" not in op.controllers
            async with operator(kube, gates=FeatureGates(RayCronJob=True)) as op:
                assert "RayCronJob" in op.controllers

    run(scenario)
