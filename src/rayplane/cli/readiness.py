"""When `apply` stops waiting: ready, failed for good, or what a resource still waits for,
read from the controller's detail document."""

from __future__ import annotations

from typing import Any

from rayplane.cli.progress import Outcome
from rayplane.local.raycluster_controller import blocking_failure


def service_outcome(detail: dict[str, Any] | None) -> Outcome:
    """Ready (serving), failed for good, or what it is waiting for, for a RayService."""
    if detail is None:
        return Outcome(True, True, "the RayService disappeared while waiting")
    failed = (detail.get("local") or {}).get("serveFailure")
    if failed:  # a Serve app or deployment failed: its cause, on one line
        return Outcome(True, True, failed)
    status = detail.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    if ready and ready["status"] == "True" and (detail.get("local") or {}).get("endpoint"):
        return Outcome(True, False, "ready")
    if ready and ready.get("reason") in ("InitializingTimeout", "ValidationFailed"):
        return Outcome(True, True, f"{ready['reason']}: {ready.get('message', '')}")
    stuck = (detail.get("local") or {}).get("clusterFailure")
    if stuck:
        return Outcome(True, True, stuck)
    apps = (status.get("pendingServiceStatus") or status.get("activeServiceStatus") or {}).get(
        "applicationStatuses"
    ) or {}
    shown = ", ".join(f"{a}: {v.get('status')}" for a, v in apps.items()) or "no apps yet"
    reason = ready.get("reason", "") if ready else "Initializing"
    return Outcome(False, False, f"{reason}; serve apps: {shown}")


def cluster_outcome(detail: dict[str, Any] | None) -> Outcome:
    """Ready, failed, or why not yet, for a RayCluster's detail document."""
    if detail is None:
        return Outcome(True, True, "the RayCluster disappeared while waiting")
    status = detail.get("status") or {}
    if status.get("state") == "ready":
        return Outcome(True, False, "ready")
    failure = blocking_failure(status)
    if failure:
        return Outcome(True, True, failure)
    nodes = (detail.get("local") or {}).get("nodes", [])
    waiting = [
        f"{n['name']}: {n.get('reason') or n['state']}" for n in nodes if n["state"] != "ready"
    ]
    desired = (status.get("desiredWorkerReplicas") or 0) + 1
    if len(nodes) < desired:
        head_ready = any(n["kind"] == "head" and n["state"] == "ready" for n in nodes)
        why = "starting a few at a time" if head_ready else "waiting for the head (wait-gcs-ready)"
        waiting.append(f"{desired - len(nodes)} node(s) not created yet: {why}")
    return Outcome(False, False, "; ".join(waiting) or "waiting for status")
