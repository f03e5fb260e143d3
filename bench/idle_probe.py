"""What the idle probe costs: controller and head-dashboard CPU with and without it.

One head-only cluster; a window without ``idleTerminationOptions`` (the baseline: the
controller's ordinary passes and health checks), then the same cluster with a timeout
that never runs out, so the probe runs every 5 s for the whole window. Prints both CPU
shares and their ratio, for the controller and for the head's dashboard process (the
probe's other end: two GCS-table reads per probe).

Run: python bench/idle_probe.py [seconds]   (default 60)
"""

from __future__ import annotations

import copy
import sys
import time
from typing import Any

import psutil
from _common import cluster_doc, controller, wait


def dashboard_process(head_pid: int) -> psutil.Process | None:
    for proc in psutil.Process(head_pid).children(recursive=True):
        try:
            if any("dashboard/dashboard.py" in part for part in proc.cmdline()):
                return proc
        except psutil.Error:
            continue
    return None


def cpu_share(procs: list[psutil.Process], seconds: float) -> list[float]:
    before = [p.cpu_times() for p in procs]
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    after = [p.cpu_times() for p in procs]
    return [
        (a.user + a.system - b.user - b.system) / elapsed
        for a, b in zip(after, before, strict=True)
    ]


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with controller() as client:
        doc: dict[str, Any] = cluster_doc("idle-bench", workers=0)
        doc["spec"]["workerGroupSpecs"] = []
        client.apply(doc)

        def state() -> str | None:
            found = client.get("RayCluster", "default", "idle-bench") or {}
            return (found.get("status") or {}).get("state")

        wait(lambda: state() == "ready", 300, poll=0.5)
        time.sleep(5)
        detail = client.get("RayCluster", "default", "idle-bench") or {}
        head_pid = next(n["pid"] for n in detail["local"]["nodes"] if n["kind"] == "head")
        dash = dashboard_process(head_pid)
        assert dash is not None, "no dashboard process under the head"
        ctl = psutil.Process(client.pid)  # type: ignore[attr-defined]

        base_ctl, base_dash = cpu_share([ctl, dash], seconds)

        probed = copy.deepcopy(doc)
        probed["spec"]["idleTerminationOptions"] = {"timeoutSeconds": 10**8}
        client.apply(probed)
        wait(
            lambda: (
                "idle for"
                in str(
                    (client.get("RayCluster", "default", "idle-bench") or {})
                    .get("local", {})
                    .get("idle")
                )
            ),
            60,
            poll=0.5,
        )
        with_ctl, with_dash = cpu_share([ctl, dash], seconds)

        print(f"window                    {seconds:.0f} s each, probe every 5 s")
        print(f"controller CPU  without   {base_ctl * 100:7.2f} % of a core")
        print(f"controller CPU  with      {with_ctl * 100:7.2f} % of a core")
        print(f"controller ratio          {with_ctl / base_ctl:7.2f}")
        print(f"dashboard CPU   without   {base_dash * 100:7.2f} % of a core")
        print(f"dashboard CPU   with      {with_dash * 100:7.2f} % of a core")
        print(f"dashboard ratio           {with_dash / base_dash:7.2f}")


if __name__ == "__main__":
    main()
