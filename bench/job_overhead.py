"""RayJob overhead on a ready cluster: rayplane against a plain JobSubmissionClient.

For a trivial entrypoint on the same ready cluster, measures submit-to-RUNNING and
submit-to-SUCCEEDED as the user sees them: for the baseline, from `submit_job` to the
status Ray reports; for rayplane, from `apply` of a RayJob (clusterSelector) to the
status rayplane reports, in HTTPMode (the controller talks to the dashboard) and in
K8sJobMode (KubeRay's default: a submitter process running `ray job submit`).
Goal: rayplane adds at most 0.5 s.

Run: python bench/job_overhead.py [repeats]   (default 3)
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from _common import cluster_doc, cluster_token, controller, wait

ENTRYPOINT = "python -c 'print(42)'"


def plain(dashboard: str, token: str | None) -> tuple[float, float]:
    from ray.job_submission import JobSubmissionClient

    headers = {"Authorization": f"Bearer {token}"} if token else None  # local token auth
    client = JobSubmissionClient(dashboard, headers=headers)
    start = time.monotonic()
    job = client.submit_job(entrypoint=ENTRYPOINT)
    running = None
    while True:
        status = str(client.get_job_status(job))
        if running is None and status in (
            "JobStatus.RUNNING",
            "RUNNING",
            "JobStatus.SUCCEEDED",
            "SUCCEEDED",
        ):
            running = time.monotonic() - start
        if status in ("JobStatus.SUCCEEDED", "SUCCEEDED"):
            return running or 0.0, time.monotonic() - start
        time.sleep(0.02)


def through_rayplane(client: Any, cluster: str, mode: str, index: int) -> tuple[float, float]:
    name = f"bench-{mode.lower()}-{index}"
    doc = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": ENTRYPOINT,
            "submissionMode": mode,
            "clusterSelector": {"ray.io/cluster": cluster},
        },
    }
    start = time.monotonic()
    client.apply(doc)
    running = None
    while True:
        status = (client.get("RayJob", "default", name) or {}).get("status") or {}
        if running is None and status.get("jobStatus") in ("RUNNING", "SUCCEEDED"):
            running = time.monotonic() - start
        if status.get("jobStatus") == "SUCCEEDED":
            done = time.monotonic() - start
            break
        time.sleep(0.02)
    client.delete("RayJob", "default", name)
    wait(lambda: client.get("RayJob", "default", name) is None, 60)
    return running or 0.0, done


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with controller() as client:
        client.apply(cluster_doc("jobs", workers=0))
        status = wait(
            lambda: (
                ((client.get("RayCluster", "default", "jobs") or {}).get("status") or {})
                if ((client.get("RayCluster", "default", "jobs") or {}).get("status") or {}).get(
                    "state"
                )
                == "ready"
                else None
            ),
            300,
            poll=0.5,
        )
        dashboard = f"http://127.0.0.1:{status['endpoints']['dashboard']}"
        token = cluster_token(client, "jobs")
        rows: dict[str, list[tuple[float, float]]] = {"plain": [], "HTTPMode": [], "K8sJobMode": []}
        for i in range(repeats):
            rows["plain"].append(plain(dashboard, token))
            rows["HTTPMode"].append(through_rayplane(client, "jobs", "HTTPMode", i))
            rows["K8sJobMode"].append(through_rayplane(client, "jobs", "K8sJobMode", i))
    base_run = statistics.median(r for r, _ in rows["plain"])
    base_done = statistics.median(d for _, d in rows["plain"])
    print(
        f"{'path':<11} {'to RUNNING s':>13} {'to SUCCEEDED s':>15} {'+s vs plain':>12} "
        f"{'ratio':>6}   (medians of {repeats})"
    )
    for path, values in rows.items():
        run = statistics.median(r for r, _ in values)
        done = statistics.median(d for _, d in values)
        print(
            f"{path:<11} {run:13.2f} {done:15.2f} {done - base_done:12.2f} {done / base_done:6.2f}"
        )
    _ = base_run


if __name__ == "__main__":
    main()
