"""The RayJob controller: observe, run the pure RayJob reconciler, carry out, write status.

The state machine (New -> Initializing -> Running -> Complete/Failed, retries, suspension,
deletion rules) is :func:`rayplane.reconcile.job.reconcile_job`'s; this module only turns the
world into an :class:`ObservedJob` and the plan's actions into API calls:

* the RayCluster (``status.rayClusterName``) and its status; the K8sJobMode submitter Job
  (named after the RayJob) and its Complete/Failed condition; in SidecarMode the head's
  ``ray-job-submitter`` container;
* the Ray job itself, from the dashboard (``GET /api/jobs/<id>``), only while the
  reconciler needs it;
* actions: create/delete the cluster (owned by the RayJob), suspend its workers, the
  ``<rayjob>-head-svc`` Service, the submitter Job (the builders' ``submitter_job``, whose
  script runs ``ray job status`` before ``ray job submit``), HTTPMode submission and stop
  through :class:`rayplane.clients.jobs_api.JobsClient`, deleting the RayJob itself.

Actions run before the status is written, and a failed action skips the write (the
reconciler's contract: a status must never get ahead of the children it describes). The
finalizer ``ray.io/rayjob-finalizer`` stops a still-running Ray job before the RayJob goes.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from rayplane.api.common import Resource
from rayplane.api.raycluster import RayClusterSpec
from rayplane.api.rayjob import RayJob, RayJobStatus
from rayplane.clients.jobs_api import JobsClient
from rayplane.kubernetes.auth_secret import cluster_token
from rayplane.kubernetes.builders import (
    BuildError,
    dashboard_port,
    head_fqdn,
    owner_head_service,
    submitter_job,
)
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.controller import KindController, parse_cluster
from rayplane.kubernetes.kube import KubeError, Obj
from rayplane.kubernetes.operator_context import OperatorContext
from rayplane.reconcile.gotime import parse_time
from rayplane.reconcile.job import (
    COMPLETE,
    FAILED,
    NOT_FOUND,
    RETRYING,
    SUBMITTER_CONTAINER_NAME,
    CreateCluster,
    CreateSubmitter,
    DeleteCluster,
    DeleteSelf,
    DeleteSubmitter,
    EnsureHeadService,
    JobAction,
    ObservedJob,
    ObservedJobCluster,
    ObservedSubmitter,
    StopJob,
    SubmitJob,
    SuspendWorkers,
    finalize_job,
    reconcile_job,
    validation_failed,
    wants_ray_job,
)
from rayplane.reconcile.kuberay import RAYJOB_FINALIZER as FINALIZER

DEFAULT_DASHBOARD_PORT = 8265
ERROR_REQUEUE_SECONDS = 3.0


def _wire(status: RayJobStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


# -- observation -----------------------------------------------------------------------------------


def _batch_job_submitter(raw_job: Obj) -> ObservedSubmitter:
    status = raw_job.get("status") or {}
    deleting = bool(raw_job["metadata"].get("deletionTimestamp"))
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        finished = parse_time(condition.get("lastTransitionTime"))
        if condition.get("type") == "Failed":
            return ObservedSubmitter(
                phase="failed",
                finished_at=finished,
                reason=str(condition.get("reason") or "BackoffLimitExceeded"),
                message=str(condition.get("message") or ""),
                deleting=deleting,
            )
        if condition.get("type") == "Complete":
            return ObservedSubmitter(phase="succeeded", finished_at=finished, deleting=deleting)
    return ObservedSubmitter(phase="running", deleting=deleting)


def _sidecar_submitter(head: Obj) -> ObservedSubmitter | None:
    for container in (head.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") != SUBMITTER_CONTAINER_NAME:
            continue
        terminated = (container.get("state") or {}).get("terminated")
        if not terminated:
            return None
        code = int(terminated.get("exitCode") or 0)
        return ObservedSubmitter(
            phase="succeeded" if code == 0 else "failed",
            finished_at=parse_time(terminated.get("finishedAt")),
            reason=str(terminated.get("reason") or ""),
            message=str(terminated.get("message") or ""),
            exit_code=code,
        )
    return None


class RayJobController(KindController[RayJob, None]):
    """RayJobs; remembers the error of the previous pass's HTTPMode submission."""

    kind: ClassVar[str] = "RayJob"
    model = RayJob

    def __init__(self, ctx: OperatorContext) -> None:
        super().__init__(ctx)
        self.submit_errors: dict[tuple[str, str], str] = {}
        # (namespace, rayjob) -> its cluster's auth token, read from the Secret by _observe
        self.tokens: dict[tuple[str, str], str | None] = {}

    async def read(self, namespace: str, name: str) -> tuple[Obj | None, None]:
        return await self.ctx.kube.get("RayJob", namespace, name), None

    def forget(self, namespace: str, name: str) -> None:
        self.ctx.metrics.job_gone(namespace, name)
        self.submit_errors.pop((namespace, name), None)

    async def invalid(self, raw: Obj, model: Resource | None, message: str) -> float | None:
        """KubeRay's ValidationFailed status; a deleted invalid RayJob loses its finalizer."""
        meta = raw["metadata"]
        if not meta.get("deletionTimestamp"):
            await self._write_validation_failed(raw, model, message)
        elif FINALIZER in (meta.get("finalizers") or []):
            await self.ctx.set_finalizer(raw, FINALIZER, False)
        return None

    async def sync(self, raw: Obj, model: RayJob, reads: None) -> float | None:
        meta = raw["metadata"]
        deleting = bool(meta.get("deletionTimestamp"))
        job = model
        if deleting:
            if FINALIZER in (meta.get("finalizers") or []):
                observed = await self._observe(job)
                for action in finalize_job(job, observed):
                    if isinstance(action, StopJob):
                        await self._stop(job, action)
                await self.ctx.set_finalizer(raw, FINALIZER, False)
                self.tokens.pop((job.namespace, job.name), None)
            return None
        if FINALIZER not in (meta.get("finalizers") or []):
            raw = await self.ctx.set_finalizer(raw, FINALIZER, True)

        observed = await self._observe(job)
        now = self.ctx.clock()
        plan = reconcile_job(job, observed, now, options=self.ctx.config.job_options)
        for action in plan.actions:
            try:
                await self._carry_out(job, plan.status, observed, action)
            except (KubeError, BuildError) as exc:
                await self.ctx.event(
                    raw, "FailedAction", f"{type(action).__name__}: {exc}", warning=True
                )
                return ERROR_REQUEUE_SECONDS
            if isinstance(action, DeleteSelf):
                return None
        for event in plan.events:  # once: a decision repeated until observed is one Event
            await self.ctx.event(raw, event.reason, event.message, warning=event.warns, once=True)
        if plan.changed:
            await self.ctx.write_status(raw, _wire(plan.status))
        self._record_metrics(job, plan.status, now)
        return plan.requeue_after

    async def _write_validation_failed(self, raw: Obj, model: Any, message: str) -> None:
        current = raw.get("status") or {}
        if (
            current.get("jobDeploymentStatus") == "ValidationFailed"
            and current.get("message") == message
        ):
            return
        if isinstance(model, RayJob):
            status = _wire(validation_failed(model, message))
        else:
            status = {
                **current,
                "jobDeploymentStatus": "ValidationFailed",
                "reason": "ValidationFailed",
                "message": message,
            }
        await self.ctx.write_status(raw, status)

    def _record_metrics(self, job: RayJob, status: RayJobStatus, now: Any) -> None:
        before = (job.status or RayJobStatus()).job_deployment_status or ""
        after = status.job_deployment_status or ""
        self.ctx.metrics.job_seen(job.namespace, job.name, after)
        if after != before and after in (COMPLETE, FAILED, RETRYING):
            started = parse_time(status.start_time)
            if started is not None:
                self.ctx.metrics.job_finished(
                    job.namespace,
                    job.name,
                    after,
                    status.failed or 0,
                    (now - started).total_seconds(),
                )

    # -- observation -------------------------------------------------------------------------

    async def _observe(self, job: RayJob) -> ObservedJob:
        status = job.status or RayJobStatus()
        ns = job.namespace
        cluster: ObservedJobCluster | None = None
        head_pods: list[Obj] | None = None
        if status.ray_cluster_name:
            raw_cluster = await self.ctx.kube.get("RayCluster", ns, status.ray_cluster_name)
            model = parse_cluster(raw_cluster) if raw_cluster is not None else None
            if raw_cluster is not None and model is not None:
                port = dashboard_port(model) or DEFAULT_DASHBOARD_PORT
                head_present = True
                if job.spec.submission_mode == "SidecarMode":
                    head_pods = await self.ctx.kube.select(
                        "Pod", ns, {L.CLUSTER: model.name, L.NODE_TYPE: L.HEAD}
                    )
                    head_present = bool(head_pods)
                groups = model.spec.worker_group_specs
                self.tokens[(ns, job.name)] = await cluster_token(self.ctx.kube, model)
                cluster = ObservedJobCluster(
                    name=model.name,
                    status=model.status or ObservedJobCluster(name="").status,
                    dashboard_url=f"{head_fqdn(model, self.ctx.config.build)}:{port}",
                    spec=model.spec,
                    deleting=bool(raw_cluster["metadata"].get("deletionTimestamp")),
                    head_present=head_present,
                    workers_suspended=bool(groups) and all(g.suspend for g in groups),
                )

        submitter: ObservedSubmitter | None = None
        if job.spec.submission_mode == "K8sJobMode":
            raw_job = await self.ctx.kube.get("Job", ns, job.name)
            if raw_job is not None:
                submitter = _batch_job_submitter(raw_job)
        elif job.spec.submission_mode == "SidecarMode" and head_pods:
            submitter = _sidecar_submitter(head_pods[0])

        observed = ObservedJob(
            cluster=cluster,
            submitter=submitter,
            submit_error=self.submit_errors.pop((ns, job.name), None),
        )
        if wants_ray_job(job) and status.job_id and status.dashboard_url:
            job_id, url = status.job_id, status.dashboard_url
            try:
                token = self.tokens.get((ns, job.name))
                info = await self.ctx.in_thread(lambda: self._jobs_client(url, token).get(job_id))
            except Exception as exc:
                observed = ObservedJob(
                    cluster=cluster,
                    submitter=submitter,
                    dashboard_error=str(exc),
                    submit_error=observed.submit_error,
                )
            else:
                observed = ObservedJob(
                    cluster=cluster,
                    submitter=submitter,
                    ray_job=info if info is not None else NOT_FOUND,
                    submit_error=observed.submit_error,
                )
        return observed

    def _jobs_client(self, url: str, token: str | None) -> JobsClient:
        """A client of the job's cluster's dashboard, with the cluster's token if it has
        token auth (read from its Secret by the last observe, as KubeRay reads it)."""
        return JobsClient(
            url,
            token=token,
            timeout=self.ctx.config.dashboard_timeout,
            transport=self.ctx.config.dashboard_transport,
        )

    # -- actions -----------------------------------------------------------------------------

    async def _carry_out(
        self,
        job: RayJob,
        status: RayJobStatus,
        observed: ObservedJob,
        action: JobAction,
    ) -> None:
        ns = job.namespace
        if isinstance(action, CreateCluster):
            await self.ctx.create_owned_cluster(
                job, action.name, action.spec, action.labels, action.annotations
            )
        elif isinstance(action, DeleteCluster):
            await self.ctx.kube.delete("RayCluster", ns, action.name)
        elif isinstance(action, SuspendWorkers):
            raw_cluster = await self.ctx.kube.get("RayCluster", ns, action.cluster_name)
            if raw_cluster is not None:
                groups = (raw_cluster.get("spec") or {}).get("workerGroupSpecs") or []
                patch = [
                    {"op": "add", "path": f"/spec/workerGroupSpecs/{i}/suspend", "value": True}
                    for i in range(len(groups))
                ]
                if patch:
                    await self.ctx.kube.patch(
                        "RayCluster", ns, action.cluster_name, patch, json_patch=True
                    )
        elif isinstance(action, EnsureHeadService):
            await self._ensure_head_service(job, action)
        elif isinstance(action, CreateSubmitter):
            known: tuple[str, RayClusterSpec] | None = None
            if observed.cluster is not None and observed.cluster.spec is not None:
                known = (observed.cluster.name, observed.cluster.spec)
            manifest = submitter_job(
                job, status.job_id or "", status.dashboard_url or "", known, self.ctx.config.build
            )
            await self.ctx.kube.ensure(manifest)
        elif isinstance(action, DeleteSubmitter):
            await self.ctx.kube.delete("Job", ns, action.name, "Background")
        elif isinstance(action, SubmitJob):
            await self._submit(job, action)
        elif isinstance(action, StopJob):
            await self._stop(job, action)
        elif isinstance(action, DeleteSelf):
            await self.ctx.kube.delete("RayJob", ns, job.name)

    async def _ensure_head_service(self, job: RayJob, action: EnsureHeadService) -> None:
        raw_cluster = await self.ctx.kube.get("RayCluster", job.namespace, action.cluster_name)
        model = parse_cluster(raw_cluster) if raw_cluster is not None else None
        if raw_cluster is None or model is None:
            return
        if not model.metadata.uid:
            model.metadata.uid = raw_cluster["metadata"].get("uid")
        wanted = owner_head_service(job, model, self.ctx.config.build)
        existing = await self.ctx.kube.get("Service", job.namespace, action.name)
        if existing is None:
            await self.ctx.kube.ensure(wanted)
        elif (existing.get("spec") or {}).get("selector") != wanted["spec"]["selector"]:
            patch = {"spec": {"selector": wanted["spec"]["selector"]}}
            await self.ctx.kube.patch("Service", job.namespace, action.name, patch)

    async def _submit(self, job: RayJob, action: SubmitJob) -> None:
        token = self.tokens.get((job.namespace, job.name))

        def call() -> None:
            with self._jobs_client(action.dashboard_url, token) as client:
                client.submit_request(action)

        try:
            await self.ctx.in_thread(call)
        except Exception as exc:
            self.submit_errors[(job.namespace, job.name)] = str(exc)

    async def _stop(self, job: RayJob, action: StopJob) -> None:
        token = self.tokens.get((job.namespace, job.name))

        def call() -> None:
            with self._jobs_client(action.dashboard_url, token) as client:
                client.stop(action.job_id)

        with contextlib.suppress(Exception):  # KubeRay ignores the outcome of the stop request
            await self.ctx.in_thread(call)
