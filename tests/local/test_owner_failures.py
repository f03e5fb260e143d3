"""`apply` of a RayJob or RayService stops waiting when its cluster cannot start.

The owner's own status does not say why nothing happens (the RayService stays
Initializing, the RayJob Initializing) while its RayCluster crash-loops or waits for a
Secret; the controller's detail carries the cluster's blocking failure so `apply` can stop
with it instead of running into its timeout.
"""

from __future__ import annotations

from typing import Any

from rayplane.cli.jobwatch import follow
from rayplane.cli.output import err
from rayplane.cli.readiness import service_outcome
from rayplane.local.controller import Controller

MESSAGE = (
    'CreateContainerConfigError: secret "s" not found in namespace "default" (env P of the '
    "head); apply a kind: Secret with that name"
)


def _owned_cluster(controller: Controller, owner_kind: str, failure: str | None) -> str:
    owner = controller.store.put(
        owner_kind, "default", "app", {"apiVersion": "ray.io/v1", "kind": owner_kind}
    )
    body = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"ownerReferences": [{"kind": owner_kind, "name": "app", "uid": owner.uid}]},
    }
    cluster = controller.store.put("RayCluster", "default", "app-raycluster-x1", body)
    conditions: list[dict[str, Any]] = []
    if failure is not None:
        conditions.append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreateHeadPod",
                "message": failure,
            }
        )
    controller.store.set_status(cluster.uid, {"conditions": conditions})
    return owner.uid


def _detail(controller: Controller, kind: str) -> dict[str, Any]:
    code, detail = controller.handle("GET", f"/resources/{kind}/default/app", {}, None)
    assert code == 200
    return dict(detail)


def test_a_rayservice_whose_cluster_misses_a_secret_fails_apply(controller: Controller) -> None:
    _owned_cluster(controller, "RayService", MESSAGE)
    detail = _detail(controller, "RayService")
    assert detail["local"]["clusterFailure"] == f"RayCluster app-raycluster-x1: {MESSAGE}"
    outcome = service_outcome(detail)
    assert outcome.done and outcome.failed and MESSAGE in outcome.message


def test_a_rayjob_whose_cluster_crash_loops_ends_follow(controller: Controller) -> None:
    crash = "CrashLoop: headgroup nodes failed 3 times in a row; last: boom"
    _owned_cluster(controller, "RayJob", crash)
    detail = _detail(controller, "RayJob")
    with err.capture() as said:
        code = follow(lambda: detail, "rayjob/app", timeout_s=30, stream_logs=False)
    assert code == 1
    assert "rayjob/app cannot run: RayCluster app-raycluster-x1: CrashLoop" in said.get()
    assert "stopped waiting" not in said.get()  # it ended on the failure, not the timeout


def test_other_cluster_failures_keep_apply_waiting(controller: Controller) -> None:
    _owned_cluster(controller, "RayService", "FailedCreateWorkerPod: a transient error")
    detail = _detail(controller, "RayService")
    assert detail["local"]["clusterFailure"] is None
    assert not service_outcome(detail).done
