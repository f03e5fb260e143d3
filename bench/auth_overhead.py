"""What token auth costs: the same calls on two head-only local clusters, one with the
local default (token auth) and one with ``authOptions: {mode: disabled}``, in one run.

- api: ``GET /api/jobs/`` through rayplane's JobsClient (the header on, or off), the
  median of many calls: the dashboard's token check is the only difference.
- job: a trivial entrypoint from ``cluster.jobs.submit`` to SUCCEEDED through the SDK,
  which reads the token from the cluster's Secret first.

Prints each median and the ratio token / disabled. Goal: no visible cost (ratio ~1).

Run: python bench/auth_overhead.py [job repeats] [api calls]   (default 3, 50)
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from _common import cluster_doc, controller

from rayplane.clients.jobs_api import JobsClient

ENTRYPOINT = "python -c 'print(42)'"


def doc(name: str, auth: dict[str, str] | None) -> dict[str, Any]:
    out = cluster_doc(name, workers=0)
    if auth is not None:
        out["spec"]["authOptions"] = auth
    return out


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with controller():
        import rayplane
        from rayplane.sdk.auth import cluster_token

        clusters = {
            "token": rayplane.Cluster.from_dict(doc("authtok", None)),
            "disabled": rayplane.Cluster.from_dict(doc("authoff", {"mode": "disabled"})),
        }
        rows: dict[str, list[float]] = {}
        for cluster in clusters.values():
            cluster.apply(progress=False)
        for _ in range(repeats):
            for mode, cluster in clusters.items():
                backend = cluster.backend  # the token as the SDK reads it
                token = cluster_token(backend, backend.get("RayCluster", "default", cluster.name))
                assert (token is not None) == (mode == "token"), mode
                assert cluster.dashboard_url
                with JobsClient(cluster.dashboard_url, token=token) as client:
                    client.list()  # warm the connection
                    for _ in range(calls):
                        start = time.monotonic()
                        client.list()
                        rows.setdefault(f"api {mode}", []).append(time.monotonic() - start)
                start = time.monotonic()
                status = cluster.jobs.submit(ENTRYPOINT).wait(timeout=120)
                assert status == "SUCCEEDED", status
                rows.setdefault(f"job {mode}", []).append(time.monotonic() - start)
        for cluster in clusters.values():
            cluster.delete()
    medians = {path: statistics.median(values) for path, values in rows.items()}
    print(f"{'path':<14} {'median ms':>10}   ({repeats} jobs, {calls * repeats} API calls each)")
    for path, value in medians.items():
        print(f"{path:<14} {value * 1000:10.1f}")
    for what in ("api", "job"):
        tok, off = medians[f"{what} token"], medians[f"{what} disabled"]
        print(f"{what}: token / disabled = {tok / off:.2f} ({(tok - off) * 1000:+.1f} ms)")


if __name__ == "__main__":
    main()
