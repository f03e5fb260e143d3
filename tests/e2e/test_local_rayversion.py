"""rayVersion honoured on the local runtime with real Ray (issue 15, item 6).

With RAYPLANE_RAY_VERSIONS=install, a head-only RayCluster pinned to an older Ray release
builds that release's virtualenv from the package index (cold, in this test's own home)
and runs on it: the dashboard reports that version, and a job's ``python`` is the env's
(its driver imports the older Ray). Opted out (the default), the same YAML runs the
installed Ray and `describe` keeps the note with the way to opt in.

The build downloads ray[default] from the package index: this test needs the network.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from rayplane.local.ray_envs import installed_ray
from tests.e2e.conftest import Local, controller_env

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

#: The nearest older Ray release with a CPython 3.11 wheel (checked with `pip index`).
OLDER = "2.59.0"
NAME = "pinned-head"


def cluster(name: str) -> dict[str, object]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "rayVersion": OLDER,
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-head",
                                "image": f"rayproject/ray:{OLDER}",
                                "resources": {"limits": {"cpu": 1, "memory": "2Gi"}},
                            }
                        ]
                    }
                },
            },
        },
    }


@pytest.fixture(scope="module")
def installing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """A controller of its own, opted in, with a fresh home (so the build is cold)."""
    home = tmp_path_factory.mktemp("rayplane-rayenv-home")
    env = controller_env(
        home,
        f"/tmp/rpv-{os.getpid()}",
        RAYPLANE_RAY_VERSIONS="install",
        RAYPLANE_LOCAL_AUTOSCALER="0",
    )
    session = Local(home, env)
    proc = session.start_controller()
    yield session
    session.run("delete", "raycluster", NAME, check=False, timeout=180)
    session.run("controller", "stop", check=False)
    proc.wait(timeout=60)


def _dashboard(local: Local, name: str) -> str:
    status = local.get(name)["status"]
    return f"http://127.0.0.1:{status['endpoints']['dashboard']}"


def _job_output(base: str, entrypoint: str, headers: dict[str, str]) -> str:
    """Submit through the head's Jobs API, wait for the end, return the logs."""
    with httpx.Client(base_url=base, timeout=30, headers=headers) as http:
        job = http.post("/api/jobs/", json={"entrypoint": entrypoint})
        job.raise_for_status()
        job_id = job.json()["submission_id"]
        deadline = time.monotonic() + 240  # safety net, not a timing assertion
        status = ""
        while time.monotonic() < deadline:
            status = http.get(f"/api/jobs/{job_id}").json()["status"]
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            time.sleep(1)
        logs = str(http.get(f"/api/jobs/{job_id}/logs").json()["logs"])
        assert status == "SUCCEEDED", f"job ended {status}:\n{logs}"
        return logs


def test_opted_in_cluster_runs_the_ray_it_pins(installing: Local) -> None:
    assert installed_ray() != OLDER, "pick an OLDER that is not the installed Ray"
    started = time.monotonic()
    result = installing.run(
        "apply", "-f", "-", "--timeout", "600", input=yaml.safe_dump(cluster(NAME)), timeout=700
    )
    cold = time.monotonic() - started
    said = result.stdout + result.stderr
    assert "is ready" in said, said
    print(f"cold build + head start: {cold:.0f} s")

    base = _dashboard(installing, NAME)
    headers = installing.auth_headers(NAME)  # token auth, on by default locally
    version = httpx.get(f"{base}/api/version", timeout=10, headers=headers).json()
    assert version["ray_version"] == OLDER

    # A job's `python` is the env's: its driver connects with, and prints, the older Ray.
    logs = _job_output(
        base, "python -c 'import ray; ray.init(); print(\"RAY\", ray.__version__)'", headers
    )
    assert f"RAY {OLDER}" in logs, logs

    env = installing.home / "ray-envs" / OLDER
    assert (env / ".rayplane-ready").is_file()
    assert not list((installing.home / "ray-envs").glob(".build-*")), "a temp build was left"
    listed = installing.run("ray-envs", "list").stdout
    assert OLDER in listed, listed

    described = installing.run("describe", "raycluster", NAME).stdout
    assert f"run Ray {OLDER} from a virtualenv" in " ".join(described.split()), described
    installing.run("delete", "raycluster", NAME, timeout=180)  # room for the next head


def test_opted_in_rayjob_submits_and_drives_with_the_ray_it_pins(installing: Local) -> None:
    """K8sJobMode: the submitter's `ray job submit` and the driver are the env's (cached by
    the test above, so this one starts warm)."""
    spec = cluster("unused")["spec"]
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "pinned-job", "namespace": "default"},
        "spec": {
            "entrypoint": "python -c 'import ray; ray.init(); print(\"RAY\", ray.__version__)'",
            "shutdownAfterJobFinishes": True,
            "rayClusterSpec": spec,
        },
    }
    try:
        result = installing.run(
            "apply", "-f", "-", "--timeout", "600", input=yaml.safe_dump(job), timeout=700
        )
        said = result.stdout + result.stderr
        status = installing.get("pinned-job", "rayjob")["status"]
        assert status["jobStatus"] == "SUCCEEDED", said
        logs = installing.run("logs", "rayjob/pinned-job").stdout
        assert f"RAY {OLDER}" in logs, logs
        submitter = installing.home / "logs" / "default" / "pinned-job" / "submitter.log"
        assert submitter.is_file(), "the K8sJobMode submitter did not run"
    finally:
        installing.run("delete", "rayjob", "pinned-job", check=False, timeout=180)


def test_opted_out_cluster_runs_the_installed_ray_and_says_so(local: Local) -> None:
    name = "pinned-optout"
    try:
        document = yaml.safe_dump(cluster(name))
        result = local.run("apply", "-f", "-", "--timeout", "300", input=document)
        said = result.stdout + result.stderr
        assert "is ready" in said, said
        assert "RAYPLANE_RAY_VERSIONS=install" in said, said  # the offer, at apply
        base = _dashboard(local, name)
        headers = local.auth_headers(name)
        version = httpx.get(f"{base}/api/version", timeout=10, headers=headers).json()
        assert version["ray_version"] == installed_ray()
        described = local.run("describe", "raycluster", name).stdout
        assert "the local runtime runs the installed one" in " ".join(described.split())
        assert not (Path(local.home) / "ray-envs" / OLDER).exists()
    finally:
        local.run("delete", "raycluster", name, check=False, timeout=180)
