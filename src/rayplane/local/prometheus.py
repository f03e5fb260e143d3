"""A real Prometheus for the local runtime: its config, its targets, its process.

What it scrapes
---------------
Ray's head writes ``prom_metrics_service_discovery.json`` into its session folder every few
seconds: every live node's metrics export port, plus the autoscaler's and the dashboard's,
all labelled ``job: ray`` and nothing else. On Kubernetes, KubeRay's PodMonitor adds the
cluster by relabelling ``__meta_kubernetes_pod_label_ray_io_cluster`` to ``ray_io_cluster``;
Ray's and KubeRay's Grafana dashboards filter on that label. Here the controller copies
each cluster's file into ``<home>/prometheus/targets/ray-<namespace>-<name>.json`` with
``__meta_ray_io_cluster`` and ``__meta_namespace`` added (:func:`sync_targets`, every
reconcile pass), and the generated config relabels them the same way. A deleted cluster's
file is removed, and Prometheus drops its targets at the next file_sd refresh, with no
config reload. The controller's own ``/metrics`` is one more target file.

The process
-----------
The binary is the distribution's (Debian's ``prometheus`` package, installed by the
project's install script); nothing is downloaded. It runs with its own config and data
under the home, on 127.0.0.1 only; the Debian package's own service is never used.
Its PID and start time are recorded, so ``down`` stops exactly that process, never one
found by name, and never one whose PID was reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import psutil

from rayplane.errors import RayplaneError
from rayplane.local.loopback import LOOPBACK_IP
from rayplane.local.metrics import controller_address
from rayplane.local.process import is_alive
from rayplane.local.store import Store

#: The file Ray's head writes in its session folder (ray_constants' name).
SERVICE_DISCOVERY_FILE: Final = "prom_metrics_service_discovery.json"
#: Where the dashboard reads Prometheus' address (ray.dashboard.modules.metrics).
PROMETHEUS_HOST_ENV: Final = "RAY_PROMETHEUS_HOST"
#: Prometheus' own default, used when it is free the first time `metrics up` runs.
DEFAULT_PORT: Final = 9090
RAY_JOB: Final = "ray"
CONTROLLER_JOB: Final = "rayplane-controller"
_TARGET_PREFIX: Final = "ray-"


class PrometheusError(RayplaneError):
    """Prometheus could not be started or stopped; the message says why and what to do."""


def folder(home: Path) -> Path:
    return home / "prometheus"


def _port_file(home: Path) -> Path:
    return folder(home) / "port"


def _state_file(home: Path) -> Path:
    return folder(home) / "process.json"


# targets ------------------------------------------------------------------------------------


def _write_if_changed(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # file_sd must never read a half-written file


def cluster_targets(
    discovery: list[dict[str, Any]], namespace: str, cluster: str
) -> list[dict[str, Any]]:
    """Ray's service-discovery groups with the labels KubeRay's PodMonitor relabels from."""
    out = []
    for group in discovery:
        targets = [t for t in group.get("targets") or [] if isinstance(t, str) and t]
        if not targets:
            continue
        labels = {str(k): str(v) for k, v in (group.get("labels") or {}).items()}
        labels["__meta_ray_io_cluster"] = cluster
        labels["__meta_namespace"] = namespace
        out.append({"targets": targets, "labels": labels})
    return out


def sync_targets(home: Path, store: Store) -> None:
    """Bring ``targets/`` in line with the clusters that exist; a no-op until `metrics up`.

    A cluster being deleted loses its file at once: its nodes are going, and the test of
    that promise is that Prometheus' target list no longer shows them.
    """
    base = folder(home)
    if not base.is_dir():
        return
    targets = base / "targets"
    targets.mkdir(exist_ok=True)
    wanted: set[str] = set()
    for cluster in store.resources("RayCluster"):
        if cluster.deleting is not None:
            continue
        head = next((n for n in store.nodes(cluster.uid) if n.kind == "head"), None)
        if head is None or head.pid is None:
            continue
        name = f"{_TARGET_PREFIX}{cluster.namespace}-{cluster.name}.json"
        wanted.add(name)  # an unreadable file this pass keeps the targets last written
        source = Path(head.temp_dir) / "session_latest" / SERVICE_DISCOVERY_FILE
        try:
            discovery = json.loads(source.read_text())
        except (OSError, ValueError):
            continue  # not written yet (the head is starting), or not Ray's JSON
        if not isinstance(discovery, list):
            continue
        groups = cluster_targets(discovery, cluster.namespace, cluster.name)
        _write_if_changed(targets / name, json.dumps(groups, indent=1, sort_keys=True))
    address = controller_address(home)
    controller = targets / "controller.json"
    if address:
        groups = [{"targets": [address], "labels": {}}]
        _write_if_changed(controller, json.dumps(groups))
    for stale in targets.glob(f"{_TARGET_PREFIX}*.json"):
        if stale.name not in wanted:
            stale.unlink(missing_ok=True)


# config -------------------------------------------------------------------------------------


def render_config(home: Path, scrape_interval_s: float = 10.0) -> str:
    """prometheus.yml: Ray's nodes and the controller, from the target files in the home.

    JSON is valid YAML, and Prometheus reads it; it keeps this free of a YAML writer.
    """
    targets = folder(home) / "targets"
    interval = f"{scrape_interval_s:g}s"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                # Ray's job name, as in the prometheus.yml Ray writes into its session.
                "job_name": RAY_JOB,
                "file_sd_configs": [
                    {"files": [str(targets / f"{_TARGET_PREFIX}*.json")], "refresh_interval": "5s"}
                ],
                # KubeRay's PodMonitor: ray.io/cluster pod label -> ray_io_cluster.
                "relabel_configs": [
                    {"source_labels": ["__meta_ray_io_cluster"], "target_label": "ray_io_cluster"},
                    {"source_labels": ["__meta_namespace"], "target_label": "namespace"},
                ],
            },
            {
                # KubeRay's ServiceMonitor for the operator: honorLabels, so the name and
                # namespace of kuberay_* series are the objects', not the target's.
                "job_name": CONTROLLER_JOB,
                "honor_labels": True,
                "file_sd_configs": [
                    {"files": [str(targets / "controller.json")], "refresh_interval": "5s"}
                ],
            },
        ],
    }
    return json.dumps(config, indent=2) + "\n"


# process ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    pid: int
    create_time: float
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK_IP}:{self.port}"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((LOOPBACK_IP, port))
        except OSError:
            return False
    return True


def _any_free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK_IP, 0))
        return int(s.getsockname()[1])


def chosen_port(home: Path) -> int | None:
    """The port this home's Prometheus uses (kept across up/down), once chosen."""
    try:
        return int(_port_file(home).read_text().strip())
    except (OSError, ValueError):
        return None


