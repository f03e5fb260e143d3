"""A RayJob's logs, status and events outlive its cluster, until the RayJob is deleted."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import Local
from tests.e2e.test_local_rayjob import job_yaml
from tests.support import wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]


def test_job_logs_are_kept_after_its_cluster_is_deleted(local: Local) -> None:
    marker = f"kept-{os.getpid()}"
    text = job_yaml(
        "kept-logs",
        f"python -c 'print(\"{marker}\")'",
        "  shutdownAfterJobFinishes: true\n  ttlSecondsAfterFinished: 0\n",
    )
    local.run("apply", "-f", "-", input=text, timeout=300)  # returns when the job is done
    status = local.get("kept-logs", "rayjob")["status"]
    assert status["jobStatus"] == "SUCCEEDED"
    cluster = status["rayClusterName"]
    wait_for(
        lambda: local.run("get", "raycluster", cluster, check=False).returncode == 1,
        120,
        "the job's cluster to be deleted",
    )

    logs = local.run("logs", "rayjob/kept-logs")
    assert marker in logs.stdout
    assert f"RayCluster {cluster}" in logs.stderr
    assert "was deleted at" in logs.stderr

    described = local.run("describe", "rayjob", "kept-logs").stdout
    assert "jobStatus: SUCCEEDED" in described
    assert f"Deleting RayCluster default/{cluster}" in described  # the RayJob's events
    assert "History" in described and str(local.home / "history") in described

    node_log = local.run("logs", f"raycluster/{cluster}", "--tail", "-1")
    assert "was deleted at" in node_log.stderr
    assert "Ray runtime started" in node_log.stdout  # the head's `ray start` output

    local.run("delete", "rayjob", "kept-logs", timeout=240)
    assert not (local.home / "history" / "default" / "kept-logs").exists()
    gone = local.run("logs", f"raycluster/{cluster}", check=False)
    assert gone.returncode == 1 and "not found" in gone.stderr
