"""A resource's status as typed values: its state, why, and KubeRay's conditions.

Each kind keeps its state in a different field (a RayCluster's ``state``, a RayJob's
``jobDeploymentStatus``, a RayService's ``serviceStatus`` or Ready condition); a notebook
user should not need to know which, so :func:`status_of` reads the right one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Condition:
    """One of KubeRay's conditions (metav1.Condition's fields that matter to a reader)."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class Status:
    """Where a resource is (``state``), why (``reason``), its conditions, and the raw
    status document for anything else."""

    state: str
    reason: str
    conditions: list[Condition] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def condition(self, type_: str) -> Condition | None:
        """The condition of *type_* (e.g. "Ready"), or None."""
        return next((c for c in self.conditions if c.type == type_), None)


def _conditions(status: dict[str, Any]) -> list[Condition]:
    return [
        Condition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "")),
            reason=str(c.get("reason") or ""),
            message=str(c.get("message") or ""),
        )
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    ]


def status_of(obj: dict[str, Any]) -> Status:
    """The typed status of a ray.io object (or a Secret/ConfigMap, which has none: "stored")."""
    kind = obj.get("kind")
    raw: dict[str, Any] = dict(obj.get("status") or {})
    conditions = _conditions(raw)
    ready = next((c for c in conditions if c.type == "Ready"), None)
    local = obj.get("local") or {}
    if kind == "RayJob":
        state = str(raw.get("jobDeploymentStatus") or "New")
        reason = str(raw.get("reason") or raw.get("message") or raw.get("jobStatus") or "")
    elif kind == "RayService":
        if local.get("serveFailure"):
            state, reason = "Failed", str(local["serveFailure"])
        elif ready is not None:
            state = "Ready" if ready.status == "True" else "NotReady"
            reason = ready.reason + (f": {ready.message}" if ready.message else "")
        else:
            state, reason = str(raw.get("serviceStatus") or "Pending"), ""
    elif kind == "RayCluster":
        state = str(raw.get("state") or "pending")
        reason = str(raw.get("reason") or local.get("clusterFailure") or "")
        if not reason and ready is not None and ready.status != "True":
            reason = ready.reason + (f": {ready.message}" if ready.message else "")
    else:
        state, reason = "stored", ""
    return Status(state=state, reason=reason, conditions=conditions, raw=raw)
