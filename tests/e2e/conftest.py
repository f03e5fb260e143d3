"""One local control plane for the end-to-end tests, and the seed RayCluster on it.

A Ray head takes 5-9 s to start on the 2-core CI machine, so the module shares one
controller home and one raycluster-basic across tests; each test leaves it as it found it
(the desired shape), which the fixture checks before handing it on.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayplane.local.auth_token import token_of
from rayplane.local.loopback import driver_env
from rayplane.local.store import Store
from rayplane.reconcile.auth import auth_env
from tests.support import ROOT, wait_for


def head_only_cluster(name: str, **spec: Any) -> str:
    """The YAML of a RayCluster with one 1-CPU head and no workers, the smallest that runs
    jobs; *spec* adds top-level spec fields (e.g. ``idleTerminationOptions``)."""
    head = {
        "rayStartParams": {},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "ray-head",
                        "image": "rayproject/ray:2.60.0",
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    }
                ]
            }
        },
    }
    doc = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {**spec, "headGroupSpec": head},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def counter_script(cpus: float) -> str:
    """Driver code: increment the detached actor "counter" (made on first use) and print it.

    The GCS FT tests make it before a head crash and call it after: a count that goes on
    means the actor, and the GCS's memory of it, survived.
    """
    return f"""
@ray.remote(num_cpus={cpus})
class Counter:
    def __init__(self): self.n = 0
    def incr(self): self.n += 1; return self.n
try:
    c = ray.get_actor("counter", namespace="ft")
except ValueError:
    c = Counter.options(name="counter", namespace="ft", lifetime="detached").remote()
print(ray.get(c.incr.remote()))
"""


@dataclass
class Local:
    """A RAYPLANE_HOME with its controller, and the rayplane command bound to it."""

    home: Path
    env: dict[str, str]

    def run(
        self, *args: str, input: str | None = None, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "rayplane", *args],
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            cwd=ROOT,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"rayplane {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def get(
        self, name: str, kind: str = "raycluster", namespace: str = "default"
    ) -> dict[str, Any]:
        return dict(json.loads(self.run("get", kind, name, "-n", namespace, "-o", "json").stdout))

    def detail(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        from rayplane.local.client import ControllerClient
        from rayplane.settings import load_local

        old = os.environ.get("RAYPLANE_HOME")
        os.environ["RAYPLANE_HOME"] = str(self.home)
        try:
            client = ControllerClient(load_local())
            try:
                return client.get("RayCluster", namespace, name)
            finally:
                client.close()
        finally:
            if old is None:
                os.environ.pop("RAYPLANE_HOME", None)
            else:
                os.environ["RAYPLANE_HOME"] = old

    def auth_headers(self, cluster: str, namespace: str = "default") -> dict[str, str]:
        """The header rayplane's clients send to *cluster*'s dashboard (local clusters have
        token auth by default), read from the cluster's Secret as a user would."""
        detail = self.detail(cluster, namespace) or {}
        auth = (detail.get("local") or {}).get("auth") or {}
        if auth.get("mode") != "token":
            return {}
        secret = self.get(str(auth["secret"]), "secret", namespace)
        token = base64.b64decode(secret["data"]["auth_token"]).decode()
        return {"x-ray-authorization": f"Bearer {token}"}

    def controller_pid(self) -> int:
        return int((self.home / "controller.lock").read_text().strip())

    def start_controller(self) -> subprocess.Popen[bytes]:
        log = open(self.home / "controller-test.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "rayplane", "controller", "run"],
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        wait_for(
            lambda: self.run("controller", "status", check=False).returncode == 0,
            30,
            "the controller to answer",
        )
        return proc

    def kill_controller(self) -> None:
        """SIGKILL the controller (no shutdown of its own) and wait until it stops answering."""
        os.kill(self.controller_pid(), signal.SIGKILL)
        wait_for(
            lambda: self.run("controller", "status", check=False).returncode != 0,
            30,
            "the killed controller to stop answering",
        )


#: The home of the session's controller, for :func:`cluster_auth_env` (set by `local`).
_home: Path | None = None


def cluster_auth_env(address: str) -> dict[str, str]:
    """RAY_AUTH_MODE and RAY_AUTH_TOKEN of the local cluster whose GCS is *address*.

    Token auth is on by default for local clusters, so a raw ``ray.init(address)`` needs
    them, as ``rayplane connect`` provides them; found through the head that owns the port.
    """
    if _home is None or ":" not in address:
        return {}
    port = int(address.rsplit(":", 1)[1])
    store = Store(_home / "state.db")
    try:
        for node in store.nodes():
            if node.kind == "head" and node.ports.get("gcs") == port:
                token = token_of(store, store.get_by_uid(node.cluster_uid))
                return auth_env(token) if token else {}
    finally:
        store.close()
    return {}


def driver(address: str, code: str, timeout: float = 180) -> str:
    """Run *code* in a fresh Python that has called ray.init(address); return stdout."""
    script = f"import ray, json\nray.init(address={address!r}, logging_level='ERROR')\n" + code
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={**driver_env(), **cluster_auth_env(address)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"driver failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return proc.stdout


def controller_env(home: Path, temp_root: str, **extra: str) -> dict[str, str]:
    """A test controller's environment: its own home and temp root, quick stops, small
    object stores, no inherited RAY_ADDRESS; *extra* adds or overrides settings."""
    env = dict(
        os.environ,
        RAYPLANE_HOME=str(home),
        RAYPLANE_DRAIN_TIMEOUT="1",
        RAYPLANE_STOP_GRACE="15",
        RAYPLANE_OBJECT_STORE_BYTES=str(80 * 2**20),
        RAYPLANE_TEMP_ROOT=temp_root,
        **extra,
    )
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture(scope="session")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    home = tmp_path_factory.mktemp("rayplane-home")
    env = controller_env(
        home,
        f"/tmp/rp-{os.getpid()}",
        # rocksdb GCS FT; RayCronJob (alpha) for test_local_raycronjob
        RAYPLANE_FEATURE_GATES="GCSFaultToleranceEmbeddedStorage=true,RayCronJob=true",
    )
    env.pop("RAYPLANE_LOCAL_AUTOSCALER", None)  # the default: on, as users get it
    session = Local(home, env)
    global _home
    _home = home
    proc = session.start_controller()
    yield session
    # Delete whatever is left, then stop the controller we started, by PID.
    for kind in ("raycronjob", "rayservice", "rayjob", "raycluster"):
        listed = json.loads(session.run("get", kind, "-A", "-o", "json").stdout or "{}")
        items = listed.get("items", [listed] if listed.get("metadata") else [])
        for item in items:
            session.run(
                "delete",
                kind,
                item["metadata"]["name"],
                "-n",
                item["metadata"]["namespace"],
                check=False,
                timeout=180,
            )
    session.run("controller", "stop", check=False)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
