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

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

from rayplane.api.k8s import Container, EnvVar, ObjectMeta, PodTemplateSpec
from rayplane.api.loading import LoadError, parse_text
from rayplane.api.raycluster import RayClusterSpec, RayClusterStatus
from rayplane.api.rayjob import DeletionPolicyType, RayJob, RayJobInfo, RayJobStatus
from rayplane.api.validation.gates import FeatureGates
from rayplane.reconcile.conditions import format_time
from rayplane.reconcile.gostrings import go_json, go_quote

# -- KubeRay constants (controllers/ray/utils/constant.go, rayjob_controller.go) -------------

REQUEUE_SECONDS: Final = 3.0  # RayJobDefaultRequeueDuration
DELETION_REQUEUE_BUFFER_SECONDS: Final = 2.0  # requeueDelayFor adds 2 s to a TTL
SUBMITTER_FINISHED_TIMEOUT_SECONDS: Final = 30  # DefaultSubmitterFinishedTimeout
DEFAULT_TRANSITION_GRACE_PERIOD_SECONDS: Final = 300
DEFAULT_STATUS_CHECK_TIMEOUT_SECONDS: Final = 300
DEFAULT_SUBMITTER_BACKOFF_LIMIT: Final = 2
DEFAULT_DASHBOARD_PORT: Final = 8265
GCS_HEALTH_CHECK_TIMEOUT_SECONDS: Final = 10  # RayDashboardGCSHealthCheckTimeoutSeconds

FINALIZER: Final = "ray.io/rayjob-finalizer"
KUBERAY_MANAGER: Final = "ray.io/kuberay-operator"
CLUSTER_SELECTOR_KEY: Final = "ray.io/cluster"
LABEL_ORIGINATED_FROM_CR_NAME: Final = "ray.io/originated-from-cr-name"
LABEL_ORIGINATED_FROM_CRD: Final = "ray.io/originated-from-crd"
LABEL_SUBMISSION_MODE: Final = "ray.io/job-submission-mode"
LABEL_CREATED_BY: Final = "app.kubernetes.io/created-by"
CREATED_BY_KUBERAY: Final = "kuberay-operator"
CRD_RAYJOB: Final = "RayJob"
ANNOTATION_DISABLE_HEAD_RESTART: Final = "ray.io/disable-provisioned-head-restart"
SUBMITTER_CONTAINER_NAME: Final = "ray-job-submitter"
DASHBOARD_PORT_NAME: Final = "dashboard"
ENV_DASHBOARD_ADDRESS: Final = "RAY_DASHBOARD_ADDRESS"
ENV_SUBMISSION_ID: Final = "RAY_JOB_SUBMISSION_ID"
ENV_PYTHONUNBUFFERED: Final = "PYTHONUNBUFFERED"
ENV_AUTH_MODE: Final = "RAY_AUTH_MODE"
ENV_AUTH_TOKEN: Final = "RAY_AUTH_TOKEN"
AUTH_TOKEN_SECRET_KEY: Final = "auth_token"

# KubeRay's operator environment variables read by :meth:`JobOptions.from_env`.
ENV_GRACE_PERIOD: Final = "RAYJOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_SECONDS"
ENV_STATUS_CHECK_TIMEOUT: Final = "RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS"
ENV_DELETE_RAYJOB: Final = "DELETE_RAYJOB_CR_AFTER_JOB_FINISHES"

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

# k8s.io/apimachinery/pkg/util/rand: consonants and digits only, so that no generated name
# spells a word.
_RAND_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_DELETION_IMPACT: Final[dict[str, int]] = {
    "DeleteSelf": 4,
    "DeleteCluster": 3,
    "DeleteWorkers": 2,
    "DeleteNone": 1,
}


def random_suffix() -> str:
    """Five characters the way KubeRay's ``rand.String(5)`` makes them (cluster names, ids)."""
    return "".join(secrets.choice(_RAND_ALPHABET) for _ in range(5))


