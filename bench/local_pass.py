"""The local hot path: one reconcile pass over a stored RayCluster of many nodes.

No Ray process starts: the controller is handed the fake launcher (the runtime port), so
what is measured is the controller's own work per pass, SQLite above all. It prints, for a
cluster of N nodes (default 100; 200 do not fit the loopback port pool, as each node
holds 26 ports placed at random):

* SQL statements per pass once every node is ready (nothing changed): reads and writes,
  and writes per node; a pass should read the cluster's nodes once and write nothing;
* the same for a pass in which one worker crashed (one node replaced);
* pass time of both, as a ratio of the changed pass to the steady one;
* the first pass, which creates and starts every node (it read all nodes once per node).

Measured back to back on a shared 2-core machine (100 nodes, the same fakes; times vary
with load, the counts do not):

    main at 7761cf1       first pass 405 reads (each node read again per node created or
                          started: O(N^2) rows), 1.3-2.3 s; steady 5 reads, 100 writes
                          (writes/nodes = 1.0), 6.4 ms; one node replaced 5-6 reads,
                          102-108 writes, 13-15 ms
    this branch           first pass 5 reads, 0.22-0.27 s; steady 3 reads, 0 writes,
                          1.8 ms; one node replaced 3 reads, 9 writes, 4.3 ms

Run: python bench/local_pass.py [nodes]   (default 100)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import cluster_doc

from rayplane.local.fake_launcher import FakeLauncher
from rayplane.local.raycluster_controller import RayClusterController
from rayplane.local.store import Store
from rayplane.settings import LocalSettings

NS = "default"


class Counter:
    """SQL statements seen through the store's trace hook, by kind."""

    def __init__(self) -> None:
        self.reads = 0
        self.writes = 0

    def __call__(self, sql: str) -> None:
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb == "SELECT":
            self.reads += 1
        elif verb in ("INSERT", "UPDATE", "DELETE"):
            self.writes += 1

    def reset(self) -> None:
        self.reads = self.writes = 0


def one_pass(controller: RayClusterController, store: Store, name: str) -> float:
    stored = store.get("RayCluster", NS, name)
    assert stored is not None
    start = time.perf_counter()
    controller.reconcile(stored)
    return time.perf_counter() - start


def measure(nodes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="rayplane-pass-") as tmp:
        home = Path(tmp) / "home"
        settings = LocalSettings(
            home=home,
            temp_root=Path(tmp) / "t",
            local_autoscaler=False,
            max_starting_nodes=nodes,
        )
        counter = Counter()
        store = Store(home / "state.db", trace=counter)
        launcher = FakeLauncher(ready=True)
        controller = RayClusterController(settings, store, launcher)
        try:
            store.put("RayCluster", NS, "big", cluster_doc("big", nodes - 1))
            counter.reset()
            first_s = one_pass(controller, store, "big")
            first = (counter.reads, counter.writes)
            # Create, start, become ready: on a loaded machine one node starts per pass.
            for _ in range(3 * nodes):
                one_pass(controller, store, "big")
                stored = store.get("RayCluster", NS, "big")
                if stored and (stored.status or {}).get("readyWorkerReplicas") == nodes - 1:
                    break
            assert all(n.pid for n in store.nodes()), "the cluster did not come up"
            one_pass(controller, store, "big")  # the status settles

            steady_times, steady = [], (0, 0)
            for _ in range(5):
                counter.reset()
                steady_times.append(one_pass(controller, store, "big"))
                steady = (counter.reads, counter.writes)

            changed_times, changed = [], (0, 0)
            for _ in range(3):
                worker = next(n for n in store.nodes() if n.kind == "worker" and n.pid)
                assert worker.pid is not None
                launcher.crash(worker.pid)
                counter.reset()
                changed_times.append(one_pass(controller, store, "big"))
                changed = (counter.reads, counter.writes)
                while not all(n.pid for n in store.nodes()):  # the replacement starts
                    one_pass(controller, store, "big")
                one_pass(controller, store, "big")  # and becomes ready
        finally:
            controller.close()
            store.close()

    steady_s = statistics.median(steady_times)
    changed_s = statistics.median(changed_times)
    print(f"nodes: {nodes}")
    print(
        f"first pass (create and start every node): {first[0]} reads, {first[1]} writes; "
        f"{first_s * 1000:.0f} ms"
    )
    print(
        f"steady pass (nothing changed): {steady[0]} reads, {steady[1]} writes; "
        f"writes/nodes = {steady[1] / nodes:.3f}; {steady_s * 1000:.1f} ms"
    )
    print(
        f"pass with one node replaced: {changed[0]} reads, {changed[1]} writes; "
        f"writes/nodes = {changed[1] / nodes:.3f}; {changed_s * 1000:.1f} ms"
    )
    print(f"pass time, changed / steady: {changed_s / steady_s:.2f}")


if __name__ == "__main__":
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
