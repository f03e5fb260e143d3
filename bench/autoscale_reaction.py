"""Demand to a new worker in Ray, through rayplane's autoscaler, against a bare `ray start`.

rayplane: a RayCluster whose head offers no CPU and whose one group (min 0) is autoscaled;
a driver submits a 1-CPU task that holds its CPU, and the clock runs from the submit until
a new node is ALIVE in the GCS node table. In between: the GCS learns the demand from the
raylet, Ray's v2 autoscaler sees it (rayplane polls the demand every 0.2 s), writes
``replicas`` into the store and wakes the controller, whose reconciler starts a
`ray start` process that registers. Each trial adds one worker (earlier tasks keep
theirs), so every trial is one scale-up by one node.

Floor, in the same run on the same machine: a bare head started by hand, and bare workers
joined one at a time (`ray start --address ...` with the loopback flags rayplane uses),
each timed from the spawn until it is ALIVE in the GCS node table.

Trials alternate (floor, rayplane, floor, ...) so both see the same machine load; the
2-core CI box is often shared. Goal: rayplane within the floor + 2 s. Prints each pair,
the medians, their ratio and the overhead, and for rayplane the split: demand -> spec
written, spec -> node registered.

Run: python bench/autoscale_reaction.py [TRIALS]   (default 3)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Ray must see the loopback switch before it is imported (rayplane.local.loopback).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.pop("RAY_ADDRESS", None)

from _common import BareRay, cluster_token, controller, healthy, wait

from rayplane.local.client import ControllerClient
from rayplane.sdk.connect import use_token

OBJECT_STORE = str(80 * 2**20)
COMMON = ["--block", "--node-ip-address=127.0.0.1", f"--object-store-memory={OBJECT_STORE}"]
NAME = "bench-autoscale"


def alive_nodes(gcs: Any) -> set[bytes]:
    from ray.core.generated import gcs_pb2

    infos = gcs.get_all_node_info(timeout=5)
    return {info.node_id for info in infos.values() if info.state == gcs_pb2.GcsNodeInfo.ALIVE}


class Floor:
    """A bare head; each trial joins one bare worker and times it until ALIVE in the GCS."""

    def __init__(self) -> None:
        from ray._raylet import GcsClient

        self.bare = BareRay()
        self.head = self.bare.start(["--num-cpus=0", *COMMON])
        wait(lambda: healthy(self.head.dashboard_agent_listen), 120)
        self.gcs = GcsClient(address=f"127.0.0.1:{self.head.gcs}")

    def trial(self, taken_elsewhere: set[int]) -> float:
        known = alive_nodes(self.gcs)
        start = time.monotonic()
        self.bare.start(["--num-cpus=1", *COMMON], head_gcs=self.head.gcs, exclude=taken_elsewhere)
        wait(lambda: alive_nodes(self.gcs) - known, 120)
        return time.monotonic() - start

    def close(self) -> None:
        self.bare.stop_all()


def cluster_doc(trials: int) -> dict[str, Any]:
    container = {"name": "ray", "image": "rayproject/ray:2.60.0"}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": NAME},
        "spec": {
            "enableInTreeAutoscaling": True,
            # Long idle timeout: no worker goes away during the run.
            "autoscalerOptions": {"idleTimeoutSeconds": 600},
            "headGroupSpec": {
                "rayStartParams": {"num-cpus": "0"},
                "template": {"spec": {"containers": [container]}},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": 0,
                    "minReplicas": 0,
                    "maxReplicas": trials,
                    "rayStartParams": {"num-cpus": "1"},
                    "template": {"spec": {"containers": [container]}},
                }
            ],
        },
    }


class Rayplane:
    """An autoscaled RayCluster; each trial submits one CPU-holding task and times it
    until a new node is ALIVE in the GCS (and when the autoscaler wrote the spec)."""

    def __init__(self, client: ControllerClient, trials: int) -> None:
        import ray
        from ray._raylet import GcsClient

        self.client = client
        client.apply(cluster_doc(trials))

        def ready() -> dict[str, Any] | None:
            detail = client.get("RayCluster", "default", NAME) or {}
            reported = ((detail.get("local") or {}).get("autoscaler") or {}).get("updated")
            state = (detail.get("status") or {}).get("state")
            return detail if state == "ready" and reported else None

        detail = wait(ready, 300, poll=0.5)
        address = f"127.0.0.1:{detail['status']['endpoints']['gcs-server']}"
        use_token(cluster_token(client, NAME))  # local clusters have token auth by default
        self.gcs = GcsClient(address=address)
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        # A task holds its CPU until the flag file exists (a task blocked in ray.get would
        # give its CPU back, and the next task would reuse the worker).
        self.flag = Path(tempfile.mkdtemp(prefix="rp-bench-")) / "release"

        @ray.remote(num_cpus=1)
        def hold(path: str) -> None:
            while not os.path.exists(path):
                time.sleep(0.1)

        self.hold = hold
        self.held: list[Any] = []

    def ports(self) -> set[int]:
        detail = self.client.get("RayCluster", "default", NAME) or {}
        nodes = (detail.get("local") or {}).get("nodes") or []
        return {int(p) for n in nodes for p in (n.get("ports") or {}).values()}

    def replicas(self) -> int:
        # The spec the autoscaler wrote, as the controller's API serves it from the store.
        detail = self.client.get("RayCluster", "default", NAME)
        return int(detail["spec"]["workerGroupSpecs"][0].get("replicas") or 0) if detail else 0

    def trial(self, index: int) -> tuple[float, float]:
        """(demand -> spec written, demand -> node ALIVE), in seconds."""
        known = alive_nodes(self.gcs)
        start = time.monotonic()
        self.held.append(self.hold.remote(str(self.flag)))
        decided = None
        while True:
            if decided is None and self.replicas() > index:
                decided = time.monotonic() - start
            if alive_nodes(self.gcs) - known:
                break
            if time.monotonic() - start > 180:
                raise TimeoutError("no worker registered within 180 s")
            time.sleep(0.05)
        joined = time.monotonic() - start
        return (decided if decided is not None else joined, joined)

    def close(self) -> None:
        import ray

        self.flag.touch()
        ray.get(self.held)
        ray.shutdown()
        self.client.delete("RayCluster", "default", NAME)
        wait(lambda: self.client.get("RayCluster", "default", NAME) is None, 180, poll=0.5)


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    base: list[float] = []
    ours: list[tuple[float, float]] = []
    with controller() as client:
        ours_cluster = Rayplane(client, trials)
        bare = Floor()
        try:
            for index in range(trials):
                base.append(bare.trial(ours_cluster.ports()))
                ours.append(ours_cluster.trial(index))
        finally:
            bare.close()
            ours_cluster.close()
    base_median = statistics.median(base)
    paired = statistics.median(j - b for b, (_, j) in zip(base, ours, strict=True))
    joined = statistics.median(j for _, j in ours)
    decided = statistics.median(d for d, _ in ours)
    print(f"{'trial':>5}  {'floor s':>8}  {'rayplane s':>10}  {'spec written s':>14}")
    for i, (b, (d, j)) in enumerate(zip(base, ours, strict=True), 1):
        print(f"{i:>5}  {b:8.2f}  {j:10.2f}  {d:14.2f}")
    print(
        f"median: floor {base_median:.2f} s, rayplane {joined:.2f} s "
        f"(demand -> spec {decided:.2f} s, spec -> registered {joined - decided:.2f} s); "
        f"ratio {joined / base_median:.2f}; overhead {joined - base_median:+.2f} s, "
        f"median paired overhead {paired:+.2f} s (goal: <= +2 s)"
    )


if __name__ == "__main__":
    main()
