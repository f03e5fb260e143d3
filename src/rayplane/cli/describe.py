"""`describe`: everything a user needs to know why a resource is (not) doing what they want."""

from __future__ import annotations

from typing import Any

import yaml
from rich.table import Table

from rayplane.cli.output import out


def _section(title: str) -> None:
    out.print(f"\n[bold]{title}[/bold]")


def render(detail: dict[str, Any]) -> None:
    meta = detail["metadata"]
    status = detail.get("status") or {}
    local = detail.get("local") or {}
    out.print(f"[bold]Name:[/bold]       {meta['name']}")
    out.print(f"[bold]Namespace:[/bold]  {meta['namespace']}")
    out.print(f"[bold]Kind:[/bold]       {detail['kind']}")
    out.print(f"[bold]UID:[/bold]        {meta.get('uid')}  generation {meta.get('generation')}")
    out.print(f"[bold]Created:[/bold]    {meta.get('creationTimestamp')}")
    if meta.get("deletionTimestamp"):
        out.print(f"[bold]Deleting:[/bold]   since {meta['deletionTimestamp']}")
    if status.get("state"):
        out.print(f"[bold]State:[/bold]      {status['state']}")
    endpoints = status.get("endpoints") or {}
    if endpoints:
        _section("Endpoints")
        for key, value in sorted(endpoints.items()):
            out.print(f"  {key}: {value}")
    conditions = status.get("conditions") or []
    if conditions:
        _section("Conditions")
        table = Table(box=None, pad_edge=False)
        for column in ("TYPE", "STATUS", "REASON", "MESSAGE", "SINCE"):
            table.add_column(column)
        for c in conditions:
            table.add_row(
                c["type"],
                c["status"],
                c.get("reason", ""),
                c.get("message", ""),
                c.get("lastTransitionTime", ""),
            )
        out.print(table)
    summary = {
        k: v
        for k, v in status.items()
        if k not in ("conditions", "endpoints", "state") and not isinstance(v, dict | list)
    }
    if summary:
        _section("Status")
        for key, value in summary.items():
            out.print(f"  {key}: {value}")
    nodes = local.get("nodes") or []
    if nodes:
        _section("Nodes")
        table = Table(box=None, pad_edge=False)
        for column in ("NODE", "GROUP", "STATE", "PID", "PORTS"):
            table.add_column(column, overflow="fold")
        for n in nodes:
            ports = n.get("ports") or {}
            shown = ", ".join(
                f"{k}={v}"
                for k, v in sorted(ports.items())
                if k in ("gcs", "dashboard", "agent", "client", "serve")
            )
            state = n["state"] + (f" ({n['reason']})" if n.get("reason") else "")
            table.add_row(n["name"], n["group"], state, str(n.get("pid") or ""), shown)
        out.print(table)
        _section("Logs")
        for n in nodes:
            out.print(f"  {n['name']}: {n.get('log', '')}", markup=False)
    notes = local.get("notes") or []
    if notes:
        _section("Local runtime notes")
        for note in notes:
            out.print(f"  - {note}")
    events = local.get("events") or []
    _section("Events")
    if not events:
        out.print("  <none>")
    for e in events:
        style = "yellow" if e["type"] == "Warning" else ""
        line = f"  {e['time']}  {e['type']:<7} {e['reason']:<22} {e['message']}"
        out.print(f"[{style}]{line}[/{style}]" if style else line, markup=bool(style))
    _section("Spec")
    out.print(yaml.safe_dump(detail.get("spec") or {}, sort_keys=False).rstrip(), markup=False)
