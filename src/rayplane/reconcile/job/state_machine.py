"""The pure RayJob reconciler: (job, observed state, now) -> (actions, status).

Both runtimes call :func:`reconcile_job` on every pass with what they see (the job's
RayCluster, its submitter, the Ray job as the dashboard reports it) and carry out the
returned actions; neither decides on its own when a job is Complete, retried or cleaned up.
That keeps a RayJob's lifecycle the same on Kubernetes and on a laptop, and lets KubeRay's
state machine be pinned down by millisecond tests.

The rules are KubeRay's ``RayJobReconciler.Reconcile`` (ray-operator/controllers/ray/
rayjob_controller.go at feeaf72), with the RayJobDeletionPolicy gate on (its default):

* ``jobDeploymentStatus`` moves ""(New) -> Initializing -> [Waiting] -> Running ->
  Complete | Failed, with Suspending/Suspended and Retrying (a failed attempt with
  retries left deletes the cluster and submitter, resets the status and starts again
  from New with a new cluster name and job id). ValidationFailed is set by the caller
  (:func:`validation_failed`), as KubeRay sets it before the state machine runs.
* A pass either "breaks" (the status is computed, the backoff check runs, and the status is
  written) or "returns early" (nothing is written). As in KubeRay the status is only written
  when jobStatus, jobDeploymentStatus, the copied rayClusterStatus or
  jobStatusCheckFailureStartTime changed; otherwise ``JobPlan.status`` is the current status
  unchanged and ``changed`` is False. endTime is stamped when a terminal status is written.
* A runtime carries out the actions in order *before* writing the status, and skips the
  write if an action failed: KubeRay creates the cluster and the submitter before it
  records Running, and a status that got ahead of its children would never be repaired.

Where this differs from KubeRay, on purpose:

* A K8sJobMode submitter that vanished while Running is created again (KubeRay requeues
  with an error forever). The submitter script checks ``ray job status`` before it submits,
  so a second submitter never submits the job twice.
* The 30 s "submitter finished but the Ray job is not terminal" check does not fire when
  the Ray job *is* terminal in this pass's observation. KubeRay checks the clock first, so
  a controller that was stopped (a laptop asleep) would mark a SUCCEEDED job Failed.
* When activeDeadlineSeconds expires while Running, the Ray job is also stopped
  (:class:`StopJob`); KubeRay leaves it running on a cluster it may keep.
* A RayJob whose status has jobId, rayClusterName and jobStatus but no
  jobDeploymentStatus (only possible for a hand-written status) still moves to
  Initializing; KubeRay would leave it in New forever.
* HTTPMode submits through an action, so a failed submission is seen one pass later
  (``ObservedJob.submit_error``), and the status-check clock is cleared by the next
  successful GET rather than by the successful POST itself.
* A DeleteWorkers policy whose cluster is already gone does nothing (KubeRay requeues
  with a "not found" error every 3 s).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from rayplane.api.k8s import ObjectMeta, PodTemplateSpec
from rayplane.api.raycluster import RayClusterSpec, RayClusterStatus
from rayplane.api.rayjob import DeletionPolicyType, RayJob, RayJobInfo, RayJobStatus
from rayplane.reconcile import events as reasons
from rayplane.reconcile.events import Event
from rayplane.reconcile.gotime import format_time, from_ms, go_datetime, go_time, parse_time, utc
from rayplane.reconcile.job.model import (
    APP_FAILED,
    COMPLETE,
    DEADLINE_EXCEEDED,
    FAILED,
    GRACE_PERIOD_EXCEEDED,
    INITIALIZING,
    JOB_FAILED,
    JOB_SUCCEEDED,
    NEW,
    NOT_FOUND,
    PRE_RUNNING_DEADLINE_EXCEEDED,
    RETRYING,
    RUNNING,
    STATUS_CHECK_TIMEOUT_EXCEEDED,
    SUBMISSION_FAILED,
    SUSPENDED,
    SUSPENDING,
    TERMINAL_JOB_STATUSES,
    VALIDATION_FAILED,
    VALIDATION_FAILED_REASON,
    WAITING,
    CreateCluster,
    CreateSubmitter,
    DeleteCluster,
    DeleteSelf,
    DeleteSubmitter,
    EnsureHeadService,
    JobAction,
    JobPlan,
    ObservedJob,
    ObservedJobCluster,
    ObservedSubmitter,
    StopJob,
    SuspendWorkers,
    is_job_terminal,
)
from rayplane.reconcile.job.options import JobOptions
from rayplane.reconcile.job.submitter import (
    DEFAULT_SUBMITTER_BACKOFF_LIMIT,
    SUBMITTER_CONTAINER_NAME,
    configure_submitter,
    dashboard_port,
    default_submitter_container,
    http_submission,
    submitter_command,
)
from rayplane.reconcile.kuberay import (
    CLUSTER_LABEL,
    CREATED_BY,
    CREATED_BY_KUBERAY,
    DISABLE_PROVISIONED_HEAD_RESTART,
    JOB_SUBMISSION_MODE,
    KUBERAY_MANAGER,
    ORIGINATED_FROM_CR_NAME,
    ORIGINATED_FROM_CRD,
    random_suffix,
)

REQUEUE_SECONDS: Final = 3.0  # RayJobDefaultRequeueDuration
DELETION_REQUEUE_BUFFER_SECONDS: Final = 2.0  # requeueDelayFor adds 2 s to a TTL
SUBMITTER_FINISHED_TIMEOUT_SECONDS: Final = 30  # DefaultSubmitterFinishedTimeout
CRD_RAYJOB: Final = "RayJob"
_DELETION_IMPACT: Final[dict[str, int]] = {
    "DeleteSelf": 4,
    "DeleteCluster": 3,
    "DeleteWorkers": 2,
    "DeleteNone": 1,
}


def wants_ray_job(job: RayJob) -> bool:
    """Whether this pass needs the dashboard's view of the Ray job (``ObservedJob.ray_job``)."""
    status = job.status or RayJobStatus()
    return (
        (status.job_deployment_status or "") == RUNNING
        and bool(status.job_id)
        and bool(status.dashboard_url)
    )


