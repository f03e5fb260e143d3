"""The pure RayCluster reconciler: (cluster, observed nodes, now) -> (actions, status).

Both runtimes call :func:`reconcile_cluster` on every pass with what they see (pods, or
local ``ray start`` processes) and carry out the returned actions; neither decides on its
own how many nodes a group should have or what the status says. That is what makes a
RayCluster behave the same on Kubernetes and on a laptop, and what lets KubeRay's
behaviour be pinned down by millisecond tests.

The rules are KubeRay's ``reconcilePods`` and ``calculateStatus``
(ray-operator/controllers/ray/raycluster_controller.go at feeaf72, with the
RayClusterStatusConditions and RayMultiHostIndexing gates on, their defaults):

* The pass is level-based: every decision comes from the spec, the previous status and the
  nodes observed now. Nodes marked ``deleting`` are already on their way out: they are not
  acted on again and do not count as running, but they still appear in status counts, as
  terminating pods do in KubeRay's.
* Status is computed from the observation the pass started with, not from the planned
  actions; the next pass (2 s later, since a change shortens the requeue) shows their effect,
  as KubeRay's informer cache does.

Where this differs from KubeRay, on purpose:

* An unhealthy worker stops only its own group for the pass (KubeRay stops the whole pass);
  other groups still scale.
* A name in ``workersToDelete`` only deletes a node of that same group (KubeRay deletes any
  pod of that name in the namespace, even the head).
* Scale-down without the autoscaler removes not-ready nodes first, then the newest
  (KubeRay takes the first pods of an unordered list); newest-first loses the least work.
* ``lastUpdateTime`` moves, and the status counts as changed, when any field but
  lastUpdateTime differs, observedGeneration and desired resources included (KubeRay skips
  the write when only those changed, leaving observedGeneration stale).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal, TypedDict

from rayplane.api.common import MAX_INT32, Condition
from rayplane.api.k8s import PodSpec, Quantity
from rayplane.api.quantity import parse_quantity
from rayplane.api.raycluster import (
    HEAD_GROUP,
    HeadInfo,
    RayCluster,
    RayClusterStatus,
    WorkerGroupSpec,
)
from rayplane.reconcile.conditions import (
    FALSE,
    TRUE,
    format_time,
    is_true,
    remove_condition,
    set_condition,
)
from rayplane.reconcile.raystart import is_gpu_resource_key
from rayplane.reconcile.wire import go_wire

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

# The annotation a SidecarMode RayJob puts on its cluster: do not recreate a lost head once
# provisioned, the job could not survive it anyway.
DISABLE_PROVISIONED_HEAD_RESTART = "ray.io/disable-provisioned-head-restart"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNHEALTHY_PHASES = ("Failed", "Succeeded")


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
    created: datetime = _EPOCH
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
        return self.phase in _UNHEALTHY_PHASES


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
    by the runtime); it keeps ``requeue_after`` short. ``events`` are human-readable lines
    for the resource's event log.
    """

    actions: list[Action]
    status: RayClusterStatus
    requeue_after: float
    events: list[str]
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


# -- the reconciler -------------------------------------------------------------------------


