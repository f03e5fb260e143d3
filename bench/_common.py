"""Helpers shared by the benchmarks: a throwaway RAYPLANE_HOME with its controller."""

from __future__ import annotations

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
from rayplane.settings import load_local


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
