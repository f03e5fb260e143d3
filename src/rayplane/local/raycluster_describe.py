"""What `describe` and a RayCluster's status show of local nodes that Kubernetes would show.

A node's state and reason stand in for a Pod's phase and container status; the head's
loopback ports stand in for the head Service's endpoints.
"""

from __future__ import annotations

import time
from typing import Any

from rayplane.api.raycluster import RayCluster
from rayplane.local.configrefs import StoreConfigs
from rayplane.local.env import env_notes
from rayplane.local.loopback import LOOPBACK_IP
from rayplane.local.notes import apply_notes, local_notes
from rayplane.local.ports import NodePorts
from rayplane.local.store import StoredNode, StoredResource
from rayplane.settings import LocalSettings

REGISTERED = "registered with Ray"
"""A node's reason once its agent answers; a node's `why` says it, and `describe` shows it."""


def describe_node(node: StoredNode, *, alive: bool, head_ready: bool) -> dict[str, Any]:
    """One row of `describe`'s node table, as `kubectl describe pod` would summarise it."""
    if node.deleting is not None:
        state, reason = "stopping", "being stopped"
    elif node.pid is None:
        state, reason = "pending", str(node.info.get("why") or "not started yet")
    elif not alive:
        state, reason = "failed", str(node.info.get("why", "process exited"))
    elif node.info.get("why") == REGISTERED:
        state, reason = "ready", ""
    else:
        state = "starting"
        reason = str(node.info.get("why") or "ray start launched")
        if "agent not answering" in reason:
            reason = (
                "waiting for the head"
                if node.kind == "worker" and not head_ready
                else "ray start running"
            )
    ports = {
        "gcs": node.ports.get("gcs"),
        "dashboard": node.ports.get("dashboard"),
        "agent": node.ports.get("dashboard_agent_listen"),
        "client": node.ports.get("client_server"),
    }
    return {
        "name": node.name,
        "group": node.group,
        "kind": node.kind,
        "state": state,
        "age": round(time.time() - node.created, 1),
        "reason": reason,
        "pid": node.pid,
        "log": node.log_path,
        "tempDir": node.temp_dir,
        "command": node.info.get("command", ""),
        "marker": node.info.get("marker"),
        "ports": {k: v for k, v in ports.items() if v is not None},
        "mounts": list(node.info.get("mounts") or []),
        "mountsMissing": list(node.info.get("mountsMissing") or []),
    }


def cluster_notes(
    stored: StoredResource, settings: LocalSettings, configs: StoreConfigs
) -> list[str]:
    """What the local runtime does differently from Kubernetes for this resource's cluster."""
    if stored.kind != "RayCluster":
        # A RayJob's or RayService's own cluster spec: what its RayCluster will lack.
        warnings, dropped = apply_notes(stored.document(), settings.ray_versions)
        return warnings + dropped
    cluster = RayCluster.model_validate(stored.document())
    notes = local_notes(cluster, settings.ray_versions)
    return notes + env_notes(stored, cluster, settings, configs)


def add_local_status(
    stored: StoredResource, head: NodePorts | None, status: dict[str, Any]
) -> None:
    """Endpoints and head info the way KubeRay reports the head Service's."""
    if head is None:
        return
    endpoints = {
        "gcs-server": str(head.gcs),
        "dashboard": str(head.dashboard),
        "client": str(head.client_server),
        "metrics": str(head.metrics_export),
    }
    status["endpoints"] = endpoints
    head_info = status.setdefault("head", {})
    head_info.update(
        {
            "podIP": LOOPBACK_IP,
            "serviceIP": LOOPBACK_IP,
            "serviceName": f"{stored.name}-head-svc",
        }
    )


def status_differs(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Status changed in anything but its timestamp (avoids a write per pass)."""
    strip = {"lastUpdateTime"}
    return {k: v for k, v in new.items() if k not in strip} != {
        k: v for k, v in old.items() if k not in strip
    }