def validation_failed(job: RayJob, message: str) -> RayJobStatus:
    """The status a caller writes when the RayJob fails validation (terminal, no requeue)."""
    fields = _fields(job.status or RayJobStatus())
    fields.update(
        job_deployment_status=VALIDATION_FAILED, reason=VALIDATION_FAILED_REASON, message=message
    )
    return _build(fields)


def finalize_job(job: RayJob, observed: ObservedJob | None = None) -> list[JobAction]:
    """What to do before a RayJob's finalizer is removed: stop a Ray job that may still run.

    KubeRay stops the job unless its jobStatus is terminal, ignores the outcome, and removes
    the finalizer ``ray.io/rayjob-finalizer`` either way. Nothing is sent when there is no
    job id or dashboard to send it to, or (given *observed*) when the cluster is gone.
    """
    status = job.status or RayJobStatus()
    if is_job_terminal(status.job_status) or not status.job_id or not status.dashboard_url:
        return []
    if observed is not None and observed.cluster is None:
        return []
    return [StopJob(status.job_id, status.dashboard_url)]


# -- the reconciler -----------------------------------------------------------------------------


def reconcile_job(
    job: RayJob,
    observed: ObservedJob,
    now: datetime,
    rand: Callable[[], str] = random_suffix,
    options: JobOptions | None = None,
) -> JobPlan:
    """Plan one pass for *job* given *observed*; pure, so the same inputs give the same plan.

    *rand* makes the 5-character suffixes of generated cluster names and job ids (injected
    so tests are deterministic). A RayJob with a deletionTimestamp gets
    :func:`finalize_job`'s actions; one managed by another controller (spec.managedBy) is
    left alone, as KubeRay leaves it.
    """
    current = job.status or RayJobStatus()
    managed_by = job.spec.managed_by
    if managed_by and managed_by != KUBERAY_MANAGER:
        skipped = f"Skipped: the RayJob is managed by {managed_by}"
        return JobPlan(current, [], None, [Event.normal(reasons.MANAGED_ELSEWHERE, skipped)])
    if job.metadata.deletion_timestamp:
        return JobPlan(current, list(finalize_job(job, observed)), None, [])
    return _Pass(job, observed, utc(now), rand, options or JobOptions()).run()


@dataclass(frozen=True)
class _Outcome:
    """How a state handler ended: ``write`` for KubeRay's ``break`` (status is written
    after the backoff check), False for an early ``return`` (nothing is written)."""

    write: bool
    requeue: float | None = REQUEUE_SECONDS


_BREAK: Final = _Outcome(True)
_WAIT: Final = _Outcome(False)
_DONE: Final = _Outcome(False, None)


