"""Scaling a worker group by hand: the object with one group's replicas changed.

kubectl-ray's ``scale cluster`` is the model: replicas outside the group's
minReplicas..maxReplicas are refused, not clamped and not widened silently (KubeRay would
clamp them, so the cluster would not have the size asked for, and nothing would say so).
The caller applies the result; the runtime's controller starts or stops the nodes.
"""

from __future__ import annotations

import copy
from typing import Any

from rayplane.errors import RayplaneError

__all__ = ["MAX_REPLICAS", "ScaleError", "scaled"]

MAX_REPLICAS = 2**31 - 1
"""KubeRay's maxReplicas when a group does not set one (MaxInt32)."""


class ScaleError(RayplaneError, ValueError):
    """A scale request that cannot be applied as asked; the message says the fix."""


def scaled(
    obj: dict[str, Any],
    group: str,
    replicas: int | None,
    *,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
) -> dict[str, Any]:
    """A copy of the RayCluster *obj* with worker group *group* at *replicas*.

    ``min_replicas`` / ``max_replicas`` (kubectl-ray's ``--min-replicas`` /
    ``--max-replicas``) change the group's bounds in the same step. Raises ScaleError for
    an unknown group (listing the groups), a negative number, or replicas outside the
    bounds (naming both, and how to widen them). The result has no ``local`` block, so an
    object read back from the local runtime can be scaled and applied as it is.
    """
    kind = obj.get("kind")
    if kind != "RayCluster":
        raise ScaleError(
            f"can only scale a RayCluster, not a {kind}; scale the RayCluster it runs on."
        )
    meta = obj.get("metadata") or {}
    where = f"RayCluster {meta.get('namespace') or 'default'}/{meta.get('name')}"
    for flag, value in (
        ("replicas", replicas),
        ("min-replicas", min_replicas),
        ("max-replicas", max_replicas),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ScaleError(f"--{flag} {value!r} is not a whole number.")
        if value is not None and not 0 <= value <= MAX_REPLICAS:
            raise ScaleError(f"--{flag} {value} is out of range; give 0 to {MAX_REPLICAS}.")
    if replicas is None and min_replicas is None and max_replicas is None:
        raise ScaleError("give --replicas, --min-replicas or --max-replicas (or several).")
    # The local runtime's read-only ``local`` block (nodes, events) is not part of the
    # object: leaving it in would make the result one the API refuses to apply.
    result = copy.deepcopy({k: v for k, v in obj.items() if k != "local"})
    groups = (result.get("spec") or {}).get("workerGroupSpecs") or []
    target = next((g for g in groups if g.get("groupName") == group), None)
    if target is None:
        names = ", ".join(str(g.get("groupName")) for g in groups) or "none"
        raise ScaleError(
            f"worker group {group!r} not found in {where}; its worker groups: {names}."
        )
    low = (target.get("minReplicas") or 0) if min_replicas is None else min_replicas
    high = target.get("maxReplicas") if max_replicas is None else max_replicas
    high = MAX_REPLICAS if high is None else high
    want = (target.get("replicas") or 0) if replicas is None else replicas
    if low > high:
        raise ScaleError(
            f"minReplicas {low} would be more than maxReplicas {high} for worker group "
            f"{group!r} of {where}; give --min-replicas <= --max-replicas."
        )
    if want < low:
        raise ScaleError(
            f"replicas {want} is below minReplicas {low} of worker group {group!r} in "
            f"{where} (allowed {low}..{high}); lower minReplicas to {want} "
            f"(--min-replicas {want}) or scale within the range."
        )
    if want > high:
        raise ScaleError(
            f"replicas {want} is above maxReplicas {high} of worker group {group!r} in "
            f"{where} (allowed {low}..{high}); raise maxReplicas to {want} "
            f"(--max-replicas {want}) or scale within the range."
        )
    if replicas is not None:
        target["replicas"] = replicas
    if min_replicas is not None:
        target["minReplicas"] = min_replicas
    if max_replicas is not None:
        target["maxReplicas"] = max_replicas
    return result
