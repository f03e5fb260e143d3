"""What the RayJob state machine reads and returns: its states, the observed world, the
actions a runtime carries out, and the plan of one pass.

Kept apart from :mod:`.state_machine` so that a runtime (or a reader) sees the whole
contract between the reconciler and the runtimes in one place, without the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from rayplane.api.k8s import EnvVar, PodTemplateSpec
from rayplane.api.raycluster import RayClusterSpec, RayClusterStatus
from rayplane.api.rayjob import RayJobStatus
from rayplane.reconcile.events import Event

# jobDeploymentStatus values ("" is New).
NEW: Final = ""
INITIALIZING: Final = "Initializing"
WAITING: Final = "Waiting"
RUNNING: Final = "Running"
COMPLETE: Final = "Complete"
FAILED: Final = "Failed"
VALIDATION_FAILED: Final = "ValidationFailed"
SUSPENDING: Final = "Suspending"
SUSPENDED: Final = "Suspended"
RETRYING: Final = "Retrying"

# jobStatus values, mirrored from Ray ("" is New).
JOB_PENDING: Final = "PENDING"
JOB_RUNNING: Final = "RUNNING"
JOB_STOPPED: Final = "STOPPED"
JOB_SUCCEEDED: Final = "SUCCEEDED"
JOB_FAILED: Final = "FAILED"
TERMINAL_JOB_STATUSES: Final = frozenset({JOB_STOPPED, JOB_SUCCEEDED, JOB_FAILED})

# status.reason values (JobFailedReason).
SUBMISSION_FAILED: Final = "SubmissionFailed"
DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
PRE_RUNNING_DEADLINE_EXCEEDED: Final = "PreRunningDeadlineExceeded"
APP_FAILED: Final = "AppFailed"
GRACE_PERIOD_EXCEEDED: Final = "JobDeploymentStatusTransitionGracePeriodExceeded"
STATUS_CHECK_TIMEOUT_EXCEEDED: Final = "JobStatusCheckTimeoutExceeded"
VALIDATION_FAILED_REASON: Final = "ValidationFailed"

# -- observed state -----------------------------------------------------------------------------

NOT_FOUND: Final = "not found"
"""``ObservedJob.ray_job`` when the dashboard answered 404 for the job id."""


class RayJobLike(Protocol):
    """A Ray job as ``GET /api/jobs/<id>`` reports it (times in ms since the epoch).

    ``rayplane.clients.jobs_api.JobInfo`` satisfies it, so a runtime passes the client's answer
    straight through; tests use :class:`RayJobState`.
    """

    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def start_time(self) -> int | None: ...

    @property
    def end_time(self) -> int | None: ...


@dataclass(frozen=True)
class RayJobState:
    """A plain :class:`RayJobLike`."""

    status: str
    message: str = ""
    start_time: int | None = None
    end_time: int | None = None


@dataclass(frozen=True)
class ObservedJobCluster:
    """The job's RayCluster (the one named by status.rayClusterName), as the runtime sees it.

    ``status`` is the RayCluster's status; ``state == "ready"`` is what KubeRay waits for.
    ``dashboard_url`` is ``host:port`` of the dashboard once the head is reachable (on
    Kubernetes the head Service FQDN, ``<svc>.<ns>.svc.cluster.local:8265``; locally the
    loopback port). ``spec`` is the cluster's spec, needed for a clusterSelector job's
    submitter (image, auth). ``head_present`` is False when there is no head node (SidecarMode
    fails then). ``workers_suspended`` is True when every worker group has suspend: true.
    """

    name: str
    status: RayClusterStatus = field(default_factory=RayClusterStatus)
    dashboard_url: str | None = None
    spec: RayClusterSpec | None = None
    deleting: bool = False
    head_present: bool = True
    workers_suspended: bool = False

    @property
    def ready(self) -> bool:
        return self.status.state == "ready"


SubmitterPhase = Literal["running", "succeeded", "failed"]


@dataclass(frozen=True)
class ObservedSubmitter:
    """The submitter: a Kubernetes Job or local process (K8sJobMode), or the head's
    ``ray-job-submitter`` container (SidecarMode).

    ``phase`` is "failed" when KubeRay would call it failed: the Job's Failed condition
    (after its backoffLimit retries; a local runtime retries the process as often), or the
    sidecar terminated with a non-zero exit code (with SidecarSubmitterRestart: exceeded its
    restart count). ``finished_at`` is when it finished (the Job's Complete/Failed condition
    time, the container's finishedAt); ``reason``/``message``/``exit_code`` say why it
    failed. ``deleting`` marks a submitter already being removed.
    """

    phase: SubmitterPhase = "running"
    finished_at: datetime | None = None
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    deleting: bool = False


@dataclass(frozen=True)
class ObservedJob:
    """What the runtime sees of one RayJob's world.

    ``cluster`` is None when no RayCluster named status.rayClusterName exists. ``submitter``
    is None when there is none (or, in SidecarMode, the container has not terminated and
    reports nothing). ``ray_job`` is the dashboard's answer for status.jobId: a
    :class:`RayJobLike`, :data:`NOT_FOUND` on 404, or None when it was not asked or the
    query failed; ``dashboard_error`` says why it failed (KubeRay starts the status-check
    timeout then). ``submit_error`` is the error of the previous pass's :class:`SubmitJob`
    (HTTPMode), which counts as a failed status check too. A runtime only needs to query
    the dashboard while :func:`wants_ray_job` is True.
    """

    cluster: ObservedJobCluster | None = None
    submitter: ObservedSubmitter | None = None
    ray_job: RayJobLike | Literal["not found"] | None = None
    dashboard_error: str | None = None
    submit_error: str | None = None


# -- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateCluster:
    """Create the RayCluster *name* from *spec* with these labels and annotations.

    In SidecarMode the spec already carries the ``ray-job-submitter`` container in the head
    template (restartPolicy Never), as KubeRay builds it.
    """

    name: str
    spec: RayClusterSpec
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class DeleteCluster:
    """Delete the RayCluster *name* (and with it all its nodes)."""

    name: str


@dataclass(frozen=True)
class SuspendWorkers:
    """Set ``suspend: true`` on every worker group of RayCluster *cluster_name*.

    The DeleteWorkers deletion policy: the head stays (logs, dashboard), workers go.
    """

    cluster_name: str


@dataclass(frozen=True)
class EnsureHeadService:
    """Kubernetes only: the Service *name* (``<rayjob>-head-svc``) selects *cluster_name*'s
    head; create it, or re-point its selector when the cluster changed. A local runtime
    ignores it."""

    name: str
    cluster_name: str


@dataclass(frozen=True)
class CreateSubmitter:
    """Start the K8sJobMode submitter *name* (the RayJob's name).

    On Kubernetes: a batch/v1 Job with ``labels``, ``backoff_limit`` and ``template`` used
    verbatim (command, env and labels already filled in as KubeRay does). Locally: run
    ``command`` with ``env`` as a process, retrying a failure up to ``backoff_limit`` times.
    """

    name: str
    command: list[str]
    env: list[EnvVar]
    backoff_limit: int
    labels: dict[str, str]
    template: PodTemplateSpec


@dataclass(frozen=True)
class DeleteSubmitter:
    """Delete the submitter *name* (Kubernetes: background propagation, pods go too)."""

    name: str


@dataclass(frozen=True)
class SubmitJob:
    """HTTPMode: submit the Ray job, unless the dashboard already knows *job_id*.

    The runtime GETs before it POSTs (``JobsClient.submit`` does), so a retried action never
    submits twice. Its error, if any, goes into the next pass's ``ObservedJob.submit_error``.
    """

    job_id: str
    dashboard_url: str
    entrypoint: str
    runtime_env: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    entrypoint_resources: dict[str, float] | None = None


@dataclass(frozen=True)
class StopJob:
    """``POST /api/jobs/<job_id>/stop`` on *dashboard_url*; errors are only logged."""

    job_id: str
    dashboard_url: str


@dataclass(frozen=True)
class DeleteSelf:
    """Delete the RayJob itself (DeleteSelf policy, DELETE_RAYJOB_CR_AFTER_JOB_FINISHES)."""


JobAction = (
    CreateCluster
    | DeleteCluster
    | SuspendWorkers
    | EnsureHeadService
    | CreateSubmitter
    | DeleteSubmitter
    | SubmitJob
    | StopJob
    | DeleteSelf
)


@dataclass(frozen=True)
class JobPlan:
    """The outcome of one pass.

    ``status`` is the complete status to write; ``changed`` says whether KubeRay would write
    it (when False, ``status`` is the current one). ``requeue_after`` is seconds until the
    next pass, or None for "only when something changes" (a finished or suspended job).
    ``error`` is why the pass could not progress; ``events`` are for the event log.
    """

    status: RayJobStatus
    actions: list[JobAction]
    requeue_after: float | None
    events: list[Event]
    changed: bool = False
    error: str | None = None


def is_job_terminal(job_status: str | None) -> bool:
    """STOPPED, SUCCEEDED or FAILED: a Ray job that can no longer change."""
    return (job_status or "") in TERMINAL_JOB_STATUSES
