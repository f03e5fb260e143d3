"""A RayCluster pass through the runtime port: what it starts, stops and writes.

The controller is handed a fake launcher, so a cluster of a dozen nodes comes up, loses a
worker and goes away without a Ray process. The store's trace hook shows what a pass
writes: a pass that finds nothing new writes nothing, and reads the cluster's nodes once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rayplane.local.fake_launcher import FakeLauncher
from rayplane.local.raycluster_controller import RayClusterController
from rayplane.local.store import Store, StoredResource
from rayplane.settings import LocalSettings

NS = "default"
WORKERS = 11


def cluster(workers: int) -> dict[str, Any]:
    container = {"name": "ray", "image": "rayproject/ray:2.60.0"}
    template = {"spec": {"containers": [container]}}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "pass"},
        "spec": {
            "headGroupSpec": {"rayStartParams": {}, "template": template},
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": workers,
                    "minReplicas": 0,
                    "maxReplicas": workers,
                    "rayStartParams": {},
                    "template": template,
                }
            ],
        },
    }


class Statements:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, sql: str) -> None:
        self.seen.append(sql.lstrip())

    def writes(self) -> list[str]:
        return [s for s in self.seen if s.upper().startswith(("INSERT", "UPDATE", "DELETE"))]

    def node_reads(self) -> list[str]:
        return [s for s in self.seen if s.upper().startswith("SELECT * FROM NODES")]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[RayClusterController, Store, FakeLauncher, Statements]]:
    statements = Statements()
    store = Store(tmp_path / "home" / "state.db", trace=statements)
    launcher = FakeLauncher()
    settings = LocalSettings(
        home=tmp_path / "home",
        temp_root=tmp_path / "t",
        local_autoscaler=False,
        max_starting_nodes=WORKERS + 1,
    )
    controller = RayClusterController(settings, store, launcher)
    store.put("RayCluster", NS, "pass", cluster(WORKERS))
    yield controller, store, launcher, statements
    controller.close()
    store.close()


def one_pass(controller: RayClusterController, store: Store) -> StoredResource:
    stored = store.get("RayCluster", NS, "pass")
    assert stored is not None
    controller.reconcile(stored)
    return store.get("RayCluster", NS, "pass") or stored


def up(controller: RayClusterController, store: Store) -> StoredResource:
    """Passes until every node runs and the status says so (one start per pass at worst)."""
    for _ in range(3 * (WORKERS + 1)):
        stored = one_pass(controller, store)
        if (stored.status or {}).get("readyWorkerReplicas") == WORKERS:
            return one_pass(controller, store)  # the status settles
    raise AssertionError(f"not ready: {stored.status}")


def test_a_pass_that_finds_nothing_new_writes_nothing(
    setup: tuple[RayClusterController, Store, FakeLauncher, Statements],
) -> None:
    controller, store, launcher, statements = setup
    up(controller, store)
    assert len(launcher.launches) == WORKERS + 1
    statements.seen.clear()
    one_pass(controller, store)
    assert statements.writes() == []
    assert len(statements.node_reads()) == 1


def test_a_crashed_worker_is_replaced_through_the_port(
    setup: tuple[RayClusterController, Store, FakeLauncher, Statements],
) -> None:
    controller, store, launcher, statements = setup
    stored = up(controller, store)
    worker = next(n for n in store.nodes(stored.uid) if n.kind == "worker")
    assert worker.pid is not None
    launcher.crash(worker.pid)
    statements.seen.clear()
    one_pass(controller, store)
    assert len(statements.node_reads()) == 1
    (crashed,) = [n for n in store.nodes(stored.uid) if n.name == worker.name]
    assert crashed.deleting is not None
    up(controller, store)
    assert len(launcher.launches) == WORKERS + 2


def test_deleting_the_cluster_stops_every_node_through_the_port(
    setup: tuple[RayClusterController, Store, FakeLauncher, Statements],
) -> None:
    controller, store, launcher, _ = setup
    stored = up(controller, store)
    pids = sorted(n.pid for n in store.nodes(stored.uid) if n.pid is not None)
    store.mark_deleting("RayCluster", NS, "pass")
    while store.get_by_uid(stored.uid) is not None:
        current = store.get_by_uid(stored.uid)
        assert current is not None
        controller.reconcile(current)
        controller.teardown.wait_for_stops()
    assert sorted(launcher.stopped) == pids
    assert store.nodes(stored.uid) == []
