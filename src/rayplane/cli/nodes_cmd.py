"""`get nodes NAME` and `get workergroups NAME`: kubectl-ray's tables, read locally.

kubectl-ray lists Pods by label; here a cluster's nodes are the ``ray start`` processes
the local controller reports, so the columns are kubectl-ray's (CPUs, GPUs, TPUs and
memory from the group's container resources, requests before limits) plus what a Pod's
phase would say: each node's state and why, and (``-o wide``) its PID and log.

NAME is the cluster. With ``-c/--ray-cluster`` (kubectl-ray's spelling) NAME filters by
node or group name instead. A RayJob's or RayService's name reaches the cluster it runs
on, so its nodes can be watched under the name the user applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer
import yaml
from rich.table import Table

from rayplane.api.quantity_arithmetic import Amount
from rayplane.cli.output import err, out, safe
from rayplane.sdk.backend import BackendError, NodeInfo
from rayplane.sdk.local_backend import LocalBackend
from rayplane.sdk.scaling import MAX_REPLICAS

NODE_WORDS = ("nodes", "node")
GROUP_WORDS = ("workergroups", "workergroup", "wg")
HEAD_GROUP = "headgroup"
GPU, TPU = "nvidia.com/gpu", "google.com/tpu"


def duration(seconds: float) -> str:
    """kubectl's short age: 42s, 5m, 3h, 2d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(max(seconds, 0))}s"


def pod_resources(template: dict[str, Any]) -> dict[str, str]:
    """The first container's resources as kubectl-ray shows them: requests, else limits."""
    containers = ((template or {}).get("spec") or {}).get("containers") or [{}]
    resources = containers[0].get("resources") or {}
    amounts = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {
        key: str(amounts.get(name, "0"))
        for key, name in (("cpus", "cpu"), ("gpus", GPU), ("tpus", TPU), ("memory", "memory"))
    }


