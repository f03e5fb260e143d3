"""Idle termination on the local runtime with real Ray (issue 15, item 4).

One head-only cluster runs a job that sleeps three times its
``idleTerminationOptions.timeoutSeconds`` (20 s, applied once the job runs): while the job
runs, the cluster is busy and stays up; once it ends, the cluster counts down and suspends
itself: its processes are gone, its status says suspended and why, and `describe` shows
each stage. Setting ``idleSuspend: false`` brings it back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.e2e.conftest import Local, head_only_cluster
from tests.support import ROOT, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

TIMEOUT_S = 20
JOB_S = 3 * TIMEOUT_S

CLUSTER = head_only_cluster("idle-e2e", idleTerminationOptions={"timeoutSeconds": TIMEOUT_S})


LONG = head_only_cluster("idle-e2e", idleTerminationOptions={"timeoutSeconds": 600})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _describe(local: Local) -> str:
    return local.run("describe", "raycluster", "idle-e2e").stdout


def _describe_showing(local: Local, words: str) -> str | None:
    text = _describe(local)
    return text if words in text else None


def _suspended(local: Local) -> dict[str, Any] | None:
    doc = local.get("idle-e2e")
    return doc if (doc.get("status") or {}).get("state") == "suspended" else None


def _resuming(local: Local) -> bool:
    detail = local.detail("idle-e2e") or {}
    conditions = {c["type"]: c for c in (detail.get("status") or {}).get("conditions") or []}
    suspended = conditions.get("RayClusterSuspended", {}).get("status")
    heads = [n for n in (detail.get("local") or {}).get("nodes") or [] if n["kind"] == "head"]
    return suspended == "False" and bool(heads)


def test_busy_cluster_stays_then_suspends_itself_once_idle(local: Local) -> None:
    # Created with a long timeout, so that a slow `job submit` on a loaded machine does not
    # find the cluster already suspended; the short one is applied once the job runs.
    local.run("apply", "-f", "-", "--timeout", "300", input=LONG)
    detail = local.detail("idle-e2e")
    assert detail is not None
    pids = [n["pid"] for n in detail["local"]["nodes"] if n.get("pid")]
    assert pids and all(_alive(p) for p in pids)

    # A job that never calls ray.init has no Ray driver; it still counts as use. `job
    # submit` streams its logs and exits when the job ends, with 0 for SUCCEEDED.
    submit = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rayplane",
            "job",
            "submit",
            "--cluster",
            "idle-e2e",
            "--",
            "python",
            "-c",
            f"import time; time.sleep({JOB_S}); print('slept')",
        ],
        env=local.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(
            lambda: _describe_showing(local, "busy: 1 job running"),
            120,
            "describe to show the running job as activity",
        )
        local.run("apply", "-f", "-", "--no-wait", input=CLUSTER)
        # Outlast the timeout while the job runs: the cluster must not be suspended.
        started = time.monotonic()
        while submit.poll() is None:
            spec = local.get("idle-e2e")["spec"]
            assert not spec.get("idleSuspend"), "suspended while a job was running"
            assert all(_alive(p) for p in pids), "a node stopped while a job was running"
            assert time.monotonic() - started < JOB_S + 120, "the job never finished"
            time.sleep(1)
    finally:
        if submit.poll() is None:
            submit.kill()
        output = submit.communicate()[0]
    assert submit.returncode == 0, output
    assert "slept" in output
    assert time.monotonic() - started > TIMEOUT_S  # the job did outlast the timeout

    # Now idle: describe counts down, then the cluster suspends itself.
    text = wait_for(
        lambda: _describe_showing(local, "suspends in"), 60, "describe to show the countdown"
    )
    assert "idle for" in text
    doc = wait_for(lambda: _suspended(local), TIMEOUT_S + 120, "the cluster to suspend itself")
    assert doc["spec"]["idleSuspend"] is True
    conditions = {c["type"]: c for c in doc["status"]["conditions"]}
    suspended = conditions["RayClusterSuspended"]
    assert suspended["status"] == "True"
    assert "no driver or job ran for" in suspended["message"]
    wait_for(lambda: not any(_alive(p) for p in pids), 60, "the node processes to exit")
    text = _describe(local)
    assert "IdleSuspended" in text
    assert "suspended: no driver or job ran for" in text

    # Resuming is an edit: idleSuspend false brings a head back. (Waiting for it to be
    # ready is the cluster tests' job; here it is enough that the cluster is resuming.)
    resumed = head_only_cluster(
        "idle-e2e", idleSuspend=False, idleTerminationOptions={"timeoutSeconds": 600}
    )
    local.run("apply", "-f", "-", "--no-wait", input=resumed)
    wait_for(lambda: _resuming(local), 120, "the resumed cluster to start a head")
    local.run("delete", "raycluster", "idle-e2e", timeout=180)
