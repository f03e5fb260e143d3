"""Drivers and jobs against a real local cluster: what a notebook or a terminal user does
once `apply` says the cluster is ready.

One head-only cluster serves the module. Every driver runs in a child process, so that
the child imports ray the way a user's Python does (the pytest process never does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rayplane.local.loopback import CLUSTER_SWITCH_ENV
from rayplane.sdk.backend import Obj
from rayplane.sdk.connect import hint_lines
from rayplane.sdk.jobs import Jobs
from rayplane.sdk.local_backend import LocalBackend
from rayplane.settings import load_local
from tests.e2e.conftest import Local, head_only_cluster
from tests.support import wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

NAME = "drivers"
CLUSTER = head_only_cluster(NAME)
TASK = "import ray\nprint('answer', ray.get(ray.remote(lambda: 6 * 7).remote()))\n"


@pytest.fixture(scope="module")
def backend(local: Local) -> Iterator[LocalBackend]:
    local.run("apply", "-f", "-", "--timeout", "300", input=CLUSTER)
    backend = LocalBackend(load_local(local.env), start=False)
    yield backend
    backend.close()
    local.run("delete", "raycluster", NAME, timeout=180)


@pytest.fixture
def ready(backend: LocalBackend) -> Obj:
    obj = backend.get("RayCluster", "default", NAME)
    assert obj is not None and (obj.get("status") or {}).get("state") == "ready", obj
    return obj


def user_env(local: Local) -> dict[str, str]:
    """A user's shell: rayplane's venv on PATH, and no loopback switch of its own."""
    env = {k: v for k, v in local.env.items() if k != CLUSTER_SWITCH_ENV}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(argv: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, input=stdin, capture_output=True, text=True, timeout=240, check=False
    )


def test_connect_runs_a_task_after_ray_was_imported(local: Local, ready: Obj) -> None:
    script = (
        "import ray  # first, before rayplane could set anything\n"
        "from rayplane.sdk.connect import connect\n"
        "from rayplane.sdk.local_backend import LocalBackend\n"
        "backend = LocalBackend(start=False)\n"
        f"cluster = backend.get('RayCluster', 'default', {NAME!r})\n"
        "connect(backend, cluster, logging_level='ERROR')\n" + TASK
    )
    proc = run([sys.executable, "-c", script], user_env(local))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "answer 42" in proc.stdout


def test_the_shell_hint_line_runs_a_task_as_printed(local: Local, ready: Obj) -> None:
    line = next(h for h in hint_lines(ready) if h.startswith("shell:"))
    command = line.removeprefix("shell:").strip()
    assert command == f"rayplane connect {NAME}"
    proc = run(["bash", "-c", command], user_env(local), stdin=TASK)  # pasted, then typed
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "answer 42"  # stdout is the child's only


def test_the_python_hint_line_runs_a_task_as_printed(local: Local, ready: Obj) -> None:
    import rayplane

    if not hasattr(rayplane, "Cluster"):
        pytest.skip("rayplane.Cluster (the SDK's handles, issue 14's sdk part) is not here")
    line = next(h for h in hint_lines(ready) if h.startswith("connect:"))
    pasted = line.removeprefix("connect:").strip()
    proc = run([sys.executable], user_env(local), stdin=pasted + "\n" + TASK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "answer 42" in proc.stdout


def test_job_submit_streams_the_log_and_exits_with_the_outcome(
    local: Local, ready: Obj, tmp_path: Path
) -> None:
    (tmp_path / "main.py").write_text("print('hello from', open('data.txt').read().strip())\n")
    (tmp_path / "data.txt").write_text("the working dir\n")
    ok = local.run(
        "job",
        "submit",
        "--cluster",
        NAME,
        "--working-dir",
        str(tmp_path),
        "--",
        "python",
        "main.py",
    )
    assert "hello from the working dir" in ok.stdout
    assert ok.stderr.strip().splitlines()[-1].endswith("succeeded")
    failed = local.run(
        "job",
        "submit",
        "--cluster",
        NAME,
        "--",
        "python",
        "-c",
        "import sys; print('about to fail'); sys.exit(3)",
        check=False,
    )
    assert failed.returncode == 1, failed.stderr
    assert "about to fail" in failed.stdout
    assert (
        "FAILED: Job entrypoint command failed with exit code 3"
        in (failed.stderr.strip().splitlines()[-1])
    )


def test_jobs_follow_yields_the_printed_line(backend: LocalBackend, ready: Obj) -> None:
    def fetch() -> dict[str, Any] | None:
        return backend.get("RayCluster", "default", NAME)

    handle = Jobs(backend, fetch).submit("python -c \"print('streamed line')\"")
    text = "".join(handle.logs(follow=True))
    assert "streamed line" in text
    assert handle.status == "SUCCEEDED"
    assert handle.wait(timeout=60) == "SUCCEEDED"


def test_job_submit_with_an_interactive_rayjob_the_rayjob_follows_the_job(
    local: Local, ready: Obj, tmp_path: Path
) -> None:
    path = tmp_path / "rayjob.yaml"
    path.write_text(
        "apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: interactive}\n"
        f"spec:\n  submissionMode: InteractiveMode\n  clusterSelector: {{ray.io/cluster: {NAME}}}\n"
    )
    done = local.run("job", "submit", "-f", str(path), "--", "python", "-c", "print('via rayjob')")
    assert "via rayjob" in done.stdout

    def followed() -> dict[str, Any] | None:
        status = local.get("interactive", "rayjob").get("status") or {}
        return status if status.get("jobDeploymentStatus") == "Complete" else None

    status = wait_for(followed, 60, "the RayJob to follow its job to Complete")
    assert status["jobStatus"] == "SUCCEEDED"
    assert status["rayClusterName"] == NAME
    local.run("delete", "rayjob", "interactive")
