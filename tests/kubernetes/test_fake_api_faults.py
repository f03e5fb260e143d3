"""Faults a real API server cannot be made to show on demand, against the in-process fake.

Everything else the operator does is tested on a real kube-apiserver (test_real_*.py);
these two need a chosen request to fail once (a 409 on a status write) or always (a 500
on Pod creation), which only :class:`rayplane.kubernetes.testing.FakeKubernetes` injects.
"""

from __future__ import annotations

import pytest

from tests.kubernetes.operator_harness import (
    condition,
    fake_api,
    operator,
    run,
    status_of,
)
from tests.support import example

pytestmark = pytest.mark.timeout(60)

NS = "raydata"
NAME = "raycluster-basic"


def test_status_write_conflict_is_retried_not_lost() -> None:
    async def scenario() -> None:
        async with fake_api() as kube:
            planned = kube.inject("PUT", "rayclusters", subresource="status", code=409)
            async with operator(kube):
                kube.create(example("raycluster-basic.yaml"))
                await kube.wait_for(
                    lambda: condition(status_of(kube, "rayclusters", NS, NAME), "HeadPodReady")
                )
            assert planned.hits == 1
            trail = [
                (r.method, r.status)
                for r in kube.requests
                if r.path.startswith(f"/apis/ray.io/v1/namespaces/{NS}/rayclusters/{NAME}")
            ]
            conflict = trail.index(("PUT", 409))
            # Re-read, then the same status put again and accepted.
            assert trail[conflict + 1] == ("GET", 200)
            assert trail[conflict + 2] == ("PUT", 200)

    run(scenario)


def test_failed_pod_creation_surfaces_as_replica_failure_and_event() -> None:
    async def scenario() -> None:
        async with fake_api() as kube, operator(kube):
            kube.inject("POST", "pods", code=500, times=100)
            kube.create(example("raycluster-basic.yaml"))

            def failing() -> object:
                return condition(status_of(kube, "rayclusters", NS, NAME), "ReplicaFailure")

            found = await kube.wait_for(failing)
            assert found["status"] == "True"
            assert found["reason"] == "FailedCreateHeadPod"
            events = kube.objects("events", NS)
            reasons = {e["reason"] for e in events if e["type"] == "Warning"}
            assert "FailedCreateHeadPod" in reasons

    run(scenario)
