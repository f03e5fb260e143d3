"""Token auth on a real local cluster: the Jobs API refuses a caller without the token,
and rayplane's own CLI and SDK keep working unchanged.

One head-only cluster with no ``authOptions`` at all: the local default is token auth, so
this is what every user gets. The caller "without the token" stands for any other local
user or process, who can reach 127.0.0.1 but cannot read the owner's home.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rayplane.sdk.jobs import Jobs
from rayplane.sdk.local_backend import LocalBackend
from rayplane.settings import load_local
from tests.e2e.conftest import Local, head_only_cluster

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

NAME = "authed"
CLUSTER = head_only_cluster(NAME)
SUBMIT = {"entrypoint": "echo pwned > /tmp/rayplane-auth-test-pwned"}


@pytest.fixture(scope="module")
def cluster(local: Local) -> Iterator[dict[str, Any]]:
    local.run("apply", "-f", "-", "--timeout", "300", input=CLUSTER)
    yield local.get(NAME)
    local.run("delete", "raycluster", NAME, timeout=180)


def dashboard(cluster: dict[str, Any]) -> str:
    return f"http://127.0.0.1:{cluster['status']['endpoints']['dashboard']}"


def token(local: Local) -> str:
    secret = local.get(NAME, "secret")
    return base64.b64decode(secret["data"]["auth_token"]).decode()


def test_the_jobs_api_refuses_a_caller_without_the_token(
    local: Local, cluster: dict[str, Any]
) -> None:
    url = dashboard(cluster) + "/api/jobs/"
    with httpx.Client(timeout=30) as http:
        assert http.get(url).status_code == 401
        assert http.post(url, json=SUBMIT).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert http.get(url, headers=wrong).status_code == 403
        assert http.post(url, json=SUBMIT, headers=wrong).status_code == 403
        # The same call with the cluster's token is answered: the refusal is the token's.
        right = {"x-ray-authorization": f"Bearer {token(local)}"}
        assert http.get(url, headers=right).status_code == 200
    assert not os.path.exists("/tmp/rayplane-auth-test-pwned")


def test_cli_and_sdk_submit_unchanged(local: Local, cluster: dict[str, Any]) -> None:
    done = local.run("job", "submit", "--cluster", NAME, "--", "python", "-c", "print('via cli')")
    assert "via cli" in done.stdout
    backend = LocalBackend(load_local(local.env), start=False)
    try:
        jobs = Jobs(backend, lambda: backend.get("RayCluster", "default", NAME))
        handle = jobs.submit("python -c \"print('via sdk')\"")
        assert handle.wait(timeout=240) == "SUCCEEDED"
        assert "via sdk" in handle.logs()
    finally:
        backend.close()


def test_describe_names_the_secret_and_the_token_is_owner_only(
    local: Local, cluster: dict[str, Any]
) -> None:
    secret = token(local)
    text = local.run("describe", "raycluster", NAME).stdout
    assert f"token: Secret {NAME} key auth_token" in text
    assert secret not in text
    # The token is stored in the home's state file only: owner-only, in an owner-only home.
    for path in [local.home, *local.home.glob("state.db*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    # Every node process has it in its environment (owner-only), none on its command line
    # (world-readable).
    detail = local.detail(NAME)
    assert detail is not None
    (head,) = detail["local"]["nodes"]
    environ = Path(f"/proc/{head['pid']}/environ").read_bytes().split(b"\0")
    assert b"RAY_AUTH_MODE=token" in environ
    assert f"RAY_AUTH_TOKEN={secret}".encode() in environ
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert secret.encode() not in cmdline, json.dumps(cmdline.decode(errors="replace"))
