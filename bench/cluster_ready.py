"""Time to Ready for 1 head + N workers through rayplane, against bare `ray start`.

The floor is measured in the same run on the same machine: a head started by hand, then
N workers in parallel once its GCS answers (what KubeRay's wait-gcs-ready does), each
with the same loopback flags rayplane uses; "ready" is every node's agent /api/healthz
answering 200 for both. The ratio is rayplane / floor (goal: <= 1.15).

Run: python bench/cluster_ready.py [N ...]   (default 1 2 4)
"""

from __future__ import annotations

import sys
import time

from _common import BareRay, cluster_doc, controller, healthy, wait

OBJECT_STORE = str(80 * 2**20)


def floor(workers: int) -> float:
    """Seconds from the first `ray start` to every node healthy, by hand."""
    common = [
        "--block",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        f"--object-store-memory={OBJECT_STORE}",
    ]
    bare = BareRay()
    start = time.monotonic()
    head = bare.start(common)
    wait(lambda: healthy(head.dashboard_agent_listen), 120)
    worker_ports = [bare.start(common, head_gcs=head.gcs) for _ in range(workers)]
    wait(lambda: all(healthy(p.dashboard_agent_listen) for p in worker_ports), 180)
    elapsed = time.monotonic() - start
    bare.stop_all()
    return elapsed


def through_rayplane(client: object, workers: int) -> float:
    from rayplane.local.client import ControllerClient

    assert isinstance(client, ControllerClient)
    name = f"bench-{workers}"
    start = time.monotonic()
    client.apply(cluster_doc(name, workers))
    wait(
        lambda: (
            ((client.get("RayCluster", "default", name) or {}).get("status") or {}).get("state")
            == "ready"
        ),
        300,
    )
    elapsed = time.monotonic() - start
    client.delete("RayCluster", "default", name)
    wait(lambda: client.get("RayCluster", "default", name) is None, 120)
    return elapsed


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1, 2, 4]
    print(f"{'workers':>7}  {'floor s':>8}  {'rayplane s':>10}  {'ratio':>6}")
    with controller() as client:
        for n in sizes:
            base = floor(n)
            ours = through_rayplane(client, n)
            print(f"{n:>7}  {base:8.1f}  {ours:10.1f}  {ours / base:6.2f}", flush=True)


if __name__ == "__main__":
    main()