def reconcile_cluster(cluster: RayCluster, observed: ObservedCluster, now: datetime) -> ClusterPlan:
    """Plan one pass for *cluster* given *observed*; pure, so the same inputs give the same plan.

    Order (KubeRay's reconcilePods): suspension first; then the head (create if missing,
    replace if terminal, stop on several); then each worker group in spec order (suspended
    group: delete all; terminal nodes: delete and stop the group for this pass; every node
    named in workersToDelete: delete; then scale to clamp(replicas, min, max) x numOfHosts,
    deleting surplus only without in-tree autoscaling, since the autoscaler alone picks
    victims then). Head and workers are created in the same pass, as KubeRay does.
    """
    pass_ = _Pass(cluster, observed)
    previous = cluster.status or RayClusterStatus()
    suspend_status = _suspend_status(previous.conditions)

    if suspend_status == SUSPENDING:
        for node in pass_.live:
            pass_.delete(node, DELETE_SUSPEND)
    elif (
        suspend_status != SUSPENDED and not cluster.spec.suspend and pass_.reconcile_head(previous)
    ):
        for group in cluster.spec.worker_group_specs:
            pass_.reconcile_group(group)

    error = pass_.error
    replica_failure: tuple[str, str] | None = None
    for entry in observed.failures:
        pass_.events.append(f"Warning: {entry}")
    if observed.failures:
        first = observed.failures[0]
        reason, _, message = first.partition(": ")
        if reason in REPLICA_FAILURE_REASONS:
            replica_failure = (reason, message)
        error = error or first

    status = _status(cluster, observed, previous, suspend_status, error, replica_failure, now)
    changed = _comparable(status) != _comparable(previous)
    if changed:
        status = status.model_copy(update={"last_update_time": format_time(now)})
    elif previous.last_update_time is not None:
        status = status.model_copy(update={"last_update_time": previous.last_update_time})
    requeue = REQUEUE_ON_CHANGE_SECONDS if changed or error else REQUEUE_DEFAULT_SECONDS
    return ClusterPlan(
        actions=pass_.actions,
        status=status,
        requeue_after=requeue,
        events=pass_.events,
        changed=changed,
        error=error,
    )


