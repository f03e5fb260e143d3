"""`rayplane top [NAME]`: is my cluster busy? Each node's load, live, with no extra server.

The numbers are Ray's own (:mod:`rayplane.clients.state_api`, read from each head's
dashboard). CPU is Ray's logical accounting (what tasks and actors hold), the figure Ray
schedules by: local nodes share one machine, so a per-node host CPU percentage would be
the same number on every row. ``--once`` prints one table and exits (scripts, tests, no
terminal); otherwise the table refreshes in place until Ctrl-C.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rayplane.cli.output import out, safe
from rayplane.cli.resources import client, dashboard_url
from rayplane.clients.state_api import ClusterLoad, NodeLoad, cluster_load
from rayplane.local.client import ControllerError
from rayplane.sdk.auth import cluster_token
from rayplane.sdk.backend import BackendError
from rayplane.sdk.local_backend import LocalBackend


def _bytes(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}TiB"


def _num(n: float | int | None) -> str:
    return "?" if n is None else f"{n:g}"


def _cpu(node: NodeLoad) -> str:
    return f"{_num(node.cpu_used)}/{_num(node.cpu_total)}"


Row = tuple[str, str | None, str, str | None]


def _clusters(name: str | None, namespace: str | None) -> list[Row]:
    """(namespace/name, dashboard URL or None, phase, Ray auth token) of the clusters
    asked for."""
    ctl = client()
    try:
        query = {"kind": "RayCluster"}
        if namespace is not None:
            query["namespace"] = namespace
        docs: list[dict[str, Any]] = ctl.request("GET", "/resources", **query)
    except ControllerError as exc:
        raise SystemExit(f"no local controller answers ({safe(exc)}); nothing to show") from exc
    finally:
        ctl.close()
    found: list[Row] = []
    backend = LocalBackend(start=False)
    try:
        for doc in docs:
            meta = doc.get("metadata") or {}
            if name is not None and meta.get("name") != name:
                continue
            status = doc.get("status") or {}
            found.append(
                (
                    f"{meta.get('namespace')}/{meta.get('name')}",
                    dashboard_url(status),
                    str(status.get("state") or "pending"),
                    _token(backend, doc),
                )
            )
    finally:
        backend.close()
    return sorted(found, key=lambda row: row[0])


def _token(backend: LocalBackend, doc: dict[str, Any]) -> str | None:
    """The cluster's token; None when it has none or it cannot be read (the dashboard then
    answers 401, which the view shows as not answering)."""
    try:
        return cluster_token(backend, doc)
    except (BackendError, ControllerError):
        return None


def _table(title: str, load: ClusterLoad) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("NODE", "GROUP", "STATE", "CPU", "MEMORY", "OBJECT STORE", "TASKS", "ACTORS"):
        table.add_column(column, justify="right" if column in ("TASKS", "ACTORS") else "left")
    for node in load.nodes:
        table.add_row(
            safe(node.name) + (" (head)" if node.head else ""),
            safe(node.group),
            safe(node.state),
            _cpu(node),
            safe(node.memory) or "?",
            f"{_bytes(node.object_store_used)}/{_bytes(node.object_store_total)}",
            _num(node.running_tasks),
            _num(node.alive_actors),
        )
    return table


def render(name: str | None, namespace: str | None, http: httpx.Client) -> tuple[Group, bool]:
    """The view, and whether the cluster asked for (or any) exists."""
    parts: list[Any] = []
    clusters = _clusters(name, namespace)
    if not clusters:
        parts.append(Text(f"RayCluster {safe(name)} not found" if name else "no RayCluster"))
    for key, url, phase, token in clusters:
        if url is None:
            parts.append(Text(f"{key}: {phase}, no dashboard yet"))
            continue
        try:
            load = cluster_load(http, url, token)
        except (httpx.HTTPError, ValueError) as exc:
            parts.append(Text(f"{key}: dashboard {url} not answering ({type(exc).__name__})"))
            continue
        # Ray keeps nodes that left (scaled down, crashed) in its list as DEAD; they are
        # counted, not shown: the question is what the cluster is doing now.
        alive = [n for n in load.nodes if n.state != "DEAD"]
        dead = len(load.nodes) - len(alive)
        gone = f" ({dead} dead not shown)" if dead else ""
        title = f"{key}  {len(alive)} nodes{gone}  {url}"
        parts.append(_table(title, ClusterLoad(alive, load.pending_demand, load.problems)))
        demand = ", ".join(load.pending_demand) if load.pending_demand else "none"
        parts.append(Text(f"  pending demand: {safe(demand)}"))
        for problem in load.problems:
            parts.append(Text(f"  {safe(problem)}", style="yellow"))
    return Group(*parts), bool(clusters)


def top_cmd(
    name: Annotated[str | None, typer.Argument(help="A RayCluster (default: all)")] = None,
    namespace: Annotated[
        str | None, typer.Option("-n", "--namespace", help="Namespace (default: all)")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Print once and exit")] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes")] = 2.0,
) -> None:
    """Each cluster's nodes: Ray's CPU, memory and object store use, tasks, actors, demand."""
    with httpx.Client(timeout=10.0) as http:
        view, found = render(name, namespace, http)
        if once:
            out.print(view)
            if name is not None and not found:
                raise typer.Exit(1)
            return
        with Live(view, console=out, auto_refresh=False) as live:
            try:
                while True:
                    time.sleep(interval)
                    live.update(render(name, namespace, http)[0], refresh=True)
            except KeyboardInterrupt:
                return
