"""The local controller's ``/metrics``: KubeRay's ``kuberay_*`` series plus the controller's own.

The Unix socket of :mod:`rayplane.local.server` is for the CLI; Prometheus scrapes TCP, so
the metrics get their own listener on 127.0.0.1 (``RAYPLANE_METRICS_PORT``, 0 = a free
port each start). Its address is in the controller's ``/healthz`` (``controller status``)
and in ``controller.metrics`` in the home, which the Prometheus target files read.

The per-object series are computed from the store when Prometheus scrapes, as KubeRay
lists its informer cache at scrape time: a deleted object's series go with it, and the
reconcilers need no metrics calls. Reconciles are counted as they happen; node starts and
events (the store's, the autoscaler child's decisions included) are counted from the store
at each scrape, from where the last scrape stopped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import start_http_server

from rayplane.local.loopback import LOOPBACK_IP
from rayplane.local.store import Store, StoredResource
from rayplane.reconcile.gotime import parse_time
from rayplane.reconcile.metrics import ControlPlaneMetrics

log = logging.getLogger("rayplane.metrics")

#: The home file that holds the controller's metrics address (host:port), for Prometheus.
ADDRESS_FILE = "controller.metrics"

_TERMINAL_JOB = ("Complete", "Failed", "Retrying")


def _condition(status: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


def _true(status: dict[str, Any] | None, type_: str) -> bool:
    cond = _condition(status, type_)
    return cond is not None and cond.get("status") == "True"


def _seconds_between(start: str | None, end: str | None) -> float | None:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


class LocalMetrics:
    """The shared registry, fed from the local store, served on loopback."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()  # scrapes may overlap; one refresh at a time
        # On psutil's clock, as the nodes' create_time is (it can differ from time.time()).
        self._started_at = psutil.Process().create_time()
        self._seen_starts: set[tuple[str, float]] = set()
        self._last_event = store.last_event_id()  # events before this controller: not ours
        self.metrics = ControlPlaneMetrics(refresh=self.refresh)  # collects once, here
        self._server: Any = None
        self.port: int | None = None

    # feeding -----------------------------------------------------------------------------

    def reconciled(self, kind: str, seconds: float, ok: bool) -> None:
        """controller-runtime's names, one controller per kind (as KubeRay's are)."""
        self.metrics.reconciled(kind.lower(), seconds, "success" if ok else "error")

    def refresh(self) -> None:
        with self._lock:
            self._refresh(self.store.resources())

    def _refresh(self, resources: list[StoredResource]) -> None:
        m = self.metrics
        clusters = {(r.namespace, r.name): r for r in resources if r.kind == "RayCluster"}
        for key in set(m.clusters) - set(clusters):
            m.cluster_gone(*key)
        for (ns, name), r in clusters.items():
            labels = (r.body.get("metadata") or {}).get("labels") or {}
            provisioned = _condition(r.status, "RayClusterProvisioned")
            is_provisioned = provisioned is not None and provisioned.get("status") == "True"
            owner = labels.get("ray.io/originated-from-crd") or "None"
            m.cluster_seen(ns, name, owner, is_provisioned)
            if provisioned is not None and is_provisioned:
                took = _seconds_between(
                    r.document()["metadata"]["creationTimestamp"],
                    provisioned.get("lastTransitionTime"),
                )
                if took is not None:
                    m.cluster_provisioned(ns, name, took)
        jobs = {(r.namespace, r.name): r for r in resources if r.kind == "RayJob"}
        for key in set(m.jobs) - set(jobs):
            m.job_gone(*key)
        for (ns, name), r in jobs.items():
            status = r.status or {}
            deployment = str(status.get("jobDeploymentStatus") or "")
            m.job_seen(ns, name, deployment)
            if deployment in _TERMINAL_JOB:
                took = _seconds_between(status.get("startTime"), status.get("endTime"))
                if took is not None:
                    m.job_finished(ns, name, deployment, int(status.get("failed") or 0), took)
        services = {(r.namespace, r.name): r for r in resources if r.kind == "RayService"}
        for key in set(m.services) - set(services):
            m.service_gone(*key)
        for (ns, name), r in services.items():
            m.service_seen(ns, name, _true(r.status, "Ready"), _true(r.status, "UpgradeInProgress"))
        self._count_starts(clusters)
        for event_id, reason, type_ in self.store.events_after(self._last_event):
            self.metrics.event(reason, type_)
            self._last_event = event_id

    def _count_starts(self, clusters: dict[tuple[str, str], StoredResource]) -> None:
        """Node processes started since this controller came up (adopted ones are not)."""
        by_uid = {r.uid: r for r in clusters.values()}
        for node in self.store.nodes():
            owner = by_uid.get(node.cluster_uid)
            if node.pid is None or node.create_time is None or owner is None:
                continue
            key = (node.name, node.create_time)
            if key in self._seen_starts or node.create_time < self._started_at:
                continue
            self._seen_starts.add(key)
            self.metrics.node_started(owner.namespace, owner.name, node.group)

    # serving -------------------------------------------------------------------------------

    def serve(self, home: Path, port: int = 0) -> str:
        """Listen on 127.0.0.1:*port* (0: any free one); record and return host:port."""
        server, _ = start_http_server(port, addr=LOOPBACK_IP, registry=self.metrics.registry)
        self._server = server
        self.port = int(server.server_port)
        address = f"{LOOPBACK_IP}:{self.port}"
        tmp = home / (ADDRESS_FILE + ".tmp")
        tmp.write_text(address + "\n")
        tmp.replace(home / ADDRESS_FILE)
        log.info("metrics on http://%s/metrics", address)
        return address

    def close(self, home: Path) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with contextlib.suppress(OSError):
            (home / ADDRESS_FILE).unlink()


def controller_address(home: Path) -> str | None:
    """host:port of the running controller's /metrics, from the home, or None."""
    try:
        text = (home / ADDRESS_FILE).read_text().strip()
    except OSError:
        return None
    return text or None
