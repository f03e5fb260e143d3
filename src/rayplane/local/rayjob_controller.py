"""RayJob on the local runtime: the pure RayJob reconciler's actions carried out here.

The job's RayCluster is an ordinary stored RayCluster (owned by the RayJob, so it goes
when the job goes), the K8sJobMode submitter Job becomes a local process running
KubeRay's own submitter script, and HTTPMode talks to the dashboard directly. Everything
the runtime must remember between passes (submitter PID, attempts, exit code) lives in
the store, so a restarted controller neither loses a submitter nor submits twice.
"""

from __future__ import annotations

import glob
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rayplane.api.raycluster import RayClusterStatus
from rayplane.api.rayjob import RayJob
from rayplane.api.validation.gates import FeatureGates
from rayplane.clients.jobs_api import JobsClient, JobsClientError
from rayplane.local.auth_token import token_of
from rayplane.local.history import Attempt, History, job_events
from rayplane.local.node_launcher import NodeLauncher, ProcessLauncher
from rayplane.local.ray_envs import ready_python, wanted_version
from rayplane.local.rayjob_submitter import Submitters, remove_submitter_files
from rayplane.local.store import Store, StoredResource
from rayplane.reconcile.auth import auth_env
from rayplane.reconcile.job import (
    NOT_FOUND,
    CreateCluster,
    CreateSubmitter,
    DeleteCluster,
    DeleteSelf,
    DeleteSubmitter,
    JobAction,
    JobOptions,
    ObservedJob,
    ObservedJobCluster,
    RayJobLike,
    StopJob,
    SubmitJob,
    SuspendWorkers,
    finalize_job,
    reconcile_job,
    wants_ray_job,
)
from rayplane.settings import LocalSettings

log = logging.getLogger("rayplane.jobs")
SOURCE_DIR = "rayplane.io/source-dir"
# Deployment states in which nothing moves until the user acts (or a TTL fires).
_SETTLED = {"Complete", "Failed", "ValidationFailed", "Suspended"}


def owner_reference(stored: StoredResource) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": stored.kind,
        "name": stored.name,
        "uid": stored.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


