"""A Pod as the pure reconciler sees a node, and the head Service as it sees the endpoints.

The RayCluster controller observes its cluster's Pods through these; the RayService
controller uses the same view to count ready workers and find each cluster's head.
"""

from __future__ import annotations

import datetime as dt

from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.kube import Obj
from rayplane.reconcile.cluster import ObservedNode, Phase, ServiceInfo
from rayplane.reconcile.gotime import parse_time

_PHASES = ("Pending", "Running", "Failed", "Succeeded", "Unknown")


def _ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _ray_container_terminated(pod: Obj) -> bool:
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return False
    ray_name = containers[0].get("name")
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == ray_name:
            return "terminated" in (status.get("state") or {})
    return False


def _not_ready_reason(pod: Obj) -> tuple[str | None, str]:
    """Why a pod is not ready, in Kubernetes' words (container waiting reason first)."""
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"]), str(waiting.get("message") or "")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") != "True":
            return condition.get("reason") or None, str(condition.get("message") or "")
    return None, ""


def observed_node(pod: Obj) -> ObservedNode:
    """A Pod as the pure reconciler sees a node.

    A Running pod whose Ray container terminated under restartPolicy Never counts as
    Failed (KubeRay's "unhealthy" rule), so it is replaced.
    """
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    status = pod.get("status") or {}
    phase: Phase = status["phase"] if status.get("phase") in _PHASES else "Pending"
    if (
        phase == "Running"
        and (pod.get("spec") or {}).get("restartPolicy") == "Never"
        and _ray_container_terminated(pod)
    ):
        phase = "Failed"
    ready = _ready(pod)
    reason, message = (None, "") if ready else _not_ready_reason(pod)
    index = labels.get(L.REPLICA_INDEX)
    return ObservedNode(
        name=meta["name"],
        group=labels.get(L.GROUP, ""),
        kind="head" if labels.get(L.NODE_TYPE) == L.HEAD else "worker",
        phase=phase,
        ready=ready,
        deleting=bool(meta.get("deletionTimestamp")),
        ip=status.get("podIP"),
        created=parse_time(meta.get("creationTimestamp")) or dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        replica=labels.get(L.REPLICA_NAME),
        replica_index=int(index) if index and index.isdigit() else None,
        reason=reason,
        message=message,
    )


def service_info(service: Obj, head_ip: str | None) -> ServiceInfo:
    """The head Service for status.head and status.endpoints."""
    spec = service.get("spec") or {}
    cluster_ip = spec.get("clusterIP")
    info = ServiceInfo(name=service["metadata"]["name"])
    ip = cluster_ip if cluster_ip and cluster_ip != "None" else head_ip
    if ip:
        info["ip"] = ip
    endpoints: dict[str, str] = {}
    for port in spec.get("ports") or []:
        if port.get("name"):
            endpoints[port["name"]] = str(port.get("nodePort") or port.get("port"))
    info["endpoints"] = endpoints
    return info