# -- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobOptions:
    """Operator-wide settings KubeRay takes from its environment and feature gates.

    Defaults are KubeRay's. ``deletion_policy`` is the RayJobDeletionPolicy gate (beta, on):
    off, ``deletionStrategy`` is ignored. ``delete_rayjob_after_job_finishes`` makes
    shutdownAfterJobFinishes delete the RayJob itself instead of its cluster.
    ``sidecar_submitter_restart`` is the SidecarSubmitterRestart gate (alpha, off).
    """

    transition_grace_period_seconds: int = DEFAULT_TRANSITION_GRACE_PERIOD_SECONDS
    status_check_timeout_seconds: int = DEFAULT_STATUS_CHECK_TIMEOUT_SECONDS
    delete_rayjob_after_job_finishes: bool = False
    deletion_policy: bool = True
    sidecar_submitter_restart: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], **gates: bool) -> JobOptions:
        """Read KubeRay's environment variables from *env* (the caller passes os.environ).

        Parsing follows KubeRay: an unparsable grace period falls back to the default; a
        status-check timeout that is unparsable or not positive does too.
        """
        grace = _int_or(env.get(ENV_GRACE_PERIOD), DEFAULT_TRANSITION_GRACE_PERIOD_SECONDS)
        timeout = _int_or(env.get(ENV_STATUS_CHECK_TIMEOUT), DEFAULT_STATUS_CHECK_TIMEOUT_SECONDS)
        if timeout <= 0:
            timeout = DEFAULT_STATUS_CHECK_TIMEOUT_SECONDS
        delete_self = env.get(ENV_DELETE_RAYJOB, "").lower() == "true"
        return cls(grace, timeout, delete_self, **gates)

    def with_gates(self, gates: FeatureGates) -> JobOptions:
        """These options under the runtime's parsed feature gates (the two this reconciler
        reads); each runtime calls it where it parses its gates, so validation and the
        reconciler never disagree."""
        return replace(
            self,
            deletion_policy=gates.RayJobDeletionPolicy,
            sidecar_submitter_restart=gates.SidecarSubmitterRestart,
        )


