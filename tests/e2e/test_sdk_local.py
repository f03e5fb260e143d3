"""The Python API on the local runtime, end to end, with a real (head-only) Ray cluster.

What a notebook user relies on: ``Cluster.from_yaml(...).apply()`` returns once the cluster
is ready, ``status()`` and ``nodes()`` say so, the dashboard it names answers, and
``delete()`` returns only when no process of the cluster is left.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
import pytest

import rayplane
from rayplane.sdk.auth import cluster_token
from tests.e2e.conftest import Local

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

HEAD_ONLY = """\
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: sdk-head
spec:
  headGroupSpec:
    rayStartParams:
      num-cpus: "1"
    template:
      spec:
        containers:
        - name: ray-head
          image: rayproject/ray:2.47.1
          resources:
            limits: {cpu: "1", memory: 2Gi}
"""


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_cluster_from_yaml_comes_up_answers_and_leaves_no_process(
    local: Local, tmp_path: Path
) -> None:
    path = tmp_path / "sdk-head.yaml"
    path.write_text(HEAD_ONLY)
    runtime = rayplane.local(home=local.home)
    try:
        cluster = rayplane.Cluster.from_yaml(path, runtime).apply(timeout=300, progress=False)
        assert cluster.verb == "created"

        status = cluster.status()
        assert status.state == "ready"
        head_ready = status.condition("HeadPodReady")
        assert head_ready is not None and head_ready.status == "True", status.conditions

        nodes = cluster.nodes()
        assert [(n.kind, n.group, n.state) for n in nodes] == [("head", "headgroup", "ready")]
        pids = [int(n.extra["pid"]) for n in nodes]
        assert all(_running(pid) for pid in pids)

        url = cluster.dashboard_url
        assert url is not None and url.startswith("http://127.0.0.1:")
        # Token auth, the local default: refused without the token, answered with it.
        assert httpx.get(f"{url}/api/version", timeout=10).status_code == 401
        token = cluster_token(
            cluster.backend, cluster.backend.get("RayCluster", "default", "sdk-head")
        )
        headers = {"x-ray-authorization": f"Bearer {token}"}
        assert httpx.get(f"{url}/api/version", headers=headers, timeout=10).status_code == 200
        address = cluster.address
        assert address is not None and address.startswith("127.0.0.1:")

        assert cluster.delete() is True
        assert not [pid for pid in pids if _running(pid)]
        with pytest.raises(rayplane.NotFoundError):
            rayplane.Cluster.get("sdk-head", runtime=runtime)
    finally:
        runtime.close()