def _group_specs(cluster: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = cluster.get("spec") or {}
    groups = {HEAD_GROUP: (spec.get("headGroupSpec") or {}).get("template") or {}}
    for group in spec.get("workerGroupSpecs") or []:
        groups[str(group.get("groupName"))] = group.get("template") or {}
    return groups


def _cluster_of(backend: LocalBackend, namespace: str, name: str) -> dict[str, Any] | None:
    """The RayCluster *name*, or the one the RayJob/RayService *name* runs on."""
    found = backend.get("RayCluster", namespace, name)
    if found is not None:
        return found
    for kind, path in (
        ("RayJob", ("rayClusterName",)),
        ("RayService", ("activeServiceStatus", "rayClusterName")),
        ("RayService", ("pendingServiceStatus", "rayClusterName")),
    ):
        owner = backend.get(kind, namespace, name)
        if owner is None:
            continue
        value: Any = owner.get("status") or {}
        for key in path:
            value = (value or {}).get(key)
        if value:
            return backend.get("RayCluster", namespace, str(value))
    return None


def _clusters(
    backend: LocalBackend, namespace: str, cluster: str | None, all_namespaces: bool
) -> list[dict[str, Any]]:
    """The clusters to show (each read with its nodes); exit 1 naming what is missing."""
    if cluster:
        found = _cluster_of(backend, namespace, cluster)
        if found is None:
            err.print(
                f'RayCluster (or RayJob/RayService) "{safe(cluster)}" not found in namespace '
                f"{safe(namespace)}; `rayplane get rayclusters -A` lists the clusters."
            )
            raise typer.Exit(1)
        return [found]
    listed = backend.list("RayCluster", None if all_namespaces else namespace)
    details = []
    for item in listed:
        meta = item["metadata"]
        detail = backend.get("RayCluster", meta["namespace"], meta["name"])
        if detail is not None:
            details.append(detail)
    return details


def node_rows(backend: LocalBackend, cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per node: kubectl-ray's fields, then state, reason, PID and log."""
    meta = cluster["metadata"]
    templates = _group_specs(cluster)
    rows = []
    for node in backend.nodes(cluster):
        rows.append(
            {
                "namespace": meta["namespace"],
                "name": node.name,
                **pod_resources(templates.get(node.group, {})),
                "cluster": meta["name"],
                "type": node.kind,
                "group": node.group,
                "state": node.state,
                "age": duration(node.age_s),
                "reason": node.reason,
                "pid": node.extra.get("pid"),
                "log": node.extra.get("log"),
            }
        )
    return rows


def group_rows(nodes: list[NodeInfo], cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per worker group: kubectl-ray's min, max, ready/desired and totals."""
    meta = cluster["metadata"]
    rows = []
    for group in (cluster.get("spec") or {}).get("workerGroupSpecs") or []:
        name = str(group.get("groupName"))
        desired = 0 if group.get("suspend") else int(group.get("replicas") or 0)
        each = pod_resources(group.get("template") or {})
        totals = {key: str(Amount.parse(value).times(desired)) for key, value in each.items()}
        ready = sum(
            1 for n in nodes if n.group == name and n.kind == "worker" and n.state == "ready"
        )
        high = group.get("maxReplicas")
        rows.append(
            {
                "namespace": meta["namespace"],
                "name": name,
                "min": int(group.get("minReplicas") or 0),
                "max": MAX_REPLICAS if high is None else int(high),
                "ready": ready,
                "desired": desired,
                **totals,
                "cluster": meta["name"],
            }
        )
    return rows


def _print(rows: list[dict[str, Any]], output: str, columns: list[tuple[str, str]]) -> None:
    if output == "json":
        out.print(json.dumps(rows, indent=2), markup=False)
        return
    if output == "yaml":
        out.print(yaml.safe_dump(rows, sort_keys=False), markup=False, end="")
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for header, _ in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*(safe("" if row.get(key) is None else row[key]) for _, key in columns))
    out.print(table)


def get_nodes(
    name: str | None,
    ray_cluster: str | None,
    namespace: str,
    all_namespaces: bool,
    output: str,
) -> None:
    """`get nodes [CLUSTER]` or kubectl-ray's `get nodes [NODE] -c CLUSTER`."""
    cluster, only = (ray_cluster, name) if ray_cluster else (name, None)
    rows = _rows(namespace, cluster, only, all_namespaces, node_rows)
    if only is not None and not rows:
        err.print(f"Ray node {safe(only)} not found in RayCluster {safe(cluster)}.")
        raise typer.Exit(1)
    if not rows and output in ("table", "wide"):
        where = "any namespace" if all_namespaces else f"namespace {namespace}"
        err.print(f"No Ray nodes found in {safe(cluster or where)}.")
        return
    columns = [
        ("NAME", "name"),
        ("CPUS", "cpus"),
        ("GPUS", "gpus"),
        ("TPUS", "tpus"),
        ("MEMORY", "memory"),
        ("CLUSTER", "cluster"),
        ("TYPE", "type"),
        ("WORKER GROUP", "group"),
        ("STATE", "state"),
        ("AGE", "age"),
        ("REASON", "reason"),
    ]
    if output == "wide":
        columns += [("PID", "pid"), ("LOG", "log")]
    if all_namespaces:
        columns.insert(0, ("NAMESPACE", "namespace"))
    _print(rows, output, columns)


def get_workergroups(
    name: str | None,
    ray_cluster: str | None,
    namespace: str,
    all_namespaces: bool,
    output: str,
) -> None:
    """`get workergroups [CLUSTER]` or kubectl-ray's `get workergroups [GROUP] -c CLUSTER`."""
    cluster, only = (ray_cluster, name) if ray_cluster else (name, None)
    rows = _rows(
        namespace, cluster, only, all_namespaces, lambda b, found: group_rows(b.nodes(found), found)
    )
    if only is not None and not rows:
        err.print(f"Ray worker group {safe(only)} not found in RayCluster {safe(cluster)}.")
        raise typer.Exit(1)
    if not rows and output in ("table", "wide"):
        where = "any namespace" if all_namespaces else f"namespace {namespace}"
        err.print(f"No worker groups found in {safe(cluster or where)}.")
        return
    for row in rows:
        row["replicas"] = f"{row['ready']}/{row['desired']}"
    columns = [
        ("NAME", "name"),
        ("MIN", "min"),
        ("MAX", "max"),
        ("REPLICAS", "replicas"),
        ("CPUS", "cpus"),
        ("GPUS", "gpus"),
        ("TPUS", "tpus"),
        ("MEMORY", "memory"),
        ("CLUSTER", "cluster"),
    ]
    if all_namespaces:
        columns.insert(0, ("NAMESPACE", "namespace"))
    if output in ("json", "yaml"):
        for row in rows:
            row.pop("replicas")
    _print(rows, output, columns)


def _rows(
    namespace: str,
    cluster: str | None,
    only: str | None,
    all_namespaces: bool,
    rows_of: Callable[[LocalBackend, dict[str, Any]], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """*rows_of* each cluster asked for, keeping only the row named *only* when given;
    none when no controller runs and no cluster was named (see _nothing_running)."""
    backend = LocalBackend(start=False)
    try:
        return [
            row
            for found in _clusters(backend, namespace, cluster, all_namespaces)
            for row in rows_of(backend, found)
            if only is None or row["name"] == only
        ]
    except BackendError as exc:
        return _nothing_running(exc, bool(cluster))


def _nothing_running(exc: BackendError, named: bool) -> list[dict[str, Any]]:
    """No controller means no clusters: an empty list, unless one was asked for by name."""
    if not named and "not running" in str(exc):
        return []
    err.print(safe(exc))
    raise typer.Exit(1)