class _Pass:
    """The mutable bookkeeping of one reconcile pass (actions, events, first error)."""

    def __init__(self, cluster: RayCluster, observed: ObservedCluster) -> None:
        self.cluster = cluster
        self.nodes = list(observed.nodes)
        self.live = [node for node in self.nodes if not node.deleting]
        self.actions: list[Action] = []
        self.events: list[str] = []
        self.error: str | None = None

    def fail(self, message: str) -> None:
        self.events.append(f"Warning: {message}")
        if self.error is None:
            self.error = message

    def delete(self, node: ObservedNode, reason: str) -> None:
        self.actions.append(DeleteNode(node.name, reason, node.kind, node.group))
        self.events.append(f"Deleting {node.kind} node {node.name} ({reason})")

    def create(self, action: CreateNode) -> None:
        self.actions.append(action)
        what = "head node" if action.kind == "head" else f"{action.count} worker node(s)"
        group = "" if action.kind == "head" else f" in group {action.group}"
        self.events.append(f"Creating {what}{group}")

    # head ---------------------------------------------------------------------------------

    def reconcile_head(self, previous: RayClusterStatus) -> bool:
        """Handle the head; False when the pass must stop here (as KubeRay returns)."""
        heads = [node for node in self.nodes if node.kind == "head"]
        live = [node for node in heads if not node.deleting]
        if len(live) > 1:
            names = ", ".join(sorted(node.name for node in live))
            self.fail(f"{len(live)} head nodes found [{names}]; delete the extra head nodes")
            return False
        if len(live) == 1:
            head = live[0]
            if head.unhealthy:
                self.delete(head, DELETE_UNHEALTHY)
                self.fail(
                    f"head node {head.name} is {head.phase}, a terminal state; it is deleted "
                    "and a new head is created in the next pass"
                )
                return False
            return True
        if heads:  # the old head is still terminating: wait for it before creating another
            return True
        if is_true(previous.conditions, PROVISIONED) and (
            self.cluster.annotation(DISABLE_PROVISIONED_HEAD_RESTART) == "true"
        ):
            self.events.append(
                f"Not recreating the head: {DISABLE_PROVISIONED_HEAD_RESTART} is set and the "
                "cluster was already provisioned"
            )
            return False
        self.create(CreateNode(HEAD_GROUP, "head", 1))
        return True

    # workers ------------------------------------------------------------------------------

    def reconcile_group(self, group: WorkerGroupSpec) -> None:
        name = group.group_name or ""
        live = [n for n in self.live if n.kind == "worker" and n.group == name]
        if group.suspend:
            for node in live:
                self.delete(node, DELETE_GROUP_SUSPENDED)
            return
        hosts = max(1, group.num_of_hosts)
        if hosts > 1:
            self._multi_host(group, name, hosts, live)
        else:
            self._single_host(group, name, live)

    def _single_host(self, group: WorkerGroupSpec, name: str, live: list[ObservedNode]) -> None:
        unhealthy = [node for node in live if node.unhealthy]
        if unhealthy:
            for node in unhealthy:
                self.delete(node, DELETE_UNHEALTHY)
            self.fail(
                f"deleted {len(unhealthy)} unhealthy worker node(s) of group {name}; "
                "replacements are created in the next pass"
            )
            return
        named = set(group.workers_to_delete)
        running: list[ObservedNode] = []
        for node in live:
            if node.name in named:
                self.delete(node, DELETE_WORKERS_TO_DELETE)
            else:
                running.append(node)
        diff = group.desired_replicas - len(running)
        if diff > 0:
            used = {n.replica_index for n in running if n.replica_index is not None}
            indices = _free_indices(used, diff)
            self.create(CreateNode(name, "worker", diff, 1, indices))
        elif diff < 0 and not self.cluster.spec.autoscaling:
            for node in _scale_down_order(running)[:-diff]:
                self.delete(node, DELETE_SCALE_DOWN)

    def _multi_host(
        self, group: WorkerGroupSpec, name: str, hosts: int, live: list[ObservedNode]
    ) -> None:
        """KubeRay's reconcileMultiHostWorkerGroup: replicas live and die as a whole.

        Unlike single-host groups, a replica with a terminal node is deleted and replaced
        in the same pass, as KubeRay does for multi-host groups. Nodes without a replica
        name are not part of any replica and are left alone, as KubeRay leaves them.
        """
        replicas: dict[str, list[ObservedNode]] = {}
        for node in live:
            if node.replica is not None:
                replicas.setdefault(node.replica, []).append(node)

        incomplete = [r for r in sorted(replicas) if len(replicas[r]) < hosts]
        if incomplete:
            for replica in incomplete:
                for node in replicas[replica]:
                    self.delete(node, DELETE_INCOMPLETE_REPLICA)
            self.fail(
                f"deleted incomplete multi-host replica(s) {', '.join(incomplete)} of group "
                f"{name}; they are recreated in the next pass"
            )
            return

        gone: set[str] = set()
        for replica in sorted(replicas):
            if any(node.unhealthy for node in replicas[replica]):
                for node in replicas[replica]:
                    self.delete(node, DELETE_UNHEALTHY)
                gone.add(replica)

        named = set(group.workers_to_delete)
        targeted = [
            r
            for r in sorted(replicas)
            if r not in gone and any(n.name in named for n in replicas[r])
        ]
        if targeted:
            for replica in targeted:
                for node in replicas[replica]:
                    self.delete(node, DELETE_WORKERS_TO_DELETE)
            self.fail(
                f"deleted replica(s) {', '.join(targeted)} of group {name} named in "
                "workersToDelete; scaling resumes in the next pass"
            )
            return

        valid = {r: nodes for r, nodes in replicas.items() if r not in gone}
        to_create = group.desired_replicas - len(valid)
        if to_create > 0:
            used = {
                nodes[0].replica_index
                for nodes in valid.values()
                if nodes[0].replica_index is not None
            }
            indices = _free_indices(used, to_create)
            self.create(CreateNode(name, "worker", to_create * hosts, hosts, indices))
        elif to_create < 0 and not self.cluster.spec.autoscaling:
            for replica in _replica_scale_down_order(valid)[:-to_create]:
                for node in sorted(valid[replica], key=lambda n: n.name):
                    self.delete(node, DELETE_SCALE_DOWN)


def _free_indices(used: set[int], count: int) -> tuple[int, ...]:
    """The *count* lowest replica indices not in *used* (KubeRay fills gaps first)."""
    found: list[int] = []
    index = 0
    while len(found) < count:
        if index not in used:
            found.append(index)
        index += 1
    return tuple(found)


