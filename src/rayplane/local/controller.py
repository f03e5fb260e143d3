"""The local control plane: one process per $RAYPLANE_HOME that turns stored resources
into Ray processes, level-based, the way a Kubernetes operator does.

Every pass reads the whole desired state from the store and the whole observed state from
the processes, so a pass after a crash, a restart or a missed event is no different from
any other pass: nothing is remembered only in memory.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import IO, Any

from rayplane import __version__
from rayplane.api.common import API_VERSION
from rayplane.api.configdata import CONFIG_KINDS, check, normalized
from rayplane.api.validation import KINDS, FeatureGates, validate
from rayplane.errors import RayplaneError
from rayplane.local.admission import data_size_problem, identity_problem
from rayplane.local.auth_token import auth_summary
from rayplane.local.metrics import LocalMetrics
from rayplane.local.node_launcher import ProcessLauncher
from rayplane.local.prometheus import sync_targets
from rayplane.local.raycluster_controller import RayClusterController, blocking_failure
from rayplane.local.raycronjob_controller import RayCronJobController
from rayplane.local.rayjob_controller import RayJobController
from rayplane.local.rayservice_controller import RayServiceController
from rayplane.local.server import serve
from rayplane.local.store import ConflictError, Store, StoredResource
from rayplane.settings import HomeError, LocalSettings, prepare_home, prepare_temp_root
from rayplane.settings.timezone import controller_zone

log = logging.getLogger("rayplane.controller")


class AlreadyRunning(RayplaneError):
    """Another controller holds this home's lock."""


