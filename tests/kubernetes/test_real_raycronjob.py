"""RayCronJob on a real kube-apiserver (gate RayCronJob): the CRD is structural and
served, the operator (as its ServiceAccount, with the RBAC it ships) creates the tick's
RayJob, and kube-controller-manager's garbage collector deletes it with its RayCronJob
(the operator stays up to lift the RayJobs' ``ray.io/rayjob-finalizer``).

``@every 1s`` (a robfig descriptor KubeRay accepts) makes the first tick come a second
after creation, so nothing waits for a minute boundary.
"""

from __future__ import annotations

from typing import Any

import pytest

from rayplane.api.validation import FeatureGates
from tests.kubernetes.real_api import Cluster, operator, path_of, run

pytestmark = pytest.mark.timeout(180)


def _cron() -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "@every 1s",
            "timeZone": "Asia/Taipei",
            "jobTemplate": {
                "entrypoint": "python -c 'print(1)'",
                "suspend": True,  # the RayJob controller then leaves its RayJobs alone
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


def test_the_operator_schedules_owned_rayjobs_that_go_with_the_raycronjob(
    kube_cluster: Cluster,
) -> None:
    ns = kube_cluster.namespace("cron")
    crd = ns.get("customresourcedefinitions", "raycronjobs.ray.io")
    assert crd is not None
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions.get("NonStructuralSchema") != "True"

    async def scenario() -> None:
        async with operator(ns, gates=FeatureGates(RayCronJob=True)):
            cron = ns.create(_cron())
            job = await ns.wait_for(lambda: next(iter(ns.objects("rayjobs")), None))
            meta = job["metadata"]
            assert meta["labels"] == {"ray.io/cronjob-name": "nightly"}
            (owner,) = meta["ownerReferences"]
            assert (owner["kind"], owner["uid"]) == ("RayCronJob", cron["metadata"]["uid"])
            await ns.wait_for(
                lambda: (
                    (ns.get("raycronjobs", "nightly") or {})
                    .get("status", {})
                    .get("lastScheduleTime")
                )
            )
            # The GC deletes the RayJobs (the operator only lifts their RayJob finalizer).
            ns.request("DELETE", path_of("raycronjobs", ns.name, "nightly"))
            await ns.wait_for(lambda: not ns.objects("rayjobs"), timeout=60)

    run(scenario)
