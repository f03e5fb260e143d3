"""`get`: list resources with KubeRay's printer columns, or show one as YAML/JSON."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from rayplane.api.configdata import CONFIG_KINDS
from rayplane.cli.completion import complete_cluster, complete_get_name, complete_resource
from rayplane.cli.kinds import plural, resolve
from rayplane.cli.nodes_cmd import GROUP_WORDS, NODE_WORDS, get_nodes, get_workergroups
from rayplane.cli.output import dump, err, out, safe
from rayplane.cli.resources import Namespace, client, fail
from rayplane.local.client import ControllerClient, ControllerError


def _age(created: str | None) -> str:
    if not created:
        return "?"
    seconds = (
        time.time()
        - time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))
        + time.mktime(time.gmtime(0))
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


# KubeRay's printer columns (additionalPrinterColumns of its CRDs), as `kubectl get` shows.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "RayCluster": [
        ("DESIRED WORKERS", "desiredWorkerReplicas"),
        ("AVAILABLE WORKERS", "availableWorkerReplicas"),
        ("CPUS", "desiredCPU"),
        ("MEMORY", "desiredMemory"),
        ("GPUS", "desiredGPU"),
        ("STATUS", "state"),
    ],
    "RayJob": [
        ("JOB STATUS", "jobStatus"),
        ("DEPLOYMENT STATUS", "jobDeploymentStatus"),
        ("RAY CLUSTER NAME", "rayClusterName"),
        ("START TIME", "startTime"),
        ("END TIME", "endTime"),
    ],
    "RayService": [
        ("SERVICE STATUS", "serviceStatus"),
        ("NUM SERVE ENDPOINTS", "numServeEndpoints"),
    ],
    # A path starting with "." is read from the object (KubeRay's jsonPath), not status.
    "RayCronJob": [
        ("SCHEDULE", ".spec.schedule"),
        ("TIMEZONE", ".spec.timeZone"),
        ("LAST SCHEDULE", ".status.lastScheduleTime"),
        ("AGE", ".metadata.creationTimestamp"),
        ("SUSPEND", ".spec.suspend"),
    ],
    # kubectl's columns; read from the object itself (these kinds have no status)
    "Secret": [("TYPE", "type"), ("DATA", "data")],
    "ConfigMap": [("DATA", "data")],
}


def _row(doc: dict[str, Any], kind: str) -> list[str]:
    if kind in CONFIG_KINDS:
        keys = str(len(doc.get("data") or {}) + len(doc.get("binaryData") or {}))
        return [str(doc.get("type") or "Opaque"), keys] if kind == "Secret" else [keys]
    status = doc.get("status") or {}
    row = [
        _at(doc, key)
        if key.startswith(".")
        else ("" if status.get(key) is None else str(status[key]))
        for _, key in COLUMNS[kind]
    ]
    if doc["metadata"].get("deletionTimestamp") and kind == "RayCluster":
        row[-1] = "deleting"
    return row


def _at(doc: dict[str, Any], path: str) -> str:
    """A jsonPath column as kubectl prints it: dates as ages, booleans in lower case."""
    value: Any = doc
    for part in path.strip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return _age(str(value)) if path.endswith(("Timestamp", "Time")) else str(value)


def get_cmd(
    resource: Annotated[
        str,
        typer.Argument(
            help="rayclusters | rayjobs | rayservices | secrets | configmaps"
            " | nodes | workergroups",
            autocompletion=complete_resource,
        ),
    ],
    name: Annotated[str | None, typer.Argument(autocompletion=complete_get_name)] = None,
    namespace: Namespace = "default",
    all_namespaces: Annotated[bool, typer.Option("-A", "--all-namespaces")] = False,
    output: Annotated[
        str, typer.Option("-o", "--output", help="table, wide, yaml or json")
    ] = "table",
    ray_cluster: Annotated[
        str | None,
        typer.Option(
            "-c",
            "--ray-cluster",
            help="nodes/workergroups: the cluster (NAME then filters).",
            autocompletion=complete_cluster,
        ),
    ] = None,
) -> None:
    """List resources, or show one (-o wide: desired/ready workers per group).

    `get nodes CLUSTER` and `get workergroups CLUSTER` show a cluster's Ray nodes and
    worker groups (kubectl-ray's columns, with each node's state and why)."""
    if resource.lower() in NODE_WORDS + GROUP_WORDS:
        if output not in ("table", "wide", "yaml", "json"):
            err.print(f"-o {safe(output)}: unsupported output format; use wide, yaml or json.")
            raise typer.Exit(2)
        show = get_nodes if resource.lower() in NODE_WORDS else get_workergroups
        show(name, ray_cluster, namespace, all_namespaces, output)
        return
    kind = resolve(resource)
    ctl = client()
    try:
        if name:
            one = ctl.get(kind, namespace, name)
            if one is None:
                err.print(f'{kind} "{name}" not found in namespace {namespace}')
                raise typer.Exit(1)
            one.pop("local", None)
            docs = [one]
        else:
            docs = ctl.list(kind, None if all_namespaces else namespace)
    except ControllerError as exc:
        if not name and "not running" in str(exc):
            docs = []
        else:
            raise fail(exc) from exc
    if output in ("yaml", "json"):
        out.print(dump(docs, output), markup=False, end="")
        return
    if not docs:
        hint = ""
        if not all_namespaces and not name:
            try:
                others = ctl.list(kind)
            except ControllerError:
                others = []
            if others:
                hint = f" ({len(others)} in other namespaces; add -A to see them)"
        err.print(
            f"No {plural(kind)} found in {'any namespace' if all_namespaces else namespace}.{hint}"
        )
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    headers = ["NAME", *(header for header, _ in COLUMNS[kind])]
    own_age = "AGE" in headers  # KubeRay puts a RayCronJob's age before "suspend"
    if not own_age:
        headers.append("AGE")
    wide = output == "wide" and kind == "RayCluster"
    if wide:
        headers.append("GROUPS (READY/DESIRED)")
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    for header in headers:
        table.add_column(header)
    for doc in docs:
        row = [doc["metadata"]["name"], *_row(doc, kind)]
        if not own_age:
            row.append(_age(doc["metadata"].get("creationTimestamp")))
        if wide:
            row.append(_groups_cell(ctl, doc))
        if all_namespaces:
            row.insert(0, doc["metadata"]["namespace"])
        table.add_row(*(safe(cell) for cell in row))
    out.print(table)


def _groups_cell(ctl: ControllerClient, doc: dict[str, Any]) -> str:
    """'workers 1/3' per worker group: nodes registered with Ray / the group's target."""
    from rayplane.cli.describe import worker_groups

    meta = doc["metadata"]
    try:
        detail = ctl.get("RayCluster", meta["namespace"], meta["name"]) or {}
    except ControllerError:
        detail = {}
    nodes = (detail.get("local") or {}).get("nodes") or []
    rows = worker_groups(doc.get("spec") or {}, nodes)
    return ", ".join(f"{r['name']} {r['ready']}/{r['desired']}" for r in rows)