def _int_or(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


# -- observed state -----------------------------------------------------------------------------

NOT_FOUND: Final = "not found"
"""``ObservedJob.ray_job`` when the dashboard answered 404 for the job id."""


class RayJobLike(Protocol):
    """A Ray job as ``GET /api/jobs/<id>`` reports it (times in ms since the epoch).

    ``rayplane.clients.jobs.JobInfo`` satisfies it, so a runtime passes the client's answer
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
    ``error`` is why the pass could not progress; ``events`` are lines for the event log.
    """

    status: RayJobStatus
    actions: list[JobAction]
    requeue_after: float | None
    events: list[str]
    changed: bool = False
    error: str | None = None


# -- public helpers -----------------------------------------------------------------------------


def is_job_terminal(job_status: str | None) -> bool:
    """STOPPED, SUCCEEDED or FAILED: a Ray job that can no longer change."""
    return (job_status or "") in TERMINAL_JOB_STATUSES


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


def submitter_command(
    job: RayJob,
    dashboard_url: str,
    *,
    job_id: str | None = None,
    sidecar_restart: bool = False,
) -> list[str]:
    """KubeRay's submitter: ``["/bin/bash", "-ce", "--", script]`` (common/job.go).

    The script waits for ``/api/gcs_healthz``, then in K8sJobMode submits only if
    ``ray job status`` does not know the id (the Job may retry) and follows the logs::

        until python -c "...urlopen('http://D/api/gcs_healthz', timeout=10)..." >/dev/null 2>&1 ;
        do echo "Waiting for Ray Dashboard GCS to become healthy at http://D ..." ; sleep 2 ;
        done ; if ! ray job status --address http://D ID >/dev/null 2>&1 ; then ray job submit
        --address http://D --no-wait [--runtime-env-json ..] [--metadata-json ..]
        --submission-id ID [--entrypoint-num-cpus ..] -- ENTRYPOINT ; fi ;
        ray job logs --address http://D --follow ID

    In SidecarMode *dashboard_url* is the dashboard as the head sees it (``127.0.0.1:PORT``);
    the script submits once and waits, unless SidecarSubmitterRestart is on. *job_id*
    defaults to status.jobId. The entrypoint is shell text, as in KubeRay. The command needs
    ``python`` and ``ray`` on PATH.
    """
    mode = job.spec.submission_mode
    url = dashboard_url if "://" in dashboard_url else f"http://{dashboard_url}"
    if mode == "SidecarMode":
        port = urlsplit(url).port or DEFAULT_DASHBOARD_PORT
        address = f"http://127.0.0.1:{port}"
        health_url = f"http://localhost:{port}/api/gcs_healthz"
    elif mode == "K8sJobMode":
        address = url
        health_url = f"{address}/api/gcs_healthz"
    else:
        raise ValueError(f"unsupported submission mode for job submit command: {mode}")
    submission_id = job_id if job_id is not None else (job.status or RayJobStatus()).job_id or ""
    spec = job.spec

    health = (
        'python -c "import urllib.request; '
        f"r=urllib.request.urlopen('{health_url}', timeout={GCS_HEALTH_CHECK_TIMEOUT_SECONDS}); "
        "exit(0 if b'success' in r.read() else 1)\""
    )
    waiting = go_quote(f"Waiting for Ray Dashboard GCS to become healthy at {address} ...")
    cmd: list[str] = [
        "until", health, ">/dev/null", "2>&1", ";",
        "do", "echo", waiting, ";", "sleep", "2", ";", "done", ";",
    ]  # fmt: skip
    check_first = mode == "K8sJobMode" or sidecar_restart
    if check_first:
        cmd += ["if", "!", "ray", "job", "status", "--address", address, submission_id]
        cmd += [">/dev/null", "2>&1", ";", "then"]
    cmd += ["ray", "job", "submit", "--address", address]
    if check_first:
        cmd.append("--no-wait")
    runtime_env = runtime_env_of(job)
    if runtime_env is not None:
        cmd += ["--runtime-env-json", go_quote(go_json(runtime_env))]
    if spec.metadata:
        cmd += ["--metadata-json", go_quote(go_json(spec.metadata))]
    if submission_id:
        cmd += ["--submission-id", submission_id]
    if spec.entrypoint_num_cpus and spec.entrypoint_num_cpus > 0:
        cmd += ["--entrypoint-num-cpus", f"{float(spec.entrypoint_num_cpus):f}"]
    if spec.entrypoint_num_gpus and spec.entrypoint_num_gpus > 0:
        cmd += ["--entrypoint-num-gpus", f"{float(spec.entrypoint_num_gpus):f}"]
    if spec.entrypoint_resources:
        cmd += ["--entrypoint-resources", go_quote(spec.entrypoint_resources)]
    cmd += ["--", (spec.entrypoint or "").strip(), ";"]
    if check_first:
        cmd += ["fi", ";", "ray", "job", "logs", "--address", address, "--follow", submission_id]
    return ["/bin/bash", "-ce", "--", " ".join(cmd)]


def runtime_env_of(job: RayJob) -> dict[str, Any] | None:
    """spec.runtimeEnvYAML parsed (None when unset or empty); ValueError if it is not a map.

    Keys are made strings, as YAML-to-JSON conversion does.
    """
    text = job.spec.runtime_env_yaml
    if not text or not text.strip():
        return None
    try:
        docs = parse_text(text, "spec.runtimeEnvYAML")
    except LoadError as exc:
        raise ValueError(str(exc)) from exc
    if not docs:
        return None
    raw = docs[0].raw
    if not isinstance(raw, dict):
        raise ValueError("spec.runtimeEnvYAML must be a YAML mapping")
    result = _string_keys(raw)
    assert isinstance(result, dict)
    return result


def entrypoint_resources_of(job: RayJob) -> dict[str, float] | None:
    """spec.entrypointResources (a JSON object string) parsed; ValueError if it is not one."""
    text = job.spec.entrypoint_resources
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"spec.entrypointResources is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in parsed.values()
    ):
        raise ValueError('spec.entrypointResources must be a JSON object like {"GPU_TYPE": 1}')
    return {str(k): float(v) for k, v in parsed.items()}


