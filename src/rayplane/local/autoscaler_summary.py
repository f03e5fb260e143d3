"""What ``describe`` shows of the local autoscaler: a summary file and how it is made.

Each iteration the autoscaler process writes pending demand, infeasible requests with
their shape, idle nodes and launches to a small JSON file beside its log. A file rather
than the store's runtime state: that state is one JSON value the controller rewrites, and
a second writer in another process could undo the controller's writes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ray.autoscaler.v2.utils import ResourceRequestUtil

from rayplane.api.raycluster import HEAD_GROUP


def write_status(path: Path, summary: dict[str, Any]) -> None:
    """Replace the status file atomically: a reader sees the old or the new summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(summary))
    os.replace(tmp, path)


def _shape(bundle: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in sorted(dict(bundle).items())}


def infeasible_summary(state: Any) -> list[dict[str, Any]]:
    """The requests no node type can satisfy, grouped by shape, from an AutoscalingState."""
    out: list[dict[str, Any]] = []
    if state is None:
        return out
    for by_count in ResourceRequestUtil.group_by_count(list(state.infeasible_resource_requests)):
        item: dict[str, Any] = {
            "shape": _shape(by_count.request.resources_bundle),
            "count": int(by_count.count),
            "source": "tasks/actors",
        }
        selectors = [
            f"{c.label_key} {c.operator} {list(c.label_values)}"
            for s in by_count.request.label_selectors
            for c in s.label_constraints
        ]
        if selectors:
            item["labelSelectors"] = selectors
        out.append(item)
    for gang in state.infeasible_gang_resource_requests:
        for by_count in ResourceRequestUtil.group_by_count(list(gang.requests)):
            out.append(
                {
                    "shape": _shape(by_count.request.resources_bundle),
                    "count": int(by_count.count),
                    "source": f"placement group ({gang.details})" if gang.details else "pg",
                }
            )
    for constraint in state.infeasible_cluster_resource_constraints:
        for by_count in constraint.resource_requests:
            out.append(
                {
                    "shape": _shape(by_count.request.resources_bundle),
                    "count": int(by_count.count),
                    "source": "request_resources()",
                }
            )
    return out


def status_summary(status: Any) -> dict[str, Any]:
    """Pending demand, idle nodes and launches from a ray.autoscaler.v2 ClusterStatus."""
    demand: list[dict[str, Any]] = []
    demands = status.resource_demands
    for task in demands.ray_task_actor_demand:
        for b in task.bundles_by_count:
            demand.append({"shape": _shape(b.bundle), "count": b.count, "source": "tasks/actors"})
    for pg in demands.placement_group_demand:
        for b in pg.bundles_by_count:
            demand.append(
                {
                    "shape": _shape(b.bundle),
                    "count": b.count,
                    "source": f"placement group {pg.strategy or ''} {pg.state or ''}".strip(),
                }
            )
    for constraint in demands.cluster_constraint_demand:
        for b in constraint.bundles_by_count:
            demand.append(
                {"shape": _shape(b.bundle), "count": b.count, "source": "request_resources()"}
            )
    idle = [
        {
            "name": n.instance_id,
            "group": n.ray_node_type_name,
            "idleSeconds": round((n.resource_usage.idle_time_ms if n.resource_usage else 0) / 1e3),
        }
        for n in status.idle_nodes
        if n.ray_node_type_name != HEAD_GROUP
    ]
    launches = [{"group": r.ray_node_type_name, "count": r.count} for r in status.pending_launches]
    failed = [
        {"group": r.ray_node_type_name, "count": r.count, "details": r.details or ""}
        for r in status.failed_launches
    ]
    pending = [
        {"name": n.instance_id, "group": n.ray_node_type_name, "details": n.details or ""}
        for n in status.pending_nodes
    ]
    return {
        "demand": demand,
        "idleNodes": idle,
        "pendingLaunches": launches,
        "failedLaunches": failed,
        "pendingNodes": pending,
    }
