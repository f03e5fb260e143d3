"""Idle termination in the operator, on a real kube-apiserver.

Real: the API server (RBAC for the operator's merge patch of spec.idleSuspend, events).
Simulated: Pods' processes (no kubelet) and Ray's dashboard (an httpx MockTransport that
answers /api/component_activities and /api/jobs/ as Ray 2.60 does).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.kubernetes.real_api import Cluster, condition, operator, run

pytestmark = pytest.mark.timeout(180)

NAME = "idle"


def _cluster() -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": NAME},
        "spec": {
            "idleTerminationOptions": {"timeoutSeconds": 1},
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-head",
                                "image": "rayproject/ray:2.60.0",
                                "ports": [{"containerPort": 8265, "name": "dashboard"}],
                            }
                        ]
                    }
                },
            },
        },
    }


def test_a_busy_cluster_is_kept_and_an_idle_one_suspended(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("idle")
    dashboard: dict[str, Any] = {"busy": True, "probes": 0, "idle_probes": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/jobs/":
            return httpx.Response(200, text="[]")
        if request.url.path != "/api/component_activities":
            return httpx.Response(404)
        dashboard["probes"] += 1
        if dashboard["busy"]:
            driver = {"is_active": "ACTIVE", "reason": "Number of active drivers: 1"}
        else:
            dashboard["idle_probes"] += 1
            driver = {"is_active": "INACTIVE", "reason": None}
        return httpx.Response(200, text=json.dumps({"driver": {**driver, "timestamp": 1.0}}))

    async def scenario() -> None:
        async with operator(ns, dashboard_transport=httpx.MockTransport(answer)):
            ns.create(_cluster())
            await ns.wait_for(lambda: len(ns.objects("pods")) == 1)
            await ns.ready_pods()
            # Several probes see a driver, far past the 1 s timeout: nothing happens.
            await ns.wait_for(lambda: dashboard["probes"] >= 3, timeout=90)
            cluster = ns.get("rayclusters", NAME)
            assert cluster is not None and not cluster["spec"].get("idleSuspend")
            assert ns.live("pods")

            dashboard["busy"] = False
            cluster = await ns.wait_for(
                lambda: (c := ns.get("rayclusters", NAME)) and c["spec"].get("idleSuspend") and c,
                timeout=90,
            )
            assert dashboard["idle_probes"] >= 1
            reason = cluster["metadata"]["annotations"]["ray.io/idle-termination-reason"]
            assert "timeoutSeconds=1" in reason
            # The condition that is True says why: Suspending while the Pods go, then
            # Suspended (an earlier pass's False Suspending carries no message).
            stopping = await ns.wait_for(lambda: _true_suspend_condition(ns))
            assert "spec.idleSuspend is true" in stopping["message"]
            events = await ns.wait_for(
                lambda: [e for e in ns.objects("events") if e.get("reason") == "IdleSuspended"]
            )
            assert "no driver or job ran" in events[0]["message"]

    run(scenario)


def _true_suspend_condition(ns: Any) -> dict[str, Any] | None:
    status = ns.status("rayclusters", NAME)
    for kind in ("RayClusterSuspending", "RayClusterSuspended"):
        found = condition(status, kind)
        if found and found.get("status") == "True":
            return found
    return None
