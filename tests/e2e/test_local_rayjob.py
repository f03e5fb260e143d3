"""RayJob on the local runtime, end to end: KubeRay's lifecycle with real Ray jobs."""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from tests.e2e.conftest import Local
from tests.support import ROOT, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

HEAD_ONLY = """
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers:
          - name: ray-head
            image: rayproject/ray:2.60.0
            resources: {limits: {cpu: "1", memory: 1Gi}}
"""


def job_yaml(name: str, entrypoint: str, extra: str = "", cluster: str | None = None) -> str:
    source = (
        f"  clusterSelector:\n    ray.io/cluster: {cluster}\n"
        if cluster
        else "  rayClusterSpec:\n" + HEAD_ONLY
    )
    return (
        f"apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {{name: {name}}}\nspec:\n"
        f"  entrypoint: {json.dumps(entrypoint)}\n{extra}{source}"
    )


def phases(local: Local, name: str, seen: list[str], timeout: float) -> dict[str, object]:
    """Poll the RayJob, recording every jobDeploymentStatus it passes through."""
    deadline = time.monotonic() + timeout
    while True:
        doc = local.get(name, "rayjob")
        status = doc.get("status") or {}
        phase = status.get("jobDeploymentStatus") or "New"
        if not seen or seen[-1] != phase:
            seen.append(phase)
        if phase in ("Complete", "Failed"):
            return status
        assert time.monotonic() < deadline, f"{name} stuck in {phase}: {status}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def shared(local: Local) -> str:
    """A head-only cluster for the jobs that select an existing cluster."""
    doc = (
        "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: jobs-shared}\nspec:\n"
        + HEAD_ONLY.replace("\n    ", "\n  ")
    )
    local.run("apply", "-f", "-", "--timeout", "300", input=doc)
    return "jobs-shared"


def test_data_pipeline_example_completes_and_its_cluster_goes(local: Local) -> None:
    example = ROOT / "examples" / "rayjob-data-pipeline.yaml"
    result = local.run("apply", "-f", str(example), "--no-wait")
    assert "rayjob.ray.io/log-pipeline created" in result.stdout
    seen: list[str] = []
    status = phases(local, "log-pipeline", seen, 600)
    assert seen[:1] in (["New"], ["Initializing"])
    assert [p for p in seen if p in ("Initializing", "Running", "Complete")] == [
        "Initializing",
        "Running",
        "Complete",
    ]
    assert status["jobStatus"] == "SUCCEEDED"
    assert status["succeeded"] == 1
    logs = local.run("logs", "rayjob/log-pipeline").stdout
    assert "processed 16000 log lines" in logs
    cluster = str(status["rayClusterName"])
    ended = time.monotonic()
    wait_for(
        lambda: local.run("get", "raycluster", cluster, check=False).returncode == 1,
        10 + 30,
        "the job's cluster to be deleted after ttlSecondsAfterFinished",
    )
    assert time.monotonic() - ended < 10 + 30
    local.run("delete", "rayjob", "log-pipeline")


def test_failing_job_retries_on_fresh_clusters_then_fails(local: Local) -> None:
    text = job_yaml(
        "always-fails",
        "python -c 'import sys; print(\"trying\"); sys.exit(3)'",
        "  backoffLimit: 2\n  submissionMode: HTTPMode\n  shutdownAfterJobFinishes: true\n",
    )
    local.run("apply", "-f", "-", "--no-wait", input=text)
    clusters: set[str] = set()
    job_ids: set[str] = set()
    deadline = time.monotonic() + 600
    while True:
        status = local.get("always-fails", "rayjob").get("status") or {}
        if status.get("rayClusterName"):
            clusters.add(str(status["rayClusterName"]))
        if status.get("jobId"):
            job_ids.add(str(status["jobId"]))
        if status.get("jobDeploymentStatus") == "Failed":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
    assert status["reason"] == "AppFailed"
    assert status["failed"] == 3
    assert len(clusters) == 3 and len(job_ids) == 3
    # Each attempt's logs are kept after its cluster went, the retried ones included.
    wait_for(
        lambda: all(
            local.run("get", "raycluster", c, check=False).returncode == 1 for c in clusters
        ),
        120,
        "the job's clusters to be deleted",
    )
    kept: set[str] = set()
    for attempt in ("1", "2", "3"):
        logs = local.run("logs", "rayjob/always-fails", "--attempt", attempt)
        assert "trying" in logs.stdout
        kept.update(c for c in clusters if f"RayCluster {c} (attempt {attempt} " in logs.stderr)
    assert kept == clusters
    local.run("delete", "rayjob", "always-fails", timeout=240)


def test_active_deadline_fails_the_job_and_stops_it(local: Local, shared: str) -> None:
    text = job_yaml(
        "too-slow",
        "python -c 'import time; time.sleep(600)'",
        "  activeDeadlineSeconds: 20\n  submissionMode: HTTPMode\n",
        cluster=shared,
    )
    local.run("apply", "-f", "-", "--no-wait", input=text)
    status = phases(local, "too-slow", [], 240)
    assert status["jobDeploymentStatus"] == "Failed"
    assert status["reason"] == "DeadlineExceeded"
    url = f"http://{status['dashboardURL']}/api/jobs/{status['jobId']}"
    headers = local.auth_headers(shared)
    wait_for(
        lambda: httpx.get(url, headers=headers).json()["status"] == "STOPPED",
        60,
        "the Ray job to stop",
    )
    local.run("delete", "rayjob", "too-slow")


def test_selected_cluster_outlives_its_job(local: Local, shared: str) -> None:
    text = job_yaml(
        "on-shared",
        "python -c 'print(40 + 2)'",
        "  shutdownAfterJobFinishes: false\n",
        cluster=shared,
    )
    result = local.run("apply", "-f", "-", input=text, timeout=300)
    assert "42" in result.stdout
    local.run("delete", "rayjob", "on-shared")
    time.sleep(3)
    assert local.get(shared)["status"]["state"] == "ready"


def test_restarted_controller_never_submits_twice(local: Local, shared: str) -> None:
    marker = f"once-{os.getpid()}"
    text = job_yaml(
        "slow-once",
        f"python -c 'import time; time.sleep(15); print(\"{marker}\")'",
        "",
        cluster=shared,
    )
    local.run("apply", "-f", "-", "--no-wait", input=text)
    status = wait_for(
        lambda: (lambda s: s if s.get("jobDeploymentStatus") == "Running" else None)(
            local.get("slow-once", "rayjob").get("status") or {}
        ),
        240,
        "the job to run",
    )
    local.kill_controller()
    local.start_controller()
    final = phases(local, "slow-once", [], 240)
    assert final["jobStatus"] == "SUCCEEDED"
    url = f"http://{status['dashboardURL']}/api/jobs/"
    jobs = httpx.get(url, headers=local.auth_headers(shared)).json()
    ours = [j for j in jobs if marker in (j.get("entrypoint") or "")]
    assert len(ours) == 1, ours
    local.run("delete", "rayjob", "slow-once")