def dashboard_env(home: Path, env: dict[str, str]) -> dict[str, str]:
    """RAY_PROMETHEUS_HOST for a head, once this home has a Prometheus port.

    The port is chosen at the first `metrics up` and kept, so a cluster started while
    Prometheus is down still points at it when it comes back. The user's own env wins.
    """
    port = chosen_port(home)
    if port is None or PROMETHEUS_HOST_ENV in env:
        return {}
    return {PROMETHEUS_HOST_ENV: f"http://{LOOPBACK_IP}:{port}"}


def running(home: Path) -> Running | None:
    """The Prometheus `metrics up` started for this home, if it still runs."""
    try:
        state = json.loads(_state_file(home).read_text())
        found = Running(int(state["pid"]), float(state["create_time"]), int(state["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if is_alive(found.pid, found.create_time) else None


def binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusError(
            "prometheus is not installed: install the distribution's package "
            "(`apt-get install prometheus` on Debian/Ubuntu, as scripts/install-test-services "
            "does); rayplane does not download it"
        )
    return found


def up(
    home: Path,
    *,
    port: int | None = None,
    scrape_interval_s: float = 10.0,
    timeout_s: float = 60.0,
) -> Running:
    """Start Prometheus for this home (or return the one already running)."""
    already = running(home)
    if already is not None:
        return already
    prom = binary()
    base = folder(home)
    base.mkdir(mode=0o700, exist_ok=True)
    (base / "targets").mkdir(exist_ok=True)
    if port == 0:  # asked for any free port
        chosen = _any_free_port()
    else:
        chosen = port or chosen_port(home) or (DEFAULT_PORT if _free(DEFAULT_PORT) else 0)
        chosen = chosen or _any_free_port()
    if not _free(chosen):
        raise PrometheusError(
            f"127.0.0.1:{chosen} is in use: pass `rayplane metrics up --port N` with a free port"
        )
    _port_file(home).write_text(f"{chosen}\n")
    config = base / "prometheus.yml"
    config.write_text(render_config(home, scrape_interval_s))
    log_path = base / "prometheus.log"
    argv = [
        prom,
        f"--config.file={config}",
        f"--storage.tsdb.path={base / 'data'}",
        f"--web.listen-address={LOOPBACK_IP}:{chosen}",
        "--storage.tsdb.retention.time=7d",
    ]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        create_time = time.time()
    found = Running(proc.pid, create_time, chosen)
    state = {"pid": found.pid, "create_time": create_time, "port": chosen, "argv": argv}
    _state_file(home).write_text(json.dumps(state))
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            _state_file(home).unlink(missing_ok=True)
            raise PrometheusError(
                f"prometheus exited with code {proc.returncode} at start; its log: {log_path}"
            )
        if ready(found):
            return found
        if time.monotonic() > deadline:
            down(home)
            raise PrometheusError(
                f"prometheus did not answer on {found.url}/-/ready within {timeout_s:g} s; "
                f"stopped it; its log: {log_path}"
            )
        time.sleep(0.2)


def ready(found: Running) -> bool:
    try:
        return httpx.get(f"{found.url}/-/ready", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def down(home: Path, grace_s: float = 10.0) -> Running | None:
    """Stop the Prometheus `up` started (by its PID and start time); None if none ran."""
    found = running(home)
    _state_file(home).unlink(missing_ok=True)
    if found is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(found.pid, signal.SIGTERM)  # is_alive just checked PID and start time
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and is_alive(found.pid, found.create_time):
        time.sleep(0.1)
    if is_alive(found.pid, found.create_time):
        with contextlib.suppress(ProcessLookupError):
            os.kill(found.pid, signal.SIGKILL)
    return found


def targets(found: Running) -> list[dict[str, Any]]:
    """Prometheus' active targets (/api/v1/targets), for `metrics status` and tests."""
    reply = httpx.get(f"{found.url}/api/v1/targets", timeout=5.0)
    reply.raise_for_status()
    active: list[dict[str, Any]] = reply.json()["data"]["activeTargets"]
    return active
