"""What the Python SDK costs over plain Ray on the same ready local cluster.

Two paths a notebook user takes, each beside its plain-Ray baseline in the same run:

- connect: a fresh Python that runs one task, from process start to the task's result.
  Baseline: ``import ray; ray.init(address=GCS)`` with the loopback switch already in the
  environment (what a user who knows the trick does). SDK: ``import rayplane;
  rayplane.Cluster.get(NAME).connect()`` in a plain environment (it finds the address
  through the controller and sets the switch itself).
- jobs: a trivial entrypoint from submit to SUCCEEDED. Baseline: Ray's
  JobSubmissionClient polling every 20 ms; SDK: ``cluster.jobs.submit(...).wait()``.

Prints each path's median and the ratio SDK / plain. Goal: connect within +1 s, jobs
within the SDK's poll interval (0.5 s).

Run: python bench/sdk_overhead.py [repeats]   (default 3)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from _common import cluster_doc, controller

from rayplane.local.loopback import driver_env
from rayplane.reconcile.auth import auth_env
from rayplane.sdk.auth import cluster_token

ENTRYPOINT = "python -c 'print(42)'"
TASK = "@ray.remote\ndef one():\n    return 1\nassert ray.get(one.remote()) == 1\n"


def timed_child(code: str, env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=180)
    return time.monotonic() - start


def plain_job(dashboard: str, token: str | None) -> float:
    from ray.job_submission import JobSubmissionClient

    headers = {"Authorization": f"Bearer {token}"} if token else None
    client = JobSubmissionClient(dashboard, headers=headers)
    start = time.monotonic()
    job = client.submit_job(entrypoint=ENTRYPOINT)
    while str(client.get_job_status(job)).rsplit(".", 1)[-1] != "SUCCEEDED":
        time.sleep(0.02)
    return time.monotonic() - start


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with controller() as _client:
        import rayplane

        cluster = rayplane.Cluster.from_dict(cluster_doc("sdk", workers=0))
        cluster.apply(progress=False)
        gcs, dashboard = cluster.address, cluster.dashboard_url
        assert gcs and dashboard
        # The plain baseline carries the token too: local clusters have token auth.
        token = cluster_token(cluster.backend, cluster.backend.get("RayCluster", "default", "sdk"))
        plain_env = {**driver_env(), **(auth_env(token) if token else {})}
        sdk_env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
        rows: dict[str, list[float]] = {
            "connect plain": [],
            "connect sdk": [],
            "job plain": [],
            "job sdk": [],
        }
        for _ in range(repeats):
            rows["connect plain"].append(
                timed_child(f"import ray\nray.init(address={gcs!r})\n{TASK}", plain_env)
            )
            rows["connect sdk"].append(
                timed_child(
                    "import rayplane\nrayplane.Cluster.get('sdk').connect()\nimport ray\n" + TASK,
                    sdk_env,
                )
            )
            rows["job plain"].append(plain_job(dashboard, token))
            start = time.monotonic()
            status = cluster.jobs.submit(ENTRYPOINT).wait(timeout=120)
            assert status == "SUCCEEDED", status
            rows["job sdk"].append(time.monotonic() - start)
        cluster.delete()
    medians = {path: statistics.median(values) for path, values in rows.items()}
    print(f"{'path':<14} {'median s':>9}   (of {repeats}; same cluster, same run)")
    for path, value in medians.items():
        print(f"{path:<14} {value:9.2f}")
    for what in ("connect", "job"):
        sdk, plain = medians[f"{what} sdk"], medians[f"{what} plain"]
        print(f"{what}: sdk / plain = {sdk / plain:.2f} ({sdk - plain:+.2f} s)")


if __name__ == "__main__":
    main()