class Controller:
    def __init__(self, settings: LocalSettings, gates: FeatureGates | None = None) -> None:
        """*gates* are what validation and the RayJob/RayService reconcilers run with
        (``rayplane.settings.load`` reads them from RAYPLANE_FEATURE_GATES)."""
        self.settings = settings
        self.gates = gates or FeatureGates()
        try:  # before anything is read from the home or written to it
            for note in prepare_home(settings.home):
                log.warning("%s", note)
            prepare_temp_root(settings.temp_root)
        except HomeError as exc:
            raise SystemExit(str(exc)) from exc
        self.store = Store(settings.home / "state.db")
        self.metrics = LocalMetrics(self.store)
        self.metrics_address: str | None = None
        self.launcher = ProcessLauncher()  # the one runtime port both controllers use
        self.clusters = RayClusterController(settings, self.store, self.launcher)
        self.jobs = RayJobController(settings, self.store, self.gates, launcher=self.launcher)
        self._wake = threading.Event()
        self.jobs.changed = self._wake  # a job transition wakes the loop at once
        self.services = RayServiceController(settings, self.store, self.gates)
        self.cronjobs = RayCronJobController(
            self.store, self.gates, controller_zone(settings.time_zone)
        )
        self.cronjobs.changed = self._wake  # missed ticks are caught up without waiting
        self._stop = threading.Event()
        self._lock_file: IO[str] | None = None

    # lifecycle ---------------------------------------------------------------------------

    def lock(self) -> None:
        """Take the home's lock so two controllers never drive the same processes."""
        path = self.settings.home / "controller.lock"
        handle = open(path, "a+")  # noqa: SIM115 - held for the controller's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another rayplane controller (pid {owner}) already runs for {self.settings.home}"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def run(self) -> None:
        """Serve the API and reconcile until SIGTERM/SIGINT or `controller stop`."""
        self.lock()
        server, _ = serve(self.settings.home / "controller.sock", self.handle)
        try:
            self.metrics_address = self.metrics.serve(
                self.settings.home, self.settings.metrics_port
            )
        except OSError as exc:  # the controller still runs; status says why there are none
            log.warning("no /metrics: 127.0.0.1:%d: %s", self.settings.metrics_port, exc)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        log.info("controller %s up (pid %d, home %s)", __version__, os.getpid(), self.settings.home)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self.reconcile_all()
                except Exception:  # one bad pass must not end the controller
                    log.exception("reconcile pass failed")
                try:
                    sync_targets(self.settings.home, self.store)
                except OSError:
                    log.warning("writing Prometheus target files failed", exc_info=True)
                # While nodes are starting, look often: readiness is what users wait for.
                busy = self.clusters.busy() or self.jobs.busy() or self.services.busy()
                interval = 0.25 if busy else self.settings.reconcile_interval_s
                self._wake.wait(max(0.0, interval - (time.monotonic() - started)))
                self._wake.clear()
        finally:
            server.shutdown()
            server.server_close()
            self.metrics.close(self.settings.home)
            Path(self.settings.home / "controller.sock").unlink(missing_ok=True)
            self.clusters.close()
            self.services.close()
            self.launcher.close()
            self.store.close()
            log.info("controller stopped; Ray nodes keep running and are adopted on restart")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # reconcile -------------------------------------------------------------------------------

    def reconcile_all(self) -> None:
        for resource in self.store.resources():
            started, ok = time.monotonic(), False
            try:
                if resource.kind == "RayCluster":
                    self.clusters.reconcile(resource)
                elif resource.kind == "RayJob":
                    self.jobs.reconcile(resource)
                elif resource.kind == "RayService":
                    self.services.reconcile(resource)
                elif resource.kind == "RayCronJob":
                    self.cronjobs.reconcile(resource)
                ok = True
            except Exception as exc:
                log.exception(
                    "reconciling %s %s/%s failed", resource.kind, resource.namespace, resource.name
                )
                self.store.event(
                    resource.uid, "ReconcileError", f"{type(exc).__name__}: {exc}", "Warning"
                )
            finally:
                self.metrics.reconciled(resource.kind, time.monotonic() - started, ok)

    # API -----------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if parts == ["healthz"]:
            return 200, {
                "pid": os.getpid(),
                "version": __version__,
                "home": str(self.settings.home),
                "metrics": f"http://{self.metrics_address}/metrics"
                if self.metrics_address
                else None,
            }
        if parts == ["shutdown"] and method == "POST":
            self.stop()
            return 202, {"message": "stopping"}
        if parts == ["wake"] and method == "POST":
            self._wake.set()  # a spec writer (the autoscaler) asks for a pass now
            return 202, {}
        if len(parts) == 2 and parts[0] == "events" and method == "GET":
            return 200, self.store.events(parts[1], limit=50)
        if parts == ["resources"] and method == "GET":
            found = self.store.resources(query.get("kind"), query.get("namespace"))
            return 200, [r.document() for r in found]
        if len(parts) == 4 and parts[0] == "resources":
            _, kind, namespace, name = parts
            if kind not in CONFIG_KINDS and kind not in KINDS:
                return 404, {"message": f"unknown kind {kind}"}
            refused = identity_problem(kind, namespace, name, body) if method == "PUT" else None
            if refused is not None:
                return refused
            if kind in CONFIG_KINDS:
                return self._config(method, kind, namespace, name, body)
            return self._one(method, kind, namespace, name, body)
        return 404, {"message": f"no route {method} {path}"}

    def _one(self, method: str, kind: str, namespace: str, name: str, body: Any) -> tuple[int, Any]:
        if method == "PUT":
            report = validate(body, self.gates)
            if not report.ok:
                return 422, {
                    "message": "invalid",
                    "findings": [f.as_dict() for f in report.findings],
                }
            # Stored as the storage version, as the API server stores a v1alpha1 object.
            return self._put(kind, namespace, name, {**body, "apiVersion": API_VERSION})
        stored_or_none = self.store.get(kind, namespace, name)
        if stored_or_none is None:
            return 404, {"message": f"{kind} {namespace}/{name} not found"}
        if method == "GET":
            detail = self._detail(stored_or_none.uid)
            if detail is None:  # removed by the reconcile loop since the lookup above
                return 404, {"message": f"{kind} {namespace}/{name} not found"}
            return 200, detail
        if method == "DELETE":
            marked = self.store.mark_deleting(kind, namespace, name)
            self._wake.set()
            return 202, marked.document() if marked else {}
        return 405, {"message": f"{method} not allowed"}

    def _put(self, kind: str, namespace: str, name: str, body: Any) -> tuple[int, Any]:
        body = dict(body)
        body.pop("status", None)
        meta = dict(body.get("metadata") or {})
        for server_field in (
            "uid",
            "generation",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
        ):
            meta.pop(server_field, None)
        meta["namespace"] = namespace
        body["metadata"] = meta
        try:
            stored = self.store.put(kind, namespace, name, body)
        except ConflictError as exc:
            return 409, {"message": str(exc)}
        self._wake.set()  # a cluster waiting for this Secret retries at once
        return 200, stored.document()

    def _config(
        self, method: str, kind: str, namespace: str, name: str, body: Any
    ) -> tuple[int, Any]:
        """Secrets and ConfigMaps: data for env vars, nothing to reconcile, no finalizer."""
        if method == "PUT":
            findings = check(body)
            if findings.errors:
                return 422, {
                    "message": "invalid",
                    "findings": [f.as_dict() for f in findings.items],
                }
            too_long = data_size_problem(kind, body)
            if too_long is not None:
                return 422, too_long
            return self._put(kind, namespace, name, normalized(body))
        stored = self.store.get(kind, namespace, name)
        if stored is None:
            return 404, {"message": f"{kind} {namespace}/{name} not found"}
        if method == "GET":
            return 200, stored.document()
        if method == "DELETE":
            self.store.remove(stored.uid)
            return 200, stored.document()
        return 405, {"message": f"{method} not allowed"}

    def _detail(self, uid: str) -> dict[str, Any] | None:
        """The resource plus what `describe` shows: nodes, events, local notes."""
        stored = self.store.get_by_uid(uid)
        if stored is None:
            return None
        doc = stored.document()
        # The nodes shown are those of the cluster being brought up, for progress.
        cluster: StoredResource | None = stored
        if stored.kind == "RayJob":
            cluster = self.jobs.describe_cluster(stored)
        elif stored.kind == "RayService":
            cluster = self.services.cluster_in_progress(stored)
        nodes = self.store.nodes(cluster.uid) if cluster else []
        doc["local"] = {
            "endpoint": self.services.endpoint(stored) if stored.kind == "RayService" else None,
            "nodes": [self.clusters.describe_node(n) for n in nodes],
            "events": self.store.events(uid),
            "notes": self.clusters.notes(stored),
            "autoscaler": self.clusters.autoscalers.describe(cluster) if cluster else None,
            "idle": self.clusters.idle.describe(cluster) if cluster else None,
            "auth": auth_summary(cluster if cluster and cluster.kind == "RayCluster" else None),
        }
        if stored.kind == "RayService":
            doc["local"]["serve"] = self.services.serve_details(stored)
            failure, failure_log = self.services.failure(stored)
            doc["local"]["serveFailure"] = failure
            doc["local"]["serveFailureLog"] = failure_log
        if stored.kind == "RayJob":
            doc["local"]["history"] = self.jobs.history_of(stored)
        if stored.kind == "RayCronJob":
            doc["local"]["cron"] = self.cronjobs.describe(stored)
        if stored.kind in ("RayJob", "RayService"):
            doc["local"]["clusterFailure"] = next(
                (
                    f"RayCluster {c.name}: {failure}"
                    for c in self.store.owned_by(stored.uid)
                    if c.kind == "RayCluster" and (failure := blocking_failure(c.status))
                ),
                None,
            )
        return doc