def check_name(name: str) -> str:
    """KubeRay's CheckName: at most 50 characters (from the end), no leading digit or
    punctuation. Used for the auth Secret's default name."""
    if len(name) > 50:
        name = name[len(name) - 50 :]
    if name and (name[0].isdigit() or not name[0].isalnum()):
        name = "r" + name[1:]
    return name


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
        return JobPlan(current, [], None, [f"Skipped: the RayJob is managed by {managed_by}"])
    if job.metadata.deletion_timestamp:
        return JobPlan(current, list(finalize_job(job, observed)), None, [])
    return _Pass(job, observed, _utc(now), rand, options or JobOptions()).run()


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
        self.events: list[str] = []
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

    def warn(self, message: str) -> None:
        self.events.append(f"Warning: {message}")
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
        return (self.spec.cluster_selector or {}).get(CLUSTER_SELECTOR_KEY, "")

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
            self.events.append(f"JobDeploymentStatus {old or 'New'} -> {new or 'New'}{detail}")
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
                self.warn(f"RayCluster {cluster.name} is ready but its dashboard URL is unknown")
                return _WAIT
            self.set("dashboard_url", cluster.dashboard_url)
        if self.mode == "InteractiveMode":
            self.set("job_deployment_status", WAITING)
            return _BREAK
        if self.mode == "K8sJobMode" and self.observed.submitter is None:
            try:
                self.create_submitter(cluster)
            except ValueError as exc:
                self.warn(f"cannot build the submitter: {exc}")
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
                    self.actions.append(self.submit_job())
                except ValueError as exc:
                    self.warn(f"cannot submit the Ray job: {exc}")
                if self.observed.submit_error is not None:
                    self.warn(f"submitting the Ray job failed: {self.observed.submit_error}")
                    return _BREAK if self.record_status_check_failure() else _WAIT
                return _WAIT
            if finished_at is not None:
                self.fail(APP_FAILED, "Submitter completed but Ray job not found in RayCluster.")
                return _BREAK
            return _WAIT
        if ray_job is None or isinstance(ray_job, str):
            if self.observed.dashboard_error is not None:
                self.warn(f"cannot get the Ray job's status: {self.observed.dashboard_error}")
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
            times["start_time"] = format_time(_from_ms(ray_job.start_time))
        if ray_job.end_time:
            times["end_time"] = format_time(_from_ms(ray_job.end_time))
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
            self.warn(f"the submitter {self.job.name} is missing; creating it again")
            try:
                self.create_submitter(cluster)
            except ValueError as exc:
                self.warn(f"cannot build the submitter: {exc}")
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
            f"The RayJob submitter finished at {_go_datetime(finished_at)} but the ray job did "
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
                self.events.append(f"Deleting submitter {self.where}/{self.job.name}")
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
        return _parse_time(self.get("end_time")) or self.now

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
                    "Setting suspend: true on all worker groups of cluster "
                    f"{self.where}/{cluster.name}"
                )
        elif policy == "DeleteSelf":
            self.actions.append(DeleteSelf())
            self.events.append(f"Deleting RayJob {self.where}/{self.job.name}")

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
        start = _parse_time(self.get("start_time"))
        if seconds is None or start is None or self.now < start + timedelta(seconds=seconds):
            return False
        self.fail(
            DEADLINE_EXCEEDED,
            f"The RayJob has passed the activeDeadlineSeconds. StartTime: {_go_time(start)}. "
            f"ActiveDeadlineSeconds: {seconds}",
        )
        return True

    def pre_running_deadline(self) -> bool:
        seconds = self.spec.pre_running_deadline_seconds
        start = _parse_time(self.get("start_time"))
        if seconds is None or start is None or self.now < start + timedelta(seconds=seconds):
            return False
        self.fail(
            PRE_RUNNING_DEADLINE_EXCEEDED,
            f"The RayJob has passed the preRunningDeadlineSeconds. StartTime: {_go_time(start)}. "
            f"PreRunningDeadlineSeconds: {seconds}",
        )
        return True

    def grace_period_exceeded(self) -> bool:
        """A terminal Ray job whose RayJob has not followed within the grace period."""
        job_status = self.get("job_status")
        if not is_job_terminal(job_status) or self.state != RUNNING:
            return False
        info = self.fields.get("ray_job_info")
        end = _parse_time(info.end_time) if isinstance(info, RayJobInfo) else None
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
        start = _parse_time(self.get("job_status_check_failure_start_time"))
        timeout = self.options.status_check_timeout_seconds
        if start is None or self.now < start + timedelta(seconds=timeout):
            return False
        self.fail(
            STATUS_CHECK_TIMEOUT_EXCEEDED,
            f"Job status checks have been failing since {_go_datetime(start)}; "
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
                f"RayCluster {self.where}/{name} set in the clusterSelector is not found. It "
                "must be created manually"
            )
            return None
        if self.spec.ray_cluster_spec is None:
            self.warn("the RayJob has neither rayClusterSpec nor clusterSelector")
            return None
        self.actions.append(self.cluster_action(name, self.spec.ray_cluster_spec))
        self.events.append(f"Creating RayCluster {self.where}/{name}")
        return ObservedJobCluster(name=name, head_present=False)

    def cluster_action(self, name: str, template: RayClusterSpec) -> CreateCluster:
        """constructRayClusterForRayJob: the job's spec, labels and annotations, plus the
        origin labels; SidecarMode adds the submitter container to the head."""
        labels = dict(self.job.metadata.labels or {})
        labels[LABEL_ORIGINATED_FROM_CR_NAME] = self.job.name
        labels[LABEL_ORIGINATED_FROM_CRD] = CRD_RAYJOB
        labels[LABEL_SUBMISSION_MODE] = self.mode
        annotations = dict(self.job.metadata.annotations or {})
        spec = template.model_copy(deep=True)
        if self.mode == "SidecarMode":
            annotations[ANNOTATION_DISABLE_HEAD_RESTART] = "true"
            head = spec.head_group_spec.template.spec
            port = _dashboard_port(head.containers[0] if head.containers else None)
            command = submitter_command(
                self.job,
                f"127.0.0.1:{port}",
                job_id=self.get("job_id"),
                sidecar_restart=self.options.sidecar_submitter_restart,
            )
            # With SidecarSubmitterRestart only the submitter restarts on a non-zero exit (a
            # dropped log stream); the status check in its script avoids a second submit.
            restart = "OnFailure" if self.options.sidecar_submitter_restart else None
            sidecar = _default_submitter_container(spec, restart)
            self.configure_submitter(sidecar, command, spec, name, force=True)
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
                        "containers": [_default_submitter_container(cluster_spec)],
                        "restartPolicy": "Never",
                    }
                }
            )
        if not template.spec.containers:
            raise ValueError("submitterPodTemplate has no containers")
        container = template.spec.containers[0]
        command = submitter_command(self.job, self.get("dashboard_url"), job_id=self.get("job_id"))
        self.configure_submitter(container, command, cluster_spec, cluster.name, force=False)
        labels = {
            LABEL_ORIGINATED_FROM_CR_NAME: self.job.name,
            LABEL_ORIGINATED_FROM_CRD: CRD_RAYJOB,
            LABEL_CREATED_BY: CREATED_BY_KUBERAY,
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
        self.events.append(f"Creating submitter {self.where}/{self.job.name}")

    def configure_submitter(
        self,
        container: Container,
        command: list[str],
        cluster_spec: RayClusterSpec,
        cluster_name: str,
        *,
        force: bool,
    ) -> None:
        """configureSubmitterContainer: the default command unless the user set one (always
        in SidecarMode), PYTHONUNBUFFERED, the dashboard address and submission id, and the
        auth token when the cluster requires one."""
        if force or not container.command:
            container.command = command[:3]
            container.args = command[3:]
        env = list(container.env or [])
        env.append(EnvVar(name=ENV_PYTHONUNBUFFERED, value="1"))
        env.append(EnvVar(name=ENV_DASHBOARD_ADDRESS, value=self.get("dashboard_url")))
        env.append(EnvVar(name=ENV_SUBMISSION_ID, value=self.get("job_id")))
        auth = cluster_spec.auth_options
        if auth is not None and auth.mode == "token":
            names = {var.name for var in env}
            if ENV_AUTH_MODE not in names:
                env.append(EnvVar(name=ENV_AUTH_MODE, value="token"))
            if ENV_AUTH_TOKEN not in names:
                secret = auth.secret_name or check_name(cluster_name)
                env.append(
                    EnvVar.model_validate(
                        {
                            "name": ENV_AUTH_TOKEN,
                            "valueFrom": {
                                "secretKeyRef": {"name": secret, "key": AUTH_TOKEN_SECRET_KEY}
                            },
                        }
                    )
                )
        container.env = env

    def delete_cluster(self, name: str) -> None:
        self.actions.append(DeleteCluster(name))
        self.events.append(f"Deleting RayCluster {self.where}/{name}")

    def submit_job(self) -> SubmitJob:
        """ConvertRayJobToReq: the POST /api/jobs/ body of an HTTPMode job."""
        spec = self.spec
        cpus = float(spec.entrypoint_num_cpus) if spec.entrypoint_num_cpus else None
        gpus = float(spec.entrypoint_num_gpus) if spec.entrypoint_num_gpus else None
        return SubmitJob(
            job_id=self.get("job_id"),
            dashboard_url=self.get("dashboard_url"),
            entrypoint=spec.entrypoint or "",
            runtime_env=runtime_env_of(self.job),
            metadata=dict(spec.metadata) if spec.metadata else None,
            entrypoint_num_cpus=cpus,
            entrypoint_num_gpus=gpus,
            entrypoint_resources=entrypoint_resources_of(self.job),
        )


# -- helpers ------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _go_time(moment: datetime) -> str:
    """A time as Go's ``%v`` prints a metav1.Time in UTC."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _go_datetime(moment: datetime) -> str:
    """Go's ``time.DateTime`` layout."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def _finished_at(submitter: ObservedSubmitter | None) -> datetime | None:
    if submitter is None or submitter.phase == "running" or submitter.finished_at is None:
        return None
    return _utc(submitter.finished_at)


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


def _dashboard_port(container: Container | None) -> int:
    """FindContainerPort(head, "dashboard", 8265)."""
    for port in (container.ports or []) if container is not None else []:
        if port.name == DASHBOARD_PORT_NAME:
            return port.container_port
    return DEFAULT_DASHBOARD_PORT


def _default_submitter_container(
    cluster_spec: RayClusterSpec, restart_policy: str | None = None
) -> Container:
    """GetDefaultSubmitterContainer: the head's image (no version skew), small resources."""
    containers = cluster_spec.head_group_spec.template.spec.containers
    doc: dict[str, Any] = {
        "name": SUBMITTER_CONTAINER_NAME,
        "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"},
            "requests": {"cpu": "500m", "memory": "200Mi"},
        },
    }
    if containers and containers[0].image:
        doc["image"] = containers[0].image
    if restart_policy is not None:
        doc["restartPolicy"] = restart_policy
    return Container.model_validate(doc)


def _string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


__all__ = [
    "NOT_FOUND",
    "CreateCluster",
    "CreateSubmitter",
    "DeleteCluster",
    "DeleteSelf",
    "DeleteSubmitter",
    "EnsureHeadService",
    "JobAction",
    "JobOptions",
    "JobPlan",
    "ObservedJob",
    "ObservedJobCluster",
    "ObservedSubmitter",
    "RayJobLike",
    "RayJobState",
    "StopJob",
    "SubmitJob",
    "SuspendWorkers",
    "finalize_job",
    "is_job_terminal",
    "random_suffix",
    "reconcile_job",
    "submitter_command",
    "validation_failed",
    "wants_ray_job",
]