def _scale_down_order(nodes: Iterable[ObservedNode]) -> list[ObservedNode]:
    """Victims first: not running-and-ready, then newest, then by name (deterministic)."""
    newest_first = sorted(nodes, key=lambda n: (_ts(n.created), n.name), reverse=True)
    return sorted(newest_first, key=lambda n: n.running_and_ready)


def _replica_scale_down_order(replicas: Mapping[str, list[ObservedNode]]) -> list[str]:
    """Whole replicas, same preference as single nodes: not all ready, then newest."""

    def newest(name: str) -> tuple[float, str]:
        return (max(_ts(n.created) for n in replicas[name]), name)

    newest_first = sorted(replicas, key=newest, reverse=True)
    return sorted(newest_first, key=lambda r: all(n.running_and_ready for n in replicas[r]))


def _ts(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# -- status ---------------------------------------------------------------------------------


def _suspend_status(conditions: Sequence[Condition] | None) -> str | None:
    """KubeRay's FindRayClusterSuspendStatus: which of Suspending/Suspended is True."""
    for condition in conditions or ():
        if condition.type in (SUSPENDING, SUSPENDED) and condition.status == TRUE:
            return condition.type
    return None


def _status(
    cluster: RayCluster,
    observed: ObservedCluster,
    previous: RayClusterStatus,
    suspend_status: str | None,
    error: str | None,
    replica_failure: tuple[str, str] | None,
    now: datetime,
) -> RayClusterStatus:
    """KubeRay's calculateStatus over the observed nodes."""
    spec = cluster.spec
    nodes = list(observed.nodes)
    workers = [node for node in nodes if node.kind == "worker"]
    active_groups = [g for g in spec.worker_group_specs if not g.suspend]

    desired_workers = sum(g.desired_replicas * max(1, g.num_of_hosts) for g in active_groups)
    fields: dict[str, Any] = {
        "ready_worker_replicas": sum(1 for n in workers if n.running_and_ready),
        "available_worker_replicas": sum(1 for n in workers if n.phase == "Running"),
        "desired_worker_replicas": desired_workers,
        "min_worker_replicas": sum(g.min * max(1, g.num_of_hosts) for g in active_groups),
        "max_worker_replicas": min(
            MAX_INT32, sum(g.max * max(1, g.num_of_hosts) for g in active_groups)
        ),
        "observed_generation": cluster.metadata.generation,
    }
    fields.update(_desired_resources(cluster))

    conditions = list(previous.conditions or [])
    if error is not None:
        # Only failures with a KubeRay reason set the condition; other errors leave it as is.
        if replica_failure is not None:
            why, message = replica_failure
            conditions = set_condition(conditions, REPLICA_FAILURE, TRUE, why, message, now)
    else:
        conditions = remove_condition(conditions, REPLICA_FAILURE)

    heads = [node for node in nodes if node.kind == "head"]
    head = next((n for n in heads if not n.deleting), heads[0] if heads else None)
    if head is None:
        conditions = set_condition(
            conditions, HEAD_POD_READY, FALSE, HEAD_POD_NOT_FOUND, "Head Pod not found", now
        )
    elif head.ready:
        conditions = set_condition(
            conditions, HEAD_POD_READY, TRUE, HEAD_POD_RUNNING_AND_READY, head.message, now
        )
    else:
        conditions = set_condition(
            conditions, HEAD_POD_READY, FALSE, head.reason or UNKNOWN_REASON, head.message, now
        )

    all_ready = bool(nodes) and all(node.running_and_ready for node in nodes)
    state = previous.state
    reason = previous.reason
    if error is None and len(nodes) == desired_workers + 1 and all_ready:
        state, reason = STATE_READY, None

    if not is_true(conditions, PROVISIONED) and suspend_status != SUSPENDED:
        # Latched: once True it is only reset by a suspension (below).
        if all_ready:
            conditions = set_condition(
                conditions,
                PROVISIONED,
                TRUE,
                ALL_POD_RUNNING_AND_READY_FIRST_TIME,
                "All Ray Pods are ready for the first time",
                now,
            )
        else:
            conditions = set_condition(
                conditions,
                PROVISIONED,
                FALSE,
                PODS_PROVISIONING,
                "RayCluster Pods are being provisioned for first time",
                now,
            )

    if suspend_status == SUSPENDING:
        if not nodes:
            conditions = set_condition(
                conditions,
                PROVISIONED,
                FALSE,
                PODS_PROVISIONING,
                "RayCluster has been suspended",
                now,
            )
            conditions = set_condition(conditions, SUSPENDING, FALSE, SUSPENDING, "", now)
            conditions = set_condition(conditions, SUSPENDED, TRUE, SUSPENDED, "", now)
    elif suspend_status == SUSPENDED:
        if not spec.suspend:
            conditions = set_condition(conditions, SUSPENDED, FALSE, SUSPENDED, "", now)
    else:
        conditions = set_condition(conditions, SUSPENDED, FALSE, SUSPENDED, "", now)
        suspending = TRUE if spec.suspend else FALSE
        conditions = set_condition(conditions, SUSPENDING, suspending, SUSPENDING, "", now)

    if spec.suspend and not nodes:
        state = STATE_SUSPENDED

    fields["conditions"] = conditions
    if state is not None:
        fields["state"] = state
    if reason:
        fields["reason"] = reason

    transitions = dict(previous.state_transition_times or {})
    if state is not None and state != previous.state:
        transitions[state] = format_time(now)
    if transitions:
        fields["state_transition_times"] = transitions

    endpoints = dict(previous.endpoints or {})
    service = observed.service
    if service is not None:
        endpoints.update(service.get("endpoints", {}))
    if endpoints:
        fields["endpoints"] = endpoints

    head_info: dict[str, Any] = {}
    if head is not None:
        head_info["pod_name"] = head.name
        if head.ip:
            head_info["pod_ip"] = head.ip
    if service is not None:
        if service.get("ip"):
            head_info["service_ip"] = service["ip"]
        if service.get("name"):
            head_info["service_name"] = service["name"]
    fields["head"] = HeadInfo(**head_info)

    if previous.last_update_time is not None:
        fields["last_update_time"] = previous.last_update_time
    extras = dict(previous.model_extra or {})
    known = {k: v for k, v in fields.items() if v is not None}
    return RayClusterStatus.model_validate({**extras, **known})


# Counts KubeRay's RayClusterStatus declares `omitempty`: Go's encoder never writes a zero
# one, so a status read back without them is the same status as one holding zeros.
OMITTED_WHEN_ZERO = (
    "readyWorkerReplicas",
    "availableWorkerReplicas",
    "desiredWorkerReplicas",
    "minWorkerReplicas",
    "maxWorkerReplicas",
    "observedGeneration",
)


def status_wire(status: RayClusterStatus) -> dict[str, Any]:
    """The status as KubeRay's operator writes it: JSON names, zero counts left out."""
    return go_wire(status, OMITTED_WHEN_ZERO)


def _comparable(status: RayClusterStatus) -> dict[str, Any]:
    dumped = status_wire(status)
    dumped.pop("lastUpdateTime", None)
    if not dumped.get("head"):
        dumped.pop("head", None)
    return dumped


# -- desired resources (KubeRay's CalculateDesiredResources) ------------------------------------


@dataclass(frozen=True)
class _Amount:
    """A resource.Quantity reduced to what status needs: an exact value and its format.

    Go keeps the format of the left operand of a sum unless that operand is zero, and
    prints canonically (2500m, 10Gi, 1536Mi); desiredCPU/Memory must print the same.
    """

    value: Decimal
    format: str  # "DecimalSI" | "BinarySI" | "DecimalExponent"

    @classmethod
    def parse(cls, quantity: Quantity) -> _Amount:
        value = parse_quantity(quantity)
        if value != value.quantize(Decimal("1e-9"), rounding=ROUND_CEILING):
            value = value.quantize(Decimal("1e-9"), rounding=ROUND_CEILING)  # Go keeps nanos
        text = str(quantity).strip() if isinstance(quantity, str) else ""
        if text.endswith(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")):
            fmt = "BinarySI"
        elif "e" in text.lower():
            fmt = "DecimalExponent"
        else:
            fmt = "DecimalSI"
        return cls(value, fmt)

    def plus(self, other: _Amount) -> _Amount:
        fmt = other.format if self.value == 0 else self.format
        return _Amount(self.value + other.value, fmt)

    def times(self, factor: int) -> _Amount:
        return _Amount(self.value * factor, self.format)

    def __str__(self) -> str:
        return _canonical(self.value, self.format)


_DECIMAL_SUFFIX = {
    -9: "n",
    -6: "u",
    -3: "m",
    0: "",
    3: "k",
    6: "M",
    9: "G",
    12: "T",
    15: "P",
    18: "E",
}
_BINARY_SUFFIX = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


def _canonical(value: Decimal, fmt: str) -> str:
    """Go's Quantity.String() (CanonicalizeBytes)."""
    if value == 0:
        return "0"
    if fmt == "BinarySI" and abs(value) >= 1024 and value == value.to_integral_value():
        amount = int(value)
        exponent = 0
        while exponent < len(_BINARY_SUFFIX) - 1 and amount % 1024 == 0:
            amount //= 1024
            exponent += 1
        return f"{amount}{_BINARY_SUFFIX[exponent]}"
    sign, digits, exp = value.normalize().as_tuple()
    assert isinstance(exp, int)
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    while exp % 3:
        mantissa *= 10
        exp -= 1
    if fmt == "DecimalExponent":
        return f"{mantissa}" if exp == 0 else f"{mantissa}e{exp}"
    while exp > 18:
        mantissa *= 1000
        exp -= 3
    while exp < -9:  # unreachable after nano rounding; kept for safety
        mantissa = math.ceil(Decimal(mantissa) / 1000)
        exp += 3
    return f"{mantissa}{_DECIMAL_SUFFIX[exp]}"


def _pod_resources(pod: PodSpec) -> dict[str, _Amount]:
    """KubeRay's CalculatePodResource: requests, else limits, summed over all containers."""
    total: dict[str, _Amount] = {}
    for container in pod.containers:
        resources = container.resources
        if resources is None:
            continue
        merged: dict[str, Quantity] = dict(resources.requests or {})
        for name, quantity in (resources.limits or {}).items():
            merged.setdefault(name, quantity)
        for name, quantity in merged.items():
            amount = _Amount.parse(quantity)
            total[name] = total[name].plus(amount) if name in total else amount
    return total


def _desired_resources(cluster: RayCluster) -> dict[str, str]:
    """desiredCPU/Memory/GPU/TPU: the head plus ``replicas`` x numOfHosts of each group.

    Like KubeRay this uses the raw ``replicas`` (not clamped to min/max, unlike
    desiredWorkerReplicas), skips suspended groups, counts every container of the template
    (requests, falling back to limits) but not the sidecars KubeRay injects later, and
    sums all GPU-like keys for desiredGPU.
    """
    spec = cluster.spec
    totals: dict[str, _Amount] = {}

    def add(resources: Mapping[str, _Amount]) -> None:
        for name, amount in resources.items():
            totals[name] = totals[name].plus(amount) if name in totals else amount

    add(_pod_resources(spec.head_group_spec.template.spec))
    for group in spec.worker_group_specs:
        if group.suspend:
            continue
        factor = (group.replicas or 0) * max(1, group.num_of_hosts)
        add({k: v.times(factor) for k, v in _pod_resources(group.template.spec).items()})

    zero = _Amount(Decimal(0), "DecimalSI")
    gpus = zero
    for name in sorted(totals):
        if is_gpu_resource_key(name) and totals[name].value != 0:
            gpus = gpus.plus(totals[name])
    return {
        "desired_cpu": str(totals.get("cpu", zero)),
        "desired_memory": str(totals.get("memory", zero)),
        "desired_gpu": str(gpus),
        "desired_tpu": str(totals.get("google.com/tpu", zero)),
    }
