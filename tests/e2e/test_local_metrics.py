"""Metrics with real Ray and a real Prometheus: what a user of `rayplane metrics` sees.

One head-only cluster on the shared e2e controller. `rayplane metrics up` starts the
distribution's Prometheus; after a job has run, PromQL over loopback finds a Ray node metric
by ray_io_cluster and the controller's kuberay_cluster_info; `rayplane top` in a real
terminal (tmux) shows the node; deleting the cluster takes its targets out of Prometheus;
`metrics down` stops Prometheus and nothing else.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from tests.e2e.conftest import Local
from tests.support import ROOT, wait_for

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed"),
]

CLUSTER = "metrics-a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10)
    reply.raise_for_status()
    result: list[dict[str, Any]] = reply.json()["data"]["result"]
    return result


def _targets(url: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{url}/api/v1/targets", timeout=10)
    reply.raise_for_status()
    active: list[dict[str, Any]] = reply.json()["data"]["activeTargets"]
    return active


@pytest.fixture
def prom(local: Local) -> Iterator[tuple[str, int]]:
    port = _free_port()
    up = local.run("metrics", "up", "--port", str(port), "--scrape-interval", "2")
    assert f"http://127.0.0.1:{port}" in up.stdout
    state = json.loads((local.home / "prometheus" / "process.json").read_text())
    try:
        yield f"http://127.0.0.1:{port}", int(state["pid"])
    finally:
        local.run("metrics", "down", check=False)
        local.run("delete", "raycluster", CLUSTER, check=False, timeout=180)


def test_prometheus_sees_every_node_by_cluster_and_forgets_a_deleted_one(
    local: Local, prom: tuple[str, int]
) -> None:
    url, prom_pid = prom
    local.run(
        "create", "cluster", CLUSTER, "--workers", "0", "--head-cpus", "1", "--timeout", "300"
    )
    code = "import ray; ray.init(); print('sum', sum(ray.get([f.remote(i) for i in range(5)])))"
    code = code.replace("import ray;", "import ray; f = ray.remote(lambda i: i);")
    job = local.run("job", "submit", "--cluster", CLUSTER, "--", "python", "-c", code, timeout=300)
    assert "sum 10" in job.stdout

    # Every node of the cluster, by the label KubeRay's PodMonitor gives (head only here).
    nodes = wait_for(
        lambda: _query(url, f'ray_node_cpu_utilization{{ray_io_cluster="{CLUSTER}"}}'),
        120,
        "ray_node_cpu_utilization by ray_io_cluster",
        interval=1,
    )
    assert {n["metric"]["namespace"] for n in nodes} == {"default"}
    assert len({n["metric"]["instance"] for n in nodes}) == 1
    info = wait_for(
        lambda: _query(url, f'kuberay_cluster_info{{name="{CLUSTER}"}}'),
        60,
        "kuberay_cluster_info from the controller",
        interval=1,
    )
    assert info[0]["metric"]["namespace"] == "default"  # the object's, kept by honor_labels
    assert info[0]["metric"]["owner_kind"] == "None"

    # The head's dashboard was started pointing at this Prometheus.
    status = local.get(CLUSTER)["status"]
    dashboard = f"http://127.0.0.1:{status['endpoints']['dashboard']}"
    headers = local.auth_headers(CLUSTER)  # token auth, on by default locally
    health = httpx.get(f"{dashboard}/api/prometheus_health", timeout=10, headers=headers)
    assert health.status_code == 200 and health.json()["result"] is True, health.text

    # `metrics status` counts the cluster's targets as up.
    shown = local.run("metrics", "status").stdout
    assert f"ray ray_io_cluster={CLUSTER}:" in shown

    # `rayplane top` in a real terminal shows the cluster's node.
    if shutil.which("tmux") is not None:
        screen = _top_in_tmux(local)
        head = next(n for n in local.detail(CLUSTER)["local"]["nodes"] if n["kind"] == "head")
        assert f"{head['name']} (head)" in screen
        assert "OBJECT STORE" in screen
    once = local.run("top", CLUSTER, "--once").stdout
    assert "(head)" in once and "pending demand:" in once

    local.run("delete", "raycluster", CLUSTER, timeout=180)
    wait_for(
        lambda: not any(t["labels"].get("ray_io_cluster") == CLUSTER for t in _targets(url)),
        60,
        "the deleted cluster's targets to leave Prometheus",
        interval=1,
    )
    assert any(t["labels"].get("job") == "rayplane-controller" for t in _targets(url))

    # `metrics down` stops exactly its Prometheus; the controller goes on.
    controller = local.controller_pid()
    local.run("metrics", "down")
    wait_for(lambda: not _alive(prom_pid), 30, "Prometheus to stop")
    assert _alive(controller)
    assert local.run("metrics", "status", check=False).returncode == 1


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _top_in_tmux(local: Local) -> str:
    """The screen of `rayplane top NAME` in a 150x30 tmux terminal, once it shows a table.

    A tmux server of its own (-L), started with the test's environment, so the session
    runs against this test's home and nothing else of tmux is touched.
    """
    tmux = ["tmux", "-L", f"rp-top-{os.getpid()}"]
    command = shlex.join([sys.executable, "-m", "rayplane", "top", CLUSTER])
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "150", "-y", "30", command],
        check=True,
        env=local.env,
        cwd=ROOT,
    )
    try:

        def screen() -> str | None:
            shown = subprocess.run(
                [*tmux, "capture-pane", "-p"], capture_output=True, text=True, check=False
            ).stdout
            return shown if "(head)" in shown else None

        return wait_for(screen, 60, "rayplane top to draw its table", interval=0.5)
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
