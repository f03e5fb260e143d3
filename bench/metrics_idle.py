"""What metrics cost at idle: the same cluster with and without Prometheus scraping it.

One head-only cluster on a fresh controller. First an idle window with nothing scraping
(the baseline: controller + the cluster's Ray processes), then `rayplane metrics up` at the
default 10 s scrape interval and the same window again, now with Prometheus counted too.
Prints each part's CPU as % of one core, the extra CPU metrics cost, and the ratio of the
two totals. Every process is measured by its own CPU time (psutil), not by wall clock.

Run: python bench/metrics_idle.py [seconds per window]   (default 60)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
from _common import cluster_doc, controller, wait


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds of these processes and all their descendants, now."""
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
    return total


def window(groups: dict[str, list[int]], seconds: float) -> dict[str, float]:
    """Share of one core each group used over *seconds*."""
    before = {k: cpu_seconds(v) for k, v in groups.items()}
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    return {k: (cpu_seconds(v) - before[k]) / elapsed for k, v in groups.items()}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with controller() as client:
        home = client.settings.home
        env = dict(os.environ, RAYPLANE_HOME=str(home))
        rayplane = [sys.executable, "-m", "rayplane"]
        doc = cluster_doc("idle-metrics", workers=0)
        client.apply(doc)
        wait(
            lambda: (
                (
                    (client.get("RayCluster", "default", "idle-metrics") or {}).get("status") or {}
                ).get("state")
                == "ready"
            ),
            300,
            poll=0.5,
        )
        time.sleep(10)  # start-up polling calms down
        nodes = [
            n["pid"]
            for n in (client.get("RayCluster", "default", "idle-metrics") or {})["local"]["nodes"]
        ]
        ctl = [client.pid]  # type: ignore[attr-defined]
        base = window({"controller": ctl, "ray": nodes}, seconds)

        subprocess.run([*rayplane, "metrics", "up", "--port", "0"], env=env, check=True)
        try:
            prom = json.loads((home / "prometheus" / "process.json").read_text())["pid"]
            time.sleep(20)  # Prometheus' own start-up (WAL, first scrapes) is not idle
            status = subprocess.run(
                [*rayplane, "metrics", "status"], env=env, capture_output=True, text=True
            ).stdout
            scraped = window({"controller": ctl, "ray": nodes, "prometheus": [prom]}, seconds)
        finally:
            subprocess.run([*rayplane, "metrics", "down"], env=env, check=False)

    total_base = base["controller"] + base["ray"]
    total_scraped = sum(scraped.values())
    extra = total_scraped - total_base
    print(status.strip())
    print(f"idle window              {seconds:.0f} s each, scrape interval 10 s")
    print("                         without metrics   with metrics   (% of one core)")
    for label, key in (
        ("controller", "controller"),
        ("Ray processes (head)", "ray"),
        ("prometheus", "prometheus"),
    ):
        print(f"{label:24} {base.get(key, 0.0) * 100:15.2f} {scraped[key] * 100:14.2f}")
    print(f"{'total':24} {total_base * 100:15.2f} {total_scraped * 100:14.2f}")
    ours = scraped["controller"] - base["controller"] + scraped["prometheus"]
    print(f"extra CPU of metrics     {extra * 100:8.2f} % of one core")
    print(f"  controller + prometheus {ours * 100:7.2f} % of one core")
    print(f"ratio with/without       {total_scraped / total_base:8.3f}")


if __name__ == "__main__":
    main()
