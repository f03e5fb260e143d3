"""RayJob on the local runtime: the pure RayJob reconciler's actions carried out here.

The job's RayCluster is an ordinary stored RayCluster (owned by the RayJob, so it goes
when the job goes), the K8sJobMode submitter Job becomes a local process running
KubeRay's own submitter script, and HTTPMode talks to the dashboard directly. Everything
the runtime must remember between passes (submitter PID, attempts, exit code) lives in
the store, so a restarted controller neither loses a submitter nor submits twice.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shlex
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rayplane.api.k8s import Container
from rayplane.api.raycluster import RayClusterStatus
from rayplane.api.rayjob import RayJob
from rayplane.api.validation.gates import FeatureGates
from rayplane.clients.jobs_api import JobsClient, JobsClientError
from rayplane.local import process
from rayplane.local.configrefs import CONFIG_ERROR, ConfigError, StoreConfigs
from rayplane.local.env import container_env
from rayplane.local.history import Attempt, History, job_events
from rayplane.local.homepaths import make_dir
from rayplane.local.logs import log_tail
from rayplane.local.store import Store, StoredResource
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
    ObservedSubmitter,
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


class JobRuntime:
    """Drives every RayJob in the store through KubeRay's lifecycle."""

    def __init__(
        self, settings: LocalSettings, store: Store, gates: FeatureGates | None = None
    ) -> None:
        self.settings = settings
        self.store = store
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
            try:
                with JobsClient(status.dashboard_url, timeout=2) as client:
                    info = client.get(status.job_id)
                ray_job = NOT_FOUND if info is None else info
            except JobsClientError as exc:
                dashboard_error = str(exc)
        return ObservedJob(
            cluster=cluster,
            submitter=self._observe_submitter(stored, state),
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

    # submitter process ----------------------------------------------------------------------

    def _observe_submitter(
        self, stored: StoredResource, state: dict[str, Any]
    ) -> ObservedSubmitter | None:
        sub = state.get("submitter")
        if not sub:
            return None
        if sub.get("phase") in ("succeeded", "failed"):
            return _submitter(sub)
        if process.is_alive(sub["pid"], sub["create_time"]):
            return ObservedSubmitter(phase="running")
        code = _exit_code(Path(sub["exit_file"]))
        if code == 0:
            sub.update(phase="succeeded", exit_code=0, finished_at=time.time())
        elif sub["attempts"] <= sub["backoff_limit"]:
            # The local twin of a Job's pod retries: run the script again (it checks
            # `ray job status` before submitting, so a retry never submits twice).
            self.store.event(
                stored.uid,
                "SubmitterRetry",
                f"submitter exited {code}; attempt "
                f"{sub['attempts'] + 1} of {sub['backoff_limit'] + 1}",
                "Warning",
            )
            self._spawn_submitter(stored, sub)
            return ObservedSubmitter(phase="running")
        else:
            sub.update(
                phase="failed",
                exit_code=code,
                finished_at=time.time(),
                message=log_tail(sub["log"], 3),
            )
        return _submitter(sub)

    def _spawn_submitter(self, stored: StoredResource, sub: dict[str, Any]) -> None:
        Path(sub["exit_file"]).unlink(missing_ok=True)
        wrapped = [
            "/bin/bash",
            "-c",
            f"{shlex.join(sub['command'])}; code=$?; "
            f"echo $code > {shlex.quote(sub['exit_file'])}; exit $code",
        ]
        env = dict(sub["env"])
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
        started = process.spawn(wrapped, env, Path(sub["log"]), cwd=Path(sub["cwd"]))
        sub.update(
            pid=started.pid,
            create_time=started.create_time,
            marker=started.marker,
            attempts=sub.get("attempts", 0) + 1,
            phase="running",
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
            self._create_submitter(stored, job, action, state)
        elif isinstance(action, DeleteSubmitter):
            self._delete_submitter(state)
        elif isinstance(action, SubmitJob):
            try:
                with JobsClient(action.dashboard_url) as client:
                    client.submit(
                        action.entrypoint,
                        submission_id=action.job_id,
                        runtime_env=action.runtime_env,
                        metadata=action.metadata,
                        entrypoint_num_cpus=action.entrypoint_num_cpus,
                        entrypoint_num_gpus=action.entrypoint_num_gpus,
                        entrypoint_resources=action.entrypoint_resources,
                        base_dir=_source_dir(job),
                    )
            except JobsClientError as exc:
                state["submit_error"] = str(exc)
        elif isinstance(action, StopJob):
            self._stop_job(action)
        elif isinstance(action, DeleteSelf):
            self.store.mark_deleting("RayJob", ns, stored.name)

    def _create_submitter(
        self, stored: StoredResource, job: RayJob, action: CreateSubmitter, state: dict[str, Any]
    ) -> None:
        if state.get("submitter", {}).get("phase") == "running":
            return
        logs = make_dir(self.settings.home, "logs", stored.namespace, stored.name)
        container = action.template.spec.containers[0] if action.template.spec.containers else None
        command = list(action.command)
        if container is not None and container.command:
            # submitterPodTemplate's own command wins, as it does in KubeRay's Job.
            command = list(container.command) + list(container.args or [])
        labels = {"ray.io/originated-from-crd": "RayJob", "job-name": action.name}
        try:
            env, _ = container_env(
                Container(name="ray-job-submitter", env=list(action.env)),
                labels,
                action.name,
                stored.namespace,
                {},
                StoreConfigs(self.store),
                who="the submitter",
                strict=True,
            )
        except ConfigError as exc:
            # The submitter Pod would sit in CreateContainerConfigError; so does this job,
            # retried every pass, until the Secret or ConfigMap is applied.
            if state.get("submitter_config_error") != str(exc):
                state["submitter_config_error"] = str(exc)
                self.store.event(stored.uid, CONFIG_ERROR, str(exc), "Warning")
            return
        state.pop("submitter_config_error", None)
        exit_file = tempfile.mktemp(prefix="submitter-", dir=logs)
        log_path = logs / "submitter.log"
        sub: dict[str, Any] = {
            "name": action.name,
            "command": command,
            "env": env,
            "backoff_limit": action.backoff_limit,
            "attempts": 0,
            "log": str(log_path),
            # The log is appended to by every attempt; this one's output starts here.
            "log_start": log_path.stat().st_size if log_path.exists() else 0,
            "exit_file": exit_file,
            "cwd": str(_source_dir(job) or Path.cwd()),
        }
        self._spawn_submitter(stored, sub)
        state["submitter"] = sub
        state["submitter_log"] = sub["log"]  # removed with the RayJob
        self.store.event(stored.uid, "CreatedSubmitter", f"started submitter (pid {sub['pid']})")

    def _delete_submitter(self, state: dict[str, Any]) -> None:
        sub = state.pop("submitter", None)
        if sub and sub.get("pid"):
            process.stop_group(
                sub["pid"], sub["pid"], sub["create_time"], 5, marker=sub.get("marker")
            )

    def _stop_job(self, action: StopJob) -> None:
        try:
            with JobsClient(action.dashboard_url, timeout=5) as client:
                client.stop(action.job_id)
        except JobsClientError as exc:
            log.warning("could not stop Ray job %s: %s", action.job_id, exc)

    # deletion ---------------------------------------------------------------------------------

    def _finalize(self, stored: StoredResource, job: RayJob, state: dict[str, Any]) -> None:
        """Stop the Ray job if it may still run, then the submitter, then owned clusters."""
        if not state.get("finalized"):
            for action in finalize_job(job, self._observe(stored, job, state)):
                if isinstance(action, StopJob):
                    self._stop_job(action)
            self._delete_submitter(state)
            state["finalized"] = True
            self.store.set_runtime_state(stored.uid, state)
        owned = self.store.owned_by(stored.uid)
        for child in owned:
            if child.deleting is None:
                self.store.mark_deleting(child.kind, child.namespace, child.name)
        if not owned:
            self.history.remove(stored.namespace, stored.name)
            if state.get("submitter_log"):
                _remove_submitter_files(Path(state["submitter_log"]))
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
            with JobsClient(url, timeout=5) as client:
                self.history.keep_driver_text(attempt, client.logs(job_id))
        except JobsClientError as exc:
            attempt.manifest["driverLogMissing"] = f"the Jobs API did not answer: {exc}"

    def history_of(self, stored: StoredResource) -> list[dict[str, Any]]:
        """The kept attempts of a RayJob, for `describe`."""
        return [a.summary() for a in self.history.attempts(stored.namespace, stored.name)]

    def describe_cluster(self, stored: StoredResource) -> StoredResource | None:
        name = (stored.status or {}).get("rayClusterName")
        return self.store.get("RayCluster", stored.namespace, name) if name else None


def _submitter(sub: dict[str, Any]) -> ObservedSubmitter:
    finished = sub.get("finished_at")
    return ObservedSubmitter(
        phase=sub["phase"],
        finished_at=datetime.fromtimestamp(finished, UTC) if finished else None,
        reason="BackoffLimitExceeded" if sub["phase"] == "failed" else "",
        message=sub.get("message", ""),
        exit_code=sub.get("exit_code"),
    )


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


def _remove_submitter_files(log: Path) -> None:
    """The submitter's log and exit files; the directory too once nothing else is in it
    (a RayCluster of the same name keeps its node logs there)."""
    for path in [log, *log.parent.glob("submitter-*")]:
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        log.parent.rmdir()


def _exit_code(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return -1  # killed before it could write one


def _source_dir(job: RayJob) -> Path | None:
    value = job.annotation(SOURCE_DIR)
    return Path(value) if value else None