class RayJobController:
    """Drives every RayJob in the store through KubeRay's lifecycle."""

    def __init__(
        self,
        settings: LocalSettings,
        store: Store,
        gates: FeatureGates | None = None,
        *,
        launcher: NodeLauncher | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        # The submitter is a process like a node's: it starts and stops through the port.
        self.submitters = Submitters(
            settings, store, launcher if launcher is not None else ProcessLauncher()
        )
        self.changed = threading.Event()
        # The controller's RAYPLANE_FEATURE_GATES, as its validation uses them.
        self.options = JobOptions().with_gates(gates or FeatureGates())
        self.history = History(settings.home)

    def busy(self) -> bool:
        """True while any RayJob is on its way (the controller then polls faster)."""
        return any(
            ((r.status or {}).get("jobDeploymentStatus") or "New") not in _SETTLED
            for r in self.store.resources("RayJob")
        )

    # reconcile ----------------------------------------------------------------------------

    def reconcile(self, stored: StoredResource) -> None:
        job = RayJob.model_validate(stored.document())
        state = self.store.runtime_state(stored.uid)
        if stored.deleting is not None:
            self._finalize(stored, job, state)
            return
        observed = self._observe(stored, job, state)
        plan = reconcile_job(job, observed, datetime.now(UTC), options=self.options)
        state.pop("submit_error", None)
        failed = False
        for action in plan.actions:
            try:
                self._act(stored, job, action, state, plan.status.wire())
            except Exception as exc:  # one failed action stops the pass, as KubeRay's errors do
                failed = True
                log.exception("RayJob %s/%s: %s failed", stored.namespace, stored.name, action)
                self.store.event(
                    stored.uid, "ActionFailed", f"{type(action).__name__}: {exc}", "Warning"
                )
                break
        self.store.set_runtime_state(stored.uid, state)
        if plan.changed and not failed:
            self.store.set_status(stored.uid, plan.status.wire())
            # A transition usually enables the next one (Running -> submit, ...): go again
            # at once instead of after the poll interval.
            self.changed.set()
        for event in plan.events:
            self.store.event(stored.uid, event.reason, event.message, event.type)

    def _observe(self, stored: StoredResource, job: RayJob, state: dict[str, Any]) -> ObservedJob:
        status = job.status
        cluster = None
        name = status.ray_cluster_name if status else None
        if name:
            found = self.store.get("RayCluster", stored.namespace, name)
            if found is not None:
                cluster = self._observed_cluster(found)
        ray_job: RayJobLike | str | None = None
        dashboard_error = None
        if wants_ray_job(job) and status and status.job_id and status.dashboard_url:
            token = self._token(stored.namespace, name)
            try:
                with JobsClient(status.dashboard_url, timeout=2, token=token) as client:
                    info = client.get(status.job_id)
                ray_job = NOT_FOUND if info is None else info
            except JobsClientError as exc:
                dashboard_error = str(exc)
        return ObservedJob(
            cluster=cluster,
            submitter=self.submitters.observe(stored, state),
            ray_job=ray_job,  # type: ignore[arg-type]
            dashboard_error=dashboard_error,
            submit_error=state.get("submit_error"),
        )

    def _observed_cluster(self, found: StoredResource) -> ObservedJobCluster:
        from rayplane.api.raycluster import RayCluster

        cluster = RayCluster.model_validate(found.document())
        status = cluster.status or RayClusterStatus()
        port = (status.endpoints or {}).get("dashboard")
        nodes = self.store.nodes(found.uid)
        groups = cluster.spec.worker_group_specs
        return ObservedJobCluster(
            name=found.name,
            status=status,
            dashboard_url=f"127.0.0.1:{port}" if port else None,
            spec=cluster.spec,
            deleting=found.deleting is not None,
            head_present=any(n.kind == "head" and n.deleting is None for n in nodes),
            workers_suspended=bool(groups) and all(g.suspend for g in groups),
        )

    # actions ----------------------------------------------------------------------------------

    def _act(
        self,
        stored: StoredResource,
        job: RayJob,
        action: JobAction,
        state: dict[str, Any],
        status: dict[str, Any],
    ) -> None:
        ns = stored.namespace
        if isinstance(action, CreateCluster):
            meta = {
                "name": action.name,
                "namespace": ns,
                "labels": action.labels,
                "annotations": action.annotations,
                "ownerReferences": [owner_reference(stored)],
            }
            body = {
                "apiVersion": "ray.io/v1",
                "kind": "RayCluster",
                "metadata": meta,
                "spec": action.spec.wire(),
            }
            self.store.put("RayCluster", ns, action.name, body)
            self.store.event(stored.uid, "CreatedRayCluster", f"created RayCluster {action.name}")
        elif isinstance(action, DeleteCluster):
            self._archive(stored, action.name, state, status)
            if self.store.mark_deleting("RayCluster", ns, action.name) is not None:
                self.store.event(
                    stored.uid, "DeletedRayCluster", f"deleting RayCluster {action.name}"
                )
        elif isinstance(action, SuspendWorkers):
            found = self.store.get("RayCluster", ns, action.cluster_name)
            if found is not None:
                suspended: dict[str, Any] = dict(found.body)
                for group in suspended.get("spec", {}).get("workerGroupSpecs", []):
                    group["suspend"] = True
                self.store.put("RayCluster", ns, action.cluster_name, suspended)
        elif isinstance(action, CreateSubmitter):
            self._create_submitter(stored, job, action, state, status.get("rayClusterName"))
        elif isinstance(action, DeleteSubmitter):
            self.submitters.delete(state)
        elif isinstance(action, SubmitJob):
            try:
                token = self._token(ns, status.get("rayClusterName"))
                with JobsClient(action.dashboard_url, token=token) as client:
                    client.submit_request(action, base_dir=_source_dir(job))
            except JobsClientError as exc:
                state["submit_error"] = str(exc)
        elif isinstance(action, StopJob):
            self._stop_job(action, self._token(ns, status.get("rayClusterName")))
        elif isinstance(action, DeleteSelf):
            self.store.mark_deleting("RayJob", ns, stored.name)

    def _create_submitter(
        self,
        stored: StoredResource,
        job: RayJob,
        action: CreateSubmitter,
        state: dict[str, Any],
        cluster: str | None = None,
    ) -> None:
        spec = job.spec.ray_cluster_spec
        version = wanted_version(spec.ray_version if spec else None, self.settings.ray_versions)
        python = ready_python(self.settings.home, version) if version else None
        # `ray job submit` reads RAY_AUTH_MODE/RAY_AUTH_TOKEN; the local default turns auth
        # on where the pure reconciler (KubeRay's rule) sees no authOptions.
        token = self._token(stored.namespace, cluster)
        auth = auth_env(token) if token else {}
        cwd = _source_dir(job) or Path.cwd()
        self.submitters.create(stored, action, state, cwd=cwd, python=python, auth=auth)

    def _token(self, namespace: str, cluster: str | None) -> str | None:
        """The auth token of the job's cluster, for every Jobs API call to it."""
        found = self.store.get("RayCluster", namespace, cluster) if cluster else None
        return token_of(self.store, found)

    def _stop_job(self, action: StopJob, token: str | None) -> None:
        try:
            with JobsClient(action.dashboard_url, timeout=5, token=token) as client:
                client.stop(action.job_id)
        except JobsClientError as exc:
            log.warning("could not stop Ray job %s: %s", action.job_id, exc)

    # deletion ---------------------------------------------------------------------------------

    def _finalize(self, stored: StoredResource, job: RayJob, state: dict[str, Any]) -> None:
        """Stop the Ray job if it may still run, then the submitter, then owned clusters."""
        if not state.get("finalized"):
            cluster = (stored.status or {}).get("rayClusterName")
            for action in finalize_job(job, self._observe(stored, job, state)):
                if isinstance(action, StopJob):
                    self._stop_job(action, self._token(stored.namespace, cluster))
            self.submitters.delete(state)
            state["finalized"] = True
            self.store.set_runtime_state(stored.uid, state)
        owned = self.store.owned_by(stored.uid)
        for child in owned:
            if child.deleting is None:
                self.store.mark_deleting(child.kind, child.namespace, child.name)
        if not owned:
            self.history.remove(stored.namespace, stored.name)
            if state.get("submitter_log"):
                remove_submitter_files(Path(state["submitter_log"]))
            self.store.remove(stored.uid)

    # history ----------------------------------------------------------------------------------

    def _archive(
        self, stored: StoredResource, name: str, state: dict[str, Any], status: dict[str, Any]
    ) -> None:
        """Keep the attempt's driver log, submitter output, status and events before its
        cluster is deleted (the head's session logs and dashboard go with the cluster).

        The cluster's node logs are added when its nodes have stopped (see
        :func:`rayplane.local.history.finish_cluster`). A failure to write is a Warning
        event and not a stuck delete: a full disk must not keep a cluster running.
        """
        cluster = self.store.get("RayCluster", stored.namespace, name)
        if cluster is None or cluster.deleting is not None:
            return
        try:
            attempt = self.history.begin(stored.namespace, stored.name, stored.uid, name)
            self._keep_driver_log(attempt, cluster, status)
            sub = state.get("submitter")
            if sub and sub.get("log"):
                self.history.keep_submitter_log(
                    attempt, Path(sub["log"]), int(sub.get("log_start") or 0)
                )
            self.history.record_end(
                attempt, status, job_events(self.store, stored.uid, cluster.uid)
            )
        except OSError as exc:
            self.store.event(
                stored.uid,
                "HistoryNotKept",
                f"could not keep the logs of RayCluster {name} before deleting it: {exc}",
                "Warning",
            )

    def _keep_driver_log(
        self, attempt: Attempt, cluster: StoredResource, status: dict[str, Any]
    ) -> None:
        """The driver log from the session logs of the node that ran the job (read from
        the file, so only its tail is read), else through the Jobs API."""
        job_id = status.get("jobId")
        if not job_id:
            return
        for node in self.store.nodes(cluster.uid):
            path = _driver_log(Path(node.temp_dir), job_id)
            if path is not None and self.history.keep_driver_log(attempt, path):
                return
        url = status.get("dashboardURL")
        if not url:
            return
        try:
            with JobsClient(url, timeout=5, token=token_of(self.store, cluster)) as client:
                self.history.keep_driver_text(attempt, client.logs(job_id))
        except JobsClientError as exc:
            attempt.manifest["driverLogMissing"] = f"the Jobs API did not answer: {exc}"

    def history_of(self, stored: StoredResource) -> list[dict[str, Any]]:
        """The kept attempts of a RayJob, for `describe`."""
        return [a.summary() for a in self.history.attempts(stored.namespace, stored.name)]

    def describe_cluster(self, stored: StoredResource) -> StoredResource | None:
        name = (stored.status or {}).get("rayClusterName")
        return self.store.get("RayCluster", stored.namespace, name) if name else None


def _driver_log(temp_dir: Path, job_id: str) -> Path | None:
    """Where Ray wrote a job's driver output on a node, if it ran there.

    Looked up in every session of the node's temp dir (a restarted head starts a new one),
    the newest first. None for a job ID that is not a plain file name, which Ray would not
    have used for a file either.
    """
    if "/" in job_id or job_id.startswith("."):
        return None
    found = [
        path
        for path in temp_dir.glob(f"session_*/logs/job-driver-{glob.escape(job_id)}.log")
        if path.parts[-3] != "session_latest" and path.is_file()
    ]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def _source_dir(job: RayJob) -> Path | None:
    value = job.annotation(SOURCE_DIR)
    return Path(value) if value else None