class _Pass:
    """The mutable bookkeeping of one pass: the status fields KubeRay mutates in memory,
    and the actions and events so far."""

    def __init__(
        self,
        job: RayJob,
        observed: ObservedJob,
        now: datetime,
        rand: Callable[[], str],
        options: JobOptions,
    ) -> None:
        self.job = job
        self.spec = job.spec
        self.observed = observed
        self.now = now
        self.rand = rand
        self.options = options
        self.previous = job.status or RayJobStatus()
        self.fields = _fields(self.previous)
        self.actions: list[JobAction] = []
        self.events: list[Event] = []
        self.error: str | None = None

    # status fields --------------------------------------------------------------------------

    def get(self, name: str) -> str:
        value = self.fields.get(name)
        return value if isinstance(value, str) else ""

    def set(self, name: str, value: Any) -> None:
        if value is None or value == "":
            self.fields.pop(name, None)
        else:
            self.fields[name] = value

    def fail(self, reason: str, message: str) -> None:
        self.set("job_deployment_status", FAILED)
        self.set("reason", reason)
        self.set("message", message)

    def warn(self, reason: str, message: str) -> None:
        self.events.append(Event.warning(reason, message))
        if self.error is None:
            self.error = message

    @property
    def state(self) -> str:
        return self.get("job_deployment_status")

    @property
    def mode(self) -> str:
        return self.spec.submission_mode

    @property
    def selector_name(self) -> str:
        return (self.spec.cluster_selector or {}).get(CLUSTER_LABEL, "")

    @property
    def uses_selector(self) -> bool:
        return bool(self.spec.cluster_selector)

    @property
    def where(self) -> str:
        return self.job.namespace

    # the pass -------------------------------------------------------------------------------

    def run(self) -> JobPlan:
        handlers: dict[str, Callable[[], _Outcome]] = {
            NEW: self.new,
            INITIALIZING: self.initializing,
            WAITING: self.waiting,
            RUNNING: self.running,
            SUSPENDING: self.tear_down,
            RETRYING: self.tear_down,
            SUSPENDED: self.suspended,
            COMPLETE: self.finished,
            FAILED: self.finished,
        }
        handler = handlers.get(self.state)
        # Unknown states (ValidationFailed among them) are requeued untouched, as KubeRay's
        # default branch does.
        outcome = handler() if handler is not None else _WAIT
        if not outcome.write:
            return JobPlan(
                self.previous, self.actions, outcome.requeue, self.events, False, self.error
            )
        self.check_backoff_limit()
        changed = self.kuberay_writes()
        if not changed:
            return JobPlan(
                self.previous, self.actions, outcome.requeue, self.events, False, self.error
            )
        if self.state in (COMPLETE, FAILED):
            self.set("end_time", format_time(self.now))
        old, new = self.previous.job_deployment_status or "", self.state
        if old != new:
            why = self.get("reason")
            detail = f" ({why}: {self.get('message')})" if why else ""
            self.events.append(
                Event.normal(
                    reasons.JOB_DEPLOYMENT_STATUS,
                    f"JobDeploymentStatus {old or 'New'} -> {new or 'New'}{detail}",
                )
            )
        return JobPlan(
            _build(self.fields), self.actions, outcome.requeue, self.events, True, self.error
        )

    def kuberay_writes(self) -> bool:
        """KubeRay's updateRayJobStatus gate: only these fields make it write the status."""
        previous = self.previous
        return (
            (previous.job_status or "") != self.get("job_status")
            or (previous.job_deployment_status or "") != self.state
            or _cluster_status_differs(
                previous.ray_cluster_status, self.fields.get("ray_cluster_status")
            )
            or (previous.job_status_check_failure_start_time or "")
            != self.get("job_status_check_failure_start_time")
        )

    # New ----------------------------------------------------------------------------------

    def new(self) -> _Outcome:
        """initRayJobStatusIfNeed: fix the job id and cluster name before anything exists, so
        that no retry of this pass can create a second cluster or submit a second job."""
        name = self.job.name
        if self.mode != "InteractiveMode" and not self.get("job_id"):
            self.set("job_id", self.spec.job_id or f"{name}-{self.rand()}")
        if not self.get("ray_cluster_name"):
            self.set("ray_cluster_name", self.selector_name or f"{name}-{self.rand()}")
        self.set("job_deployment_status", INITIALIZING)
        self.set("start_time", format_time(self.now))
        return _BREAK

    # Initializing ---------------------------------------------------------------------------

    def initializing(self) -> _Outcome:
        if self.to_suspending() or self.active_deadline() or self.pre_running_deadline():
            return _BREAK
        cluster = self.get_or_create_cluster()
        if cluster is None:
            return _WAIT
        if not self.get("dashboard_url"):
            if not cluster.ready:
                self.set("ray_cluster_status", cluster.status)
                return _BREAK
            if not cluster.dashboard_url:
                self.warn(
                    reasons.RECONCILE_ERROR,
                    f"RayCluster {cluster.name} is ready but its dashboard URL is unknown",
                )
                return _WAIT
            self.set("dashboard_url", cluster.dashboard_url)
        if self.mode == "InteractiveMode":
            self.set("job_deployment_status", WAITING)
            return _BREAK
        if self.mode == "K8sJobMode" and self.observed.submitter is None:
            try:
                self.create_submitter(cluster)
            except ValueError as exc:
                self.warn(
                    reasons.FAILED_TO_CREATE_RAY_JOB_SUBMITTER, f"cannot build the submitter: {exc}"
                )
                return _WAIT
        self.set("job_deployment_status", RUNNING)
        return _BREAK

    # Waiting --------------------------------------------------------------------------------

    def waiting(self) -> _Outcome:
        """InteractiveMode: the user submits the job and then sets spec.jobId."""
        if self.pre_running_deadline():
            return _BREAK
        if not self.spec.job_id:
            return _WAIT
        self.set("job_id", self.spec.job_id)
        self.set("job_deployment_status", RUNNING)
        return _BREAK

    # Running --------------------------------------------------------------------------------

    def running(self) -> _Outcome:
        if self.to_suspending():
            return _BREAK
        if self.active_deadline():
            job_id, url = self.get("job_id"), self.get("dashboard_url")
            if job_id and url:
                self.actions.append(StopJob(job_id, url))
            return _BREAK
        if self.grace_period_exceeded() or self.status_check_timed_out():
            return _BREAK
        cluster = self.get_or_create_cluster()
        if cluster is None:
            return _WAIT
        if not self.uses_selector:
            self.actions.append(EnsureHeadService(f"{self.job.name}-head-svc", cluster.name))

        finished_at: datetime | None = None
        if self.mode in ("K8sJobMode", "SidecarMode"):
            checked = self.check_submitter(cluster)
            if checked is None:
                return _WAIT
            submitter_failed, finished_at = checked
            if self.submitter_finished_timeout(finished_at) or submitter_failed:
                return _BREAK

        ray_job = self.observed.ray_job
        if ray_job == NOT_FOUND:
            if self.mode == "HTTPMode":
                try:
                    self.actions.append(
                        http_submission(self.job, self.get("job_id"), self.get("dashboard_url"))
                    )
                except ValueError as exc:
                    self.warn(reasons.INVALID_RAY_JOB_SPEC, f"cannot submit the Ray job: {exc}")
                if self.observed.submit_error is not None:
                    self.warn(
                        reasons.FAILED_TO_SUBMIT_RAY_JOB,
                        f"submitting the Ray job failed: {self.observed.submit_error}",
                    )
                    return _BREAK if self.record_status_check_failure() else _WAIT
                return _WAIT
            if finished_at is not None:
                self.fail(APP_FAILED, "Submitter completed but Ray job not found in RayCluster.")
                return _BREAK
            return _WAIT
        if ray_job is None or isinstance(ray_job, str):
            if self.observed.dashboard_error is not None:
                self.warn(
                    reasons.FAILED_TO_GET_RAY_JOB_STATUS,
                    f"cannot get the Ray job's status: {self.observed.dashboard_error}",
                )
                return _BREAK if self.record_status_check_failure() else _WAIT
            return _WAIT

        self.set("job_status_check_failure_start_time", None)
        terminal = ray_job.status in TERMINAL_JOB_STATUSES
        if self.mode in ("K8sJobMode", "SidecarMode"):
            # PR #1919: the driver's logs are only complete once the submitter has finished.
            terminal = terminal and finished_at is not None
        deployment, reason = RUNNING, ""
        if terminal:
            deployment = COMPLETE
            if ray_job.status == JOB_FAILED:
                deployment, reason = FAILED, APP_FAILED
        self.set("ray_cluster_status", cluster.status)
        self.set("job_status", ray_job.status)
        self.set("job_deployment_status", deployment)
        self.set("reason", reason)
        self.set("message", ray_job.message)
        info = self.fields.get("ray_job_info")
        times: dict[str, Any] = {}
        if isinstance(info, RayJobInfo):
            times = {k: v for k, v in info if v is not None}
        if ray_job.start_time:
            times["start_time"] = format_time(from_ms(ray_job.start_time))
        if ray_job.end_time:
            times["end_time"] = format_time(from_ms(ray_job.end_time))
        self.set("ray_job_info", RayJobInfo.model_validate(times) if times else None)
        return _BREAK

    def check_submitter(self, cluster: ObservedJobCluster) -> tuple[bool, datetime | None] | None:
        """checkSubmitterAndUpdateStatusIfNeeded: (failed, finished_at); None to wait."""
        submitter = self.observed.submitter
        job_failed = self.get("job_status") == JOB_FAILED
        if self.mode == "SidecarMode":
            if not cluster.head_present:
                self.fail(APP_FAILED, "Ray head pod not found.")
                return True, None
            failed = submitter is not None and submitter.phase == "failed"
            if failed and submitter is not None:
                if job_failed:
                    self.fail(APP_FAILED, self.get("message"))
                elif self.options.sidecar_submitter_restart:
                    self.fail(
                        SUBMISSION_FAILED,
                        f"Ray head pod submitter container {SUBMITTER_CONTAINER_NAME} "
                        "terminated after exceeding the maximum restart count",
                    )
                else:
                    self.fail(
                        SUBMISSION_FAILED,
                        f"Ray head pod container {SUBMITTER_CONTAINER_NAME} terminated with "
                        f"exit code {submitter.exit_code or 0}: {submitter.reason}",
                    )
            return failed, _finished_at(submitter)

        if submitter is None:
            self.warn(
                reasons.RAY_JOB_SUBMITTER_NOT_FOUND,
                f"the submitter {self.job.name} is missing; creating it again",
            )
            try:
                self.create_submitter(cluster)
            except ValueError as exc:
                self.warn(
                    reasons.FAILED_TO_CREATE_RAY_JOB_SUBMITTER, f"cannot build the submitter: {exc}"
                )
            return None
        if submitter.phase == "failed":
            if job_failed:
                self.fail(APP_FAILED, self.get("message"))
            else:
                self.fail(
                    SUBMISSION_FAILED,
                    f"Job submission has failed. Reason: {submitter.reason}. "
                    f"Message: {submitter.message}",
                )
            return True, _finished_at(submitter)
        return False, _finished_at(submitter)

    def submitter_finished_timeout(self, finished_at: datetime | None) -> bool:
        """A submitter that finished 30 s ago while the Ray job is still not terminal."""
        if finished_at is None:
            return False
        if self.now < finished_at + timedelta(seconds=SUBMITTER_FINISHED_TIMEOUT_SECONDS):
            return False
        ray_job = self.observed.ray_job
        if ray_job is not None and not isinstance(ray_job, str) and is_job_terminal(ray_job.status):
            return False  # deliberate: see the module docstring
        self.set("job_status", JOB_FAILED)
        self.fail(
            GRACE_PERIOD_EXCEEDED,
            f"The RayJob submitter finished at {go_datetime(finished_at)} but the ray job did "
            f"not reach terminal state within {SUBMITTER_FINISHED_TIMEOUT_SECONDS}s",
        )
        return True

    def record_status_check_failure(self) -> bool:
        """Start the status-check timeout clock; True if it was not running yet."""
        if self.get("job_status_check_failure_start_time"):
            return False
        self.set("job_status_check_failure_start_time", format_time(self.now))
        return True

    # Suspending / Retrying ------------------------------------------------------------------

    def tear_down(self) -> _Outcome:
        """Delete the cluster and the submitter, wait until both are gone, then reset.

        Suspension is atomic: once Suspending, the job ends Suspended even if suspend is
        flipped back meanwhile.
        """
        cluster_gone = True
        cluster = self.observed.cluster
        if not self.uses_selector and cluster is not None:
            cluster_gone = False
            if not cluster.deleting:
                self.delete_cluster(cluster.name)
        submitter_gone = True
        submitter = self.observed.submitter
        if self.mode not in ("HTTPMode", "SidecarMode") and submitter is not None:
            submitter_gone = False
            if not submitter.deleting:
                self.actions.append(DeleteSubmitter(self.job.name))
                self.events.append(
                    Event.normal(
                        reasons.DELETED_RAY_JOB_SUBMITTER,
                        f"Deleting submitter {self.where}/{self.job.name}",
                    )
                )
        if not (cluster_gone and submitter_gone):
            return _WAIT
        for name in (
            "ray_cluster_status",
            "ray_cluster_name",
            "dashboard_url",
            "job_id",
            "message",
            "reason",
            "ray_job_info",
            "job_status_check_failure_start_time",
            "job_status",
        ):
            self.set(name, None)
        self.set("job_deployment_status", SUSPENDED if self.state == SUSPENDING else NEW)
        return _BREAK

    # Suspended ------------------------------------------------------------------------------

    def suspended(self) -> _Outcome:
        if self.spec.suspend:
            return _DONE
        self.set("job_status", None)
        self.set("job_deployment_status", NEW)
        return _BREAK

    # Complete / Failed ----------------------------------------------------------------------

    def finished(self) -> _Outcome:
        """Cleanup of a finished job; never touches a cluster picked by clusterSelector."""
        if self.uses_selector:
            return _DONE
        strategy = self.spec.deletion_strategy
        if self.options.deletion_policy and strategy is not None:
            if strategy.deletion_rules is not None:
                return self.deletion_rules()
            return self.legacy_policy()
        if self.spec.shutdown_after_job_finishes:
            return self.shutdown_after_finish()
        return _DONE

    def end_time(self) -> datetime:
        return parse_time(self.get("end_time")) or self.now

    def deletion_rules(self) -> _Outcome:
        """handleDeletionRules: of the overdue rules not yet done, the most destructive runs
        (one per pass); the next pending TTL decides the requeue."""
        rules = (self.spec.deletion_strategy and self.spec.deletion_strategy.deletion_rules) or []
        end = self.end_time()
        overdue: list[DeletionPolicyType] = []
        next_at: datetime | None = None
        for rule in rules:
            condition = rule.condition
            if condition.job_status is not None:
                matched = condition.job_status == self.get("job_status")
            else:
                matched = condition.job_deployment_status == self.state
            if not matched:
                continue
            at = end + timedelta(seconds=condition.ttl_seconds)
            if self.now < at:
                next_at = at if next_at is None or at < next_at else next_at
                continue
            if self.deletion_done(rule.policy):
                continue
            overdue.append(rule.policy)
        if overdue:
            chosen = overdue[0]
            for policy in overdue[1:]:
                if _DELETION_IMPACT[policy] > _DELETION_IMPACT[chosen]:
                    chosen = policy
            self.execute(chosen)
        if next_at is None:
            return _DONE
        return _Outcome(False, self.requeue_until(next_at))

    def deletion_done(self, policy: DeletionPolicyType) -> bool:
        cluster = self.observed.cluster
        if policy == "DeleteWorkers":
            return cluster is None or cluster.deleting or cluster.workers_suspended
        if policy == "DeleteCluster":
            return cluster is None or cluster.deleting
        return policy == "DeleteNone"

    def legacy_policy(self) -> _Outcome:
        """onSuccess/onFailure after ttlSecondsAfterFinished; chosen by jobStatus, so a job
        that failed before Ray reported anything gets neither."""
        strategy = self.spec.deletion_strategy
        assert strategy is not None
        job_status = self.get("job_status")
        if job_status == JOB_SUCCEEDED:
            chosen = strategy.on_success
        elif job_status == JOB_FAILED:
            chosen = strategy.on_failure
        else:
            return _DONE
        policy = chosen.policy if chosen is not None else None
        if policy is None or policy == "DeleteNone":
            return _DONE
        at = self.end_time() + timedelta(seconds=self.spec.ttl_seconds_after_finished)
        if at > self.now:
            return _Outcome(False, self.requeue_until(at))
        self.execute(policy)
        return _DONE

    def shutdown_after_finish(self) -> _Outcome:
        """shutdownAfterJobFinishes: delete the cluster after the TTL and keep the submitter
        (its logs stay readable, and a finished Job uses nothing)."""
        at = self.end_time() + timedelta(seconds=self.spec.ttl_seconds_after_finished)
        if at > self.now:
            return _Outcome(False, self.requeue_until(at))
        if self.options.delete_rayjob_after_job_finishes:
            self.execute("DeleteSelf")
        else:
            self.execute("DeleteCluster")
        return _DONE

    def execute(self, policy: DeletionPolicyType) -> None:
        cluster = self.observed.cluster
        if policy == "DeleteCluster":
            if cluster is not None and not cluster.deleting:
                self.delete_cluster(cluster.name)
        elif policy == "DeleteWorkers":
            if cluster is not None and not cluster.deleting:
                self.actions.append(SuspendWorkers(cluster.name))
                self.events.append(
                    Event.normal(
                        reasons.SUSPENDED_WORKERS,
                        "Setting suspend: true on all worker groups of cluster "
                        f"{self.where}/{cluster.name}",
                    )
                )
        elif policy == "DeleteSelf":
            self.actions.append(DeleteSelf())
            self.events.append(
                Event.normal(
                    reasons.DELETING_RAY_JOB, f"Deleting RayJob {self.where}/{self.job.name}"
                )
            )

    def requeue_until(self, moment: datetime) -> float:
        return (moment - self.now).total_seconds() + DELETION_REQUEUE_BUFFER_SECONDS

    # shared checks --------------------------------------------------------------------------

    def to_suspending(self) -> bool:
        if not self.spec.suspend or self.state not in (RUNNING, INITIALIZING):
            return False
        self.set("job_deployment_status", SUSPENDING)
        return True

    def active_deadline(self) -> bool:
        seconds = self.spec.active_deadline_seconds
        start = parse_time(self.get("start_time"))
        if seconds is None or start is None or self.now < start + timedelta(seconds=seconds):
            return False
        self.fail(
            DEADLINE_EXCEEDED,
            f"The RayJob has passed the activeDeadlineSeconds. StartTime: {go_time(start)}. "
            f"ActiveDeadlineSeconds: {seconds}",
        )
        return True

    def pre_running_deadline(self) -> bool:
        seconds = self.spec.pre_running_deadline_seconds
        start = parse_time(self.get("start_time"))
        if seconds is None or start is None or self.now < start + timedelta(seconds=seconds):
            return False
        self.fail(
            PRE_RUNNING_DEADLINE_EXCEEDED,
            f"The RayJob has passed the preRunningDeadlineSeconds. StartTime: {go_time(start)}. "
            f"PreRunningDeadlineSeconds: {seconds}",
        )
        return True

    def grace_period_exceeded(self) -> bool:
        """A terminal Ray job whose RayJob has not followed within the grace period."""
        job_status = self.get("job_status")
        if not is_job_terminal(job_status) or self.state != RUNNING:
            return False
        info = self.fields.get("ray_job_info")
        end = parse_time(info.end_time) if isinstance(info, RayJobInfo) else None
        grace = timedelta(seconds=self.options.transition_grace_period_seconds)
        if end is None or self.now < end + grace:
            return False
        self.set("job_deployment_status", FAILED if job_status == JOB_FAILED else COMPLETE)
        self.set("reason", GRACE_PERIOD_EXCEEDED)
        self.set(
            "message",
            "JobDeploymentStatus does not transition to Complete or Failed within the grace "
            "period after JobStatus reaches a terminal state.",
        )
        return True

    def status_check_timed_out(self) -> bool:
        start = parse_time(self.get("job_status_check_failure_start_time"))
        timeout = self.options.status_check_timeout_seconds
        if start is None or self.now < start + timedelta(seconds=timeout):
            return False
        self.fail(
            STATUS_CHECK_TIMEOUT_EXCEEDED,
            f"Job status checks have been failing since {go_datetime(start)}; "
            f"exceeded timeout of {timeout}s",
        )
        return True

    def check_backoff_limit(self) -> None:
        """Count the attempt's outcome; a failure with retries left becomes Retrying, unless
        a deadline or the status-check timeout caused it (retrying would not help)."""
        failed = self.fields.get("failed") or 0
        succeeded = self.fields.get("succeeded") or 0
        if self.state == FAILED:
            failed += 1
        if self.get("job_status") == JOB_SUCCEEDED and self.state == COMPLETE:
            succeeded += 1
        self.fields["failed"] = failed
        self.fields["succeeded"] = succeeded
        if self.state == FAILED and failed < self.spec.backoff_limit + 1:
            if self.get("reason") in (DEADLINE_EXCEEDED, STATUS_CHECK_TIMEOUT_EXCEEDED):
                return
            self.set("job_deployment_status", RETRYING)

    # children -------------------------------------------------------------------------------

    def get_or_create_cluster(self) -> ObservedJobCluster | None:
        """The observed cluster; created when missing (None: a selected cluster is missing)."""
        cluster = self.observed.cluster
        if cluster is not None:
            return cluster
        name = self.get("ray_cluster_name")
        if self.uses_selector:
            self.warn(
                reasons.RAY_CLUSTER_NOT_FOUND,
                f"RayCluster {self.where}/{name} set in the clusterSelector is not found. It "
                "must be created manually",
            )
            return None
        if self.spec.ray_cluster_spec is None:
            self.warn(
                reasons.INVALID_RAY_JOB_SPEC,
                "the RayJob has neither rayClusterSpec nor clusterSelector",
            )
            return None
        self.actions.append(self.cluster_action(name, self.spec.ray_cluster_spec))
        self.events.append(
            Event.normal(reasons.CREATED_RAY_CLUSTER, f"Creating RayCluster {self.where}/{name}")
        )
        return ObservedJobCluster(name=name, head_present=False)

    def cluster_action(self, name: str, template: RayClusterSpec) -> CreateCluster:
        """constructRayClusterForRayJob: the job's spec, labels and annotations, plus the
        origin labels; SidecarMode adds the submitter container to the head."""
        labels = dict(self.job.metadata.labels or {})
        labels[ORIGINATED_FROM_CR_NAME] = self.job.name
        labels[ORIGINATED_FROM_CRD] = CRD_RAYJOB
        labels[JOB_SUBMISSION_MODE] = self.mode
        annotations = dict(self.job.metadata.annotations or {})
        spec = template.model_copy(deep=True)
        if self.mode == "SidecarMode":
            annotations[DISABLE_PROVISIONED_HEAD_RESTART] = "true"
            head = spec.head_group_spec.template.spec
            port = dashboard_port(head.containers[0] if head.containers else None)
            command = submitter_command(
                self.job,
                f"127.0.0.1:{port}",
                job_id=self.get("job_id"),
                sidecar_restart=self.options.sidecar_submitter_restart,
            )
            # With SidecarSubmitterRestart only the submitter restarts on a non-zero exit (a
            # dropped log stream); the status check in its script avoids a second submit.
            restart = "OnFailure" if self.options.sidecar_submitter_restart else None
            sidecar = default_submitter_container(spec, restart)
            configure_submitter(
                sidecar,
                command,
                spec,
                name,
                self.get("dashboard_url"),
                self.get("job_id"),
                force=True,
            )
            head.containers = [*head.containers, sidecar]
            head.restart_policy = "Never"
        return CreateCluster(name, spec, labels, annotations)

    def create_submitter(self, cluster: ObservedJobCluster) -> None:
        """createK8sJobIfNeed: the submitter Job (or local process), named like the RayJob."""
        cluster_spec = cluster.spec or self.spec.ray_cluster_spec or RayClusterSpec()
        if self.spec.submitter_pod_template is not None:
            template = self.spec.submitter_pod_template.model_copy(deep=True)
        else:
            template = PodTemplateSpec.model_validate(
                {
                    "spec": {
                        "containers": [default_submitter_container(cluster_spec)],
                        "restartPolicy": "Never",
                    }
                }
            )
        if not template.spec.containers:
            raise ValueError("submitterPodTemplate has no containers")
        container = template.spec.containers[0]
        command = submitter_command(self.job, self.get("dashboard_url"), job_id=self.get("job_id"))
        configure_submitter(
            container,
            command,
            cluster_spec,
            cluster.name,
            self.get("dashboard_url"),
            self.get("job_id"),
            force=False,
        )
        labels = {
            ORIGINATED_FROM_CR_NAME: self.job.name,
            ORIGINATED_FROM_CRD: CRD_RAYJOB,
            CREATED_BY: CREATED_BY_KUBERAY,
        }
        meta = template.metadata or ObjectMeta()
        template.metadata = meta.model_copy(update={"labels": {**(meta.labels or {}), **labels}})
        backoff = DEFAULT_SUBMITTER_BACKOFF_LIMIT
        if self.spec.submitter_config and self.spec.submitter_config.backoff_limit is not None:
            backoff = self.spec.submitter_config.backoff_limit
        run = [*(container.command or []), *(container.args or [])]
        self.actions.append(
            CreateSubmitter(
                self.job.name, run, list(container.env or []), backoff, labels, template
            )
        )
        self.events.append(
            Event.normal(
                reasons.CREATED_RAY_JOB_SUBMITTER,
                f"Creating submitter {self.where}/{self.job.name}",
            )
        )

    def delete_cluster(self, name: str) -> None:
        self.actions.append(DeleteCluster(name))
        self.events.append(
            Event.normal(reasons.DELETED_RAY_CLUSTER, f"Deleting RayCluster {self.where}/{name}")
        )


def _finished_at(submitter: ObservedSubmitter | None) -> datetime | None:
    if submitter is None or submitter.phase == "running" or submitter.finished_at is None:
        return None
    return utc(submitter.finished_at)


def _fields(status: RayJobStatus) -> dict[str, Any]:
    """The set, non-empty top-level fields of *status* (extras included), by Python name."""
    return {name: value for name, value in status if value is not None and value != ""}


def _build(fields: Mapping[str, Any]) -> RayJobStatus:
    return RayJobStatus.model_validate(
        {k: v for k, v in fields.items() if v is not None and v != ""}
    )


def _cluster_status_differs(old: Any, new: Any) -> bool:
    """KubeRay's InconsistentRayClusterStatus: only these fields count as a change."""
    a = old if isinstance(old, RayClusterStatus) else RayClusterStatus()
    b = new if isinstance(new, RayClusterStatus) else RayClusterStatus()
    keys = (
        "state",
        "reason",
        "ready_worker_replicas",
        "available_worker_replicas",
        "desired_worker_replicas",
        "min_worker_replicas",
        "max_worker_replicas",
        "endpoints",
        "head",
        "conditions",
    )
    return any(getattr(a, key) != getattr(b, key) for key in keys)
