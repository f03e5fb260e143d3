"""What the RayCluster state machine reads and returns: node kinds and phases, KubeRay's
condition and failure reasons, the observed nodes, the actions and the plan of one pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypedDict

from rayplane.api.raycluster import RayClusterStatus
from rayplane.reconcile.events import Event

NodeKind = Literal["head", "worker"]
Phase = Literal["Pending", "Running", "Failed", "Succeeded", "Unknown"]

# Requeue periods (KubeRay's DefaultRequeueDuration and RAYCLUSTER_DEFAULT_REQUEUE_SECONDS).
REQUEUE_ON_CHANGE_SECONDS = 2.0
REQUEUE_DEFAULT_SECONDS = 300.0

# status.state values KubeRay still sets (the field is deprecated in favour of conditions).
STATE_READY = "ready"
STATE_SUSPENDED = "suspended"

# Condition types (apis/ray/v1/raycluster_types.go).
HEAD_POD_READY = "HeadPodReady"
PROVISIONED = "RayClusterProvisioned"
REPLICA_FAILURE = "ReplicaFailure"
SUSPENDING = "RayClusterSuspending"
SUSPENDED = "RayClusterSuspended"

# Condition reasons (same file).
ALL_POD_RUNNING_AND_READY_FIRST_TIME = "AllPodRunningAndReadyFirstTime"
PODS_PROVISIONING = "RayClusterPodsProvisioning"
HEAD_POD_NOT_FOUND = "HeadPodNotFound"
HEAD_POD_RUNNING_AND_READY = "HeadPodRunningAndReady"
UNKNOWN_REASON = "Unknown"

# ReplicaFailure reasons (controllers/ray/utils/constant.go errRayClusterReplicaFailure).
FAILED_CREATE_HEAD_POD = "FailedCreateHeadPod"
FAILED_DELETE_HEAD_POD = "FailedDeleteHeadPod"
FAILED_CREATE_WORKER_POD = "FailedCreateWorkerPod"
FAILED_DELETE_WORKER_POD = "FailedDeleteWorkerPod"
FAILED_DELETE_ALL_PODS = "FailedDeleteAllPods"
REPLICA_FAILURE_REASONS = frozenset(
    {
        FAILED_CREATE_HEAD_POD,
        FAILED_DELETE_HEAD_POD,
        FAILED_CREATE_WORKER_POD,
        FAILED_DELETE_WORKER_POD,
        FAILED_DELETE_ALL_PODS,
    }
)

# DeleteNode.reason values: why a node goes, for events and `describe`.
DELETE_SUSPEND = "ClusterSuspending"
DELETE_UNHEALTHY = "Unhealthy"
DELETE_WORKERS_TO_DELETE = "WorkersToDelete"
DELETE_SCALE_DOWN = "ScaleDown"
DELETE_GROUP_SUSPENDED = "GroupSuspended"
DELETE_INCOMPLETE_REPLICA = "IncompleteReplica"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNHEALTHY_PHASES = ("Failed", "Succeeded")


# -- observed state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedNode:
    """One Ray node (a pod, or a local `ray start` process) as the runtime sees it.

    ``group`` is "headgroup" for the head. ``phase`` uses Kubernetes' pod phases: a runtime
    reports a node whose Ray process has exited for good as Failed or Succeeded (on
    Kubernetes also a Running pod whose Ray container terminated under restartPolicy Never),
    which makes the reconciler replace it. ``ready`` is the pod's Ready condition (locally,
    the node answered its health check). ``deleting`` marks a node already being removed.
    ``replica``/``replica_index`` are the multi-host replica name and index labels.
    ``reason``/``message`` say why a node is not ready, in the runtime's words (e.g.
    ContainerCreating); they become the HeadPodReady condition's reason for the head.
    """

    name: str
    group: str
    kind: NodeKind
    phase: Phase
    ready: bool
    deleting: bool = False
    ip: str | None = None
    created: datetime = EPOCH
    replica: str | None = None
    replica_index: int | None = None
    reason: str | None = None
    message: str = ""

    @property
    def running_and_ready(self) -> bool:
        return self.phase == "Running" and self.ready

    @property
    def unhealthy(self) -> bool:
        """Terminal: it will not come back by itself, so it is deleted and replaced."""
        return self.phase in UNHEALTHY_PHASES


class ServiceInfo(TypedDict, total=False):
    """The head Service (locally: the head's published ports), for status.head/endpoints.

    ``ip`` is the Service's cluster IP, or the head's IP when the Service is headless;
    ``endpoints`` maps port names to the port users reach them on (nodePort, else the
    target port), e.g. {"dashboard": "8265", "client": "10001", "gcs-server": "6379"}.
    """

    name: str
    ip: str
    endpoints: dict[str, str]


@dataclass(frozen=True)
class ObservedCluster:
    """What the runtime sees of one RayCluster.

    ``failures`` are the errors the runtime hit carrying out the previous plan, each made
    with :func:`failure` (``"<KubeRay reason>: <message>"``); they set the ReplicaFailure
    condition and keep the requeue short. An empty list clears that condition.
    """

    nodes: list[ObservedNode] = field(default_factory=list)
    service: ServiceInfo | None = None
    failures: list[str] = field(default_factory=list)


# -- plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateNode:
    """Create *count* nodes of *group* (kind "head": the one head, group "headgroup").

    For a worker group, ``replica_indices`` has one entry per new replica: the
    ``ray.io/worker-group-replica-index`` label value, the lowest indices not in use. With
    ``num_of_hosts`` > 1 every replica is ``num_of_hosts`` nodes created together that share
    a new replica name (``ray.io/worker-group-replica-name``) and carry host indices
    0..num_of_hosts-1; ``count`` is always the number of nodes, replicas x num_of_hosts.
    """

    group: str
    kind: NodeKind
    count: int = 1
    num_of_hosts: int = 1
    replica_indices: tuple[int, ...] = ()


@dataclass(frozen=True)
class DeleteNode:
    """Delete the node *name*; *reason* is one of the DELETE_* constants."""

    name: str
    reason: str
    kind: NodeKind = "worker"
    group: str = ""


Action = CreateNode | DeleteNode


@dataclass(frozen=True)
class ClusterPlan:
    """The outcome of one pass.

    ``status`` is the complete new status; ``changed`` says whether it differs from the
    cluster's current one (a runtime may skip the write otherwise). ``error`` is why the
    pass did not converge (an unhealthy node just deleted, several heads, a failure reported
    by the runtime); it keeps ``requeue_after`` short. ``events`` are for the
    resource's event log.
    """

    actions: list[Action]
    status: RayClusterStatus
    requeue_after: float
    events: list[Event]
    changed: bool = False
    error: str | None = None


def failure(action: Action, error: object) -> str:
    """The ObservedCluster.failures entry for *action* having failed with *error*.

    Carries KubeRay's ReplicaFailure reason, so the condition a user sees reads the same as
    on KubeRay (FailedCreateWorkerPod, FailedDeleteAllPods, ...).
    """
    if isinstance(action, CreateNode):
        reason = FAILED_CREATE_HEAD_POD if action.kind == "head" else FAILED_CREATE_WORKER_POD
    elif action.reason == DELETE_SUSPEND:
        reason = FAILED_DELETE_ALL_PODS
    else:
        reason = FAILED_DELETE_HEAD_POD if action.kind == "head" else FAILED_DELETE_WORKER_POD
    return f"{reason}: {error}"
