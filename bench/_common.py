"""Helpers shared by the benchmarks: a throwaway RAYPLANE_HOME with its controller, and
bare `ray start` nodes (the floor) started through the runtime port.

The benches reach rayplane through its entry points: the controller's client, the
runtime port (:class:`rayplane.local.node_launcher.ProcessLauncher`), and, for the floor,
the loopback flags every local node gets; this file is the only one that imports them.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from rayplane.local.client import ControllerClient
from rayplane.local.loopback import ray_start_argv
from rayplane.local.mounts import View, prepare
from rayplane.local.node_launcher import NodeProcess, ProcessLauncher
from rayplane.local.ports import NodePorts, allocate_node_ports
from rayplane.local.sandbox import command
from rayplane.reconcile.volumes import PodInfo, plan_volumes
from rayplane.settings import load_local


def view_command(argv: list[str], view: View) -> list[str]:
    """The bwrap command line a node with *view* runs under."""
    return command(argv, view)


def volume_view(home: Path, node: str) -> View:
    """The view of a head with KubeRay's sample mounts: a ConfigMap at /home/ray/samples,
    a Secret, a PVC folder and an emptyDir, made under *home* as the runtime makes them."""
    spec = {
        "containers": [
            {
                "name": "ray-head",
                "volumeMounts": [
                    {"name": "code", "mountPath": "/home/ray/samples"},
                    {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
                    {"name": "data", "mountPath": "/data"},
                    {"name": "scratch", "mountPath": "/scratch"},
                ],
            }
        ],
        "volumes": [
            {"name": "code", "configMap": {"name": "code"}},
            {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "scratch", "emptyDir": {}},
        ],
    }
    objects = {"code": {"sample_code.py": b"print(1)\n"}, "creds": {"token": b"t"}}
    plan = plan_volumes(spec, "bench")
    prepared = prepare(
        home,
        "default",
        "bench",
        node,
        plan,
        lambda _k, n: objects.get(n),
        PodInfo(node, "default"),
        "bench",
    )
    return prepared.view()


def cluster_doc(name: str, workers: int, cpus: int = 1) -> dict[str, Any]:
    container = {
        "name": "ray",
        "image": "rayproject/ray:2.60.0",
        "resources": {"limits": {"cpu": str(cpus), "memory": "1Gi"}},
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [container]}},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": workers,
                    "minReplicas": 0,
                    "maxReplicas": max(workers, 1),
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [container]}},
                }
            ],
        },
    }


def cluster_token(client: ControllerClient, name: str, namespace: str = "default") -> str | None:
    """The Ray auth token of a local cluster (token auth is on by default), for a plain-Ray
    baseline that must send it as rayplane's own clients do; None with auth disabled."""
    detail = client.get("RayCluster", namespace, name) or {}
    auth = (detail.get("local") or {}).get("auth") or {}
    if auth.get("mode") != "token":
        return None
    secret = client.get("Secret", namespace, str(auth["secret"])) or {}
    return base64.b64decode(secret["data"]["auth_token"]).decode()


@contextmanager
def controller(**env: str) -> Iterator[ControllerClient]:
    """A controller on a fresh home, stopped (by PID) and cleaned afterwards."""
    home = Path(tempfile.mkdtemp(prefix="rp-bench-"))
    full = dict(os.environ, RAYPLANE_HOME=str(home), RAYPLANE_DRAIN_TIMEOUT="1", **env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rayplane", "controller", "run"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    old = os.environ.get("RAYPLANE_HOME")
    os.environ["RAYPLANE_HOME"] = str(home)
    client = ControllerClient(load_local())
    try:
        wait(client.alive, 30)
        client.pid = proc.pid  # type: ignore[attr-defined]
        yield client
    finally:
        for doc in client.list():
            client.delete(doc["kind"], doc["metadata"]["namespace"], doc["metadata"]["name"])
        wait(lambda: not client.list(), 180)
        client.request("POST", "/shutdown")
        proc.wait(timeout=60)
        client.close()
        if old is None:
            os.environ.pop("RAYPLANE_HOME", None)
        else:
            os.environ["RAYPLANE_HOME"] = old


def wait(predicate: Callable[[], Any], timeout: float, poll: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"gave up after {timeout}s")


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


class BareRay:
    """Plain `ray start --block` nodes with the loopback flags rayplane gives its own."""

    def __init__(self) -> None:
        self.launcher = ProcessLauncher()
        self.nodes: list[NodeProcess] = []
        self.taken: set[int] = set()

    def start(
        self,
        extra: list[str],
        *,
        head_gcs: int | None = None,
        exclude: set[int] | frozenset[int] = frozenset(),
        view: View | None = None,
    ) -> NodePorts:
        """A head (no *head_gcs*) or a worker joining the head at *head_gcs*; its ports."""
        head = head_gcs is None
        ports = allocate_node_ports(head=head, exclude=self.taken | set(exclude))
        self.taken |= ports.all_ports()
        temp = tempfile.mkdtemp(prefix="f", dir="/tmp")
        first = ["--head"] if head else [f"--address=127.0.0.1:{head_gcs}"]
        argv = ray_start_argv([*first, *ports.start_args(), f"--temp-dir={temp}", *extra])
        env = ports.env() if head else {}
        log = Path(temp) / ("head.log" if head else "worker.log")
        self.nodes.append(self.launcher.start(argv, env, log, view=view))
        return ports

    def stop_all(self) -> None:
        """Stop every node, newest first, and leave nothing behind."""
        for node in reversed(self.nodes):
            self.launcher.stop(node.pid, node.create_time, 15, marker=node.marker)
        self.nodes.clear()
        self.launcher.close()
