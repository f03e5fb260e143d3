"""The local controller's own cost: RSS and idle CPU with 3 clusters running.

Prints the controller's resident memory and its CPU use over an idle minute as a share
of one core, beside the cost of the Ray nodes it manages (the physical floor a local
cluster pays anyway), so the ratio says how much the control plane adds.

Run: python bench/controller_footprint.py [seconds]   (default 60)
"""

from __future__ import annotations

import sys
import time

import psutil
from _common import cluster_doc, controller, wait


def tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with controller() as client:
        names = [f"idle-{i}" for i in range(3)]
        for name in names:
            client.apply(cluster_doc(name, workers=1))
        wait(
            lambda: all(
                ((client.get("RayCluster", "default", n) or {}).get("status") or {}).get("state")
                == "ready"
                for n in names
            ),
            300,
            poll=0.5,
        )
        time.sleep(5)  # let start-up polling calm down
        ctl = psutil.Process(client.pid)  # type: ignore[attr-defined]
        before = ctl.cpu_times()
        start = time.monotonic()
        time.sleep(seconds)
        after = ctl.cpu_times()
        elapsed = time.monotonic() - start
        cpu = (after.user + after.system - before.user - before.system) / elapsed
        rss = ctl.memory_info().rss
        node_pids = [
            n["pid"]
            for name in names
            for n in (client.get("RayCluster", "default", name) or {})["local"]["nodes"]
        ]
        nodes_rss = sum(tree_rss(pid) for pid in node_pids)
        print(f"controller RSS          {rss / 2**20:8.1f} MiB")
        print(f"Ray nodes RSS (6 nodes) {nodes_rss / 2**20:8.1f} MiB")
        print(f"controller / nodes RSS  {rss / nodes_rss:8.3f}")
        print(f"controller idle CPU     {cpu * 100:8.2f} % of one core over {elapsed:.0f}s")


if __name__ == "__main__":
    main()
