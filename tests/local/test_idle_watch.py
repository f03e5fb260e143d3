"""The local controller's idle watch against a real store, with Ray's dashboard simulated.

What a user notices: a cluster that runs a job is kept past its timeout; an idle one gets
``spec.idleSuspend`` and an event (policy Suspend) or is marked for deletion (Delete);
a dashboard that cannot answer keeps the cluster; `describe` has the countdown.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from rayplane.api.raycluster import RayCluster
from rayplane.local.idle_probe import IdleWatch
from rayplane.local.store import Store, StoredNode, StoredResource
from rayplane.reconcile.cluster.idle import Act, Busy, Keep, Unknown

NS, NAME = "default", "idle"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Dashboard:
    """Ray 2.60's answers to the two calls the probe makes; ``jobs`` is what runs."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.status = 200
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.status != 200:
            return httpx.Response(self.status, text="Unauthorized")
        if request.url.path == "/api/jobs/":
            return httpx.Response(200, text=json.dumps(self.jobs))
        driver = {"is_active": "INACTIVE", "reason": None, "timestamp": 1.0}
        return httpx.Response(200, text=json.dumps({"driver": driver}))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _setup(
    tmp_path: Path, policy: str = "Suspend"
) -> tuple[Store, IdleWatch, Dashboard, Clock, list[StoredNode]]:
    store = Store(tmp_path / "state.db")
    doc = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "idleTerminationOptions": {"timeoutSeconds": 60, "policy": policy},
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head"}]}},
            },
        },
    }
    uid = store.put("RayCluster", NS, NAME, doc).uid
    me = psutil.Process()
    head = StoredNode(
        name="idle-head-x",
        cluster_uid=uid,
        group="headgroup",
        kind="head",
        pid=me.pid,
        create_time=me.create_time(),
        ports={"dashboard": 8265},
        temp_dir="/nonexistent",
        log_path="/nonexistent",
        created=time.time(),
    )
    head.info["was_ready"] = True
    dashboard, clock = Dashboard(), Clock()
    client = httpx.Client(transport=httpx.MockTransport(dashboard))
    return store, IdleWatch(store, client, clock=clock), dashboard, clock, [head]


def _stored(store: Store) -> StoredResource:
    stored = store.get("RayCluster", NS, NAME)
    assert stored is not None
    return stored


def _check(store: Store, watch: IdleWatch, nodes: list[StoredNode]) -> Any:
    stored = _stored(store)
    return watch.check(stored, RayCluster.model_validate(stored.document()), nodes)


def test_a_running_job_keeps_the_cluster_then_idleness_suspends_it(tmp_path: Path) -> None:
    store, watch, dashboard, clock, nodes = _setup(tmp_path)
    dashboard.jobs = [{"status": "RUNNING"}]
    for _ in range(10):  # ten minutes of a running job, past the 60 s timeout
        assert isinstance(_check(store, watch, nodes), Busy)
        clock.advance(60)
    assert watch.describe(_stored(store)) == "busy: 1 job running"
    assert not _stored(store).body["spec"].get("idleSuspend")

    dashboard.jobs = [{"status": "SUCCEEDED", "end_time": 1}]
    clock.advance(5)
    # The count starts at the first probe that saw nothing running.
    assert _check(store, watch, nodes) == Keep(0.0, 60.0, "Suspend")
    clock.advance(5)
    assert isinstance(_check(store, watch, nodes), Keep)
    assert watch.describe(_stored(store)) == "idle for 5s, suspends in 55s"
    clock.advance(55)
    assert isinstance(_check(store, watch, nodes), Act)

    stored = _stored(store)
    assert stored.body["spec"]["idleSuspend"] is True
    reason = stored.body["metadata"]["annotations"]["ray.io/idle-termination-reason"]
    assert "timeoutSeconds=60" in reason
    events = [e for e in store.events(stored.uid) if e["reason"] == "IdleSuspended"]
    assert events and "no driver or job ran for" in events[0]["message"]
    shown = watch.describe(stored)
    assert shown is not None and shown.startswith("suspended: no driver or job ran for")


def test_delete_policy_marks_the_cluster_for_deletion(tmp_path: Path) -> None:
    store, watch, _, clock, nodes = _setup(tmp_path, policy="Delete")
    _check(store, watch, nodes)
    clock.advance(61)
    assert isinstance(_check(store, watch, nodes), Act)
    stored = _stored(store)
    assert stored.deleting is not None
    assert [e for e in store.events(stored.uid) if e["reason"] == "IdleDeleted"]


def test_a_dashboard_that_refuses_keeps_the_cluster(tmp_path: Path) -> None:
    store, watch, dashboard, clock, nodes = _setup(tmp_path)
    dashboard.status = 401
    for _ in range(5):
        decision = _check(store, watch, nodes)
        assert isinstance(decision, Unknown) and "401" in decision.error
        clock.advance(120)
    assert not _stored(store).body["spec"].get("idleSuspend")


def test_probes_at_most_every_five_seconds(tmp_path: Path) -> None:
    store, watch, dashboard, clock, nodes = _setup(tmp_path)
    for _ in range(10):  # ten passes a second apart: two probes of two calls each
        _check(store, watch, nodes)
        clock.advance(1)
    assert dashboard.calls == 4


def test_a_head_not_yet_ready_is_not_probed(tmp_path: Path) -> None:
    store, watch, dashboard, _, nodes = _setup(tmp_path)
    nodes[0].info.pop("was_ready")
    _check(store, watch, nodes)
    assert dashboard.calls == 0
    assert watch.describe(_stored(store)) == "waiting for the head to be ready"
