"""The RayCluster status a pass writes: KubeRay's conditions, counts, endpoints and desired
resources (calculateStatus), computed from what was observed and what the pass decided."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from rayplane.api.common import MAX_INT32, Condition
from rayplane.api.k8s import PodSpec, Quantity
from rayplane.api.quantity_arithmetic import Amount
from rayplane.api.raycluster import HeadInfo, RayCluster, RayClusterStatus
from rayplane.reconcile.cluster.idle import IDLE_REASON_ANNOTATION
from rayplane.reconcile.cluster.model import (
    ALL_POD_RUNNING_AND_READY_FIRST_TIME,
    HEAD_POD_NOT_FOUND,
    HEAD_POD_READY,
    HEAD_POD_RUNNING_AND_READY,
    PODS_PROVISIONING,
    PROVISIONED,
    REPLICA_FAILURE,
    STATE_READY,
    STATE_SUSPENDED,
    SUSPENDED,
    SUSPENDING,
    UNKNOWN_REASON,
    ObservedCluster,
)
from rayplane.reconcile.conditions import (
    FALSE,
    TRUE,
    is_true,
    remove_condition,
    set_condition,
)
from rayplane.reconcile.gotime import format_time
from rayplane.reconcile.raystart import is_gpu_resource_key
from rayplane.reconcile.wire import go_wire


def suspend_status_of(conditions: Sequence[Condition] | None) -> str | None:
    """KubeRay's FindRayClusterSuspendStatus: which of Suspending/Suspended is True."""
    for condition in conditions or ():
        if condition.type in (SUSPENDING, SUSPENDED) and condition.status == TRUE:
            return condition.type
    return None


def _idle_message(cluster: RayCluster) -> str:
    """The Suspending/Suspended message of a cluster stopped for idleness ("" otherwise).

    KubeRay's conditions carry no message for ``spec.suspend``; one that suspended itself
    says so, and why, so `describe` answers "who stopped my cluster?".
    """
    if cluster.spec.suspend or not cluster.spec.idle_suspend:
        return ""
    reason = cluster.annotation(IDLE_REASON_ANNOTATION)
    return "spec.idleSuspend is true" + (f": {reason}" if reason else "")


def desired_status(
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
    fields.update(desired_resources(cluster))

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

    why = _idle_message(cluster)
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
            conditions = set_condition(conditions, SUSPENDED, TRUE, SUSPENDED, why, now)
    elif suspend_status == SUSPENDED:
        if not spec.suspended:
            conditions = set_condition(conditions, SUSPENDED, FALSE, SUSPENDED, "", now)
    else:
        conditions = set_condition(conditions, SUSPENDED, FALSE, SUSPENDED, "", now)
        suspending = TRUE if spec.suspended else FALSE
        message = why if spec.suspended else ""
        conditions = set_condition(conditions, SUSPENDING, suspending, SUSPENDING, message, now)

    if spec.suspended and not nodes:
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


def comparable(status: RayClusterStatus) -> dict[str, Any]:
    dumped = status_wire(status)
    dumped.pop("lastUpdateTime", None)
    if not dumped.get("head"):
        dumped.pop("head", None)
    return dumped


def pod_resources(pod: PodSpec) -> dict[str, Amount]:
    """KubeRay's CalculatePodResource: requests, else limits, summed over all containers."""
    total: dict[str, Amount] = {}
    for container in pod.containers:
        resources = container.resources
        if resources is None:
            continue
        merged: dict[str, Quantity] = dict(resources.requests or {})
        for name, quantity in (resources.limits or {}).items():
            merged.setdefault(name, quantity)
        for name, quantity in merged.items():
            amount = Amount.parse(quantity)
            total[name] = total[name].plus(amount) if name in total else amount
    return total


def desired_resources(cluster: RayCluster) -> dict[str, str]:
    """desiredCPU/Memory/GPU/TPU: the head plus ``replicas`` x numOfHosts of each group.

    Like KubeRay this uses the raw ``replicas`` (not clamped to min/max, unlike
    desiredWorkerReplicas), skips suspended groups, counts every container of the template
    (requests, falling back to limits) but not the sidecars KubeRay injects later, and
    sums all GPU-like keys for desiredGPU.
    """
    spec = cluster.spec
    totals: dict[str, Amount] = {}

    def add(resources: Mapping[str, Amount]) -> None:
        for name, amount in resources.items():
            totals[name] = totals[name].plus(amount) if name in totals else amount

    add(pod_resources(spec.head_group_spec.template.spec))
    for group in spec.worker_group_specs:
        if group.suspend:
            continue
        factor = (group.replicas or 0) * max(1, group.num_of_hosts)
        add({k: v.times(factor) for k, v in pod_resources(group.template.spec).items()})

    zero = Amount(Decimal(0), "DecimalSI")
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
