"""`describe`: everything a user needs to know why a resource is (not) doing what they want."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
import yaml
from rich.padding import Padding
from rich.table import Table

from rayplane.api.configdata import CONFIG_KINDS, sizes
from rayplane.cli.kinds import resolve
from rayplane.cli.output import err, out, printable, safe
from rayplane.cli.resources import Namespace, client, fail
from rayplane.local.client import ControllerError


def _section(title: str) -> None:
    out.print(f"\n[bold]{title}[/bold]")


def render(detail: dict[str, Any]) -> None:
    meta = detail["metadata"]
    status = detail.get("status") or {}
    local = detail.get("local") or {}
    out.print(f"[bold]Name:[/bold]       {safe(meta['name'])}")
    out.print(f"[bold]Namespace:[/bold]  {safe(meta['namespace'])}")
    out.print(f"[bold]Kind:[/bold]       {safe(detail['kind'])}")
    out.print(
        f"[bold]UID:[/bold]        {safe(meta.get('uid'))}  "
        f"generation {safe(meta.get('generation'))}"
    )
    out.print(f"[bold]Created:[/bold]    {safe(meta.get('creationTimestamp'))}")
    if meta.get("deletionTimestamp"):
        out.print(f"[bold]Deleting:[/bold]   since {safe(meta['deletionTimestamp'])}")
    if status.get("state"):
        out.print(f"[bold]State:[/bold]      {safe(status['state'])}")
    endpoints = status.get("endpoints") or {}
    if endpoints:
        _section("Endpoints")
        for key, value in sorted(endpoints.items()):
            out.print(f"  {safe(key)}: {safe(value)}")
    conditions = status.get("conditions") or []
    if conditions:
        _section("Conditions")
        table = Table(box=None, pad_edge=False)
        for column in ("TYPE", "STATUS", "REASON", "MESSAGE", "SINCE"):
            table.add_column(column)
        for c in conditions:
            table.add_row(
                safe(c["type"]),
                safe(c["status"]),
                safe(c.get("reason", "")),
                safe(c.get("message", "")),
                safe(c.get("lastTransitionTime", "")),
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
            out.print(f"  {safe(key)}: {safe(value)}")
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
            table.add_row(
                *(safe(c) for c in (n["name"], n["group"], state, n.get("pid") or "", shown))
            )
        out.print(table)
        _section("Logs")
        for n in nodes:
            out.print(printable(f"  {n['name']}: {n.get('log', '')}"), markup=False)
        _mounts(nodes)
    if local.get("auth"):
        _auth(local["auth"])
    if detail.get("kind") == "RayCluster":
        _worker_groups(detail.get("spec") or {}, nodes)
    if local.get("autoscaler"):
        _autoscaler(local["autoscaler"])
    if local.get("idle"):
        _section("Idle termination")
        out.print(f"  {safe(local['idle'])}")
    if local.get("serve") or local.get("serveFailure") or local.get("serveFailureLog"):
        _serve(local.get("serve") or {}, local.get("endpoint"))
        _serve_failure(local, meta)
    if detail.get("kind") == "RayJob":
        _job_history(local.get("history") or [])
    if local.get("cron"):
        _cron(detail.get("spec") or {}, local["cron"])
    notes = local.get("notes") or []
    if notes:
        _section("Local runtime notes")
        for note in notes:
            out.print(f"  - {safe(note)}")
    events = local.get("events") or []
    _section("Events")
    if not events:
        out.print("  <none>")
    for e in events:
        style = "yellow" if e["type"] == "Warning" else ""
        line = safe(f"  {e['time']}  {e['type']:<7} {e['reason']:<22} {e['message']}")
        out.print(f"[{style}]{line}[/{style}]" if style else line)
    _section("Spec")
    spec = yaml.safe_dump(detail.get("spec") or {}, sort_keys=False).rstrip()
    out.print(printable(spec), markup=False)


def _auth(auth: dict[str, Any]) -> None:
    """Where the Ray auth token is, never the token: a describe is pasted into issues."""
    _section("Auth")
    if auth.get("mode") != "token":
        out.print("  mode: disabled (anyone on this machine can reach the Jobs API)")
        return
    secret, ns = safe(auth.get("secret")), safe(auth.get("namespace"))
    out.print(f"  token: Secret {secret} key {safe(auth.get('key'))}")
    out.print(f"  (rayplane get secret {secret} -n {ns} -o yaml shows it, base64 in data)")


def _cron(spec: dict[str, Any], cron: dict[str, Any]) -> None:
    """A RayCronJob's schedule: when it fires next, in which zone, and the RayJobs so far."""
    _section("Schedule")
    out.print(f"  schedule: {safe(spec.get('schedule'))} (time zone {safe(cron.get('timeZone'))})")
    if spec.get("suspend"):
        out.print("  suspended: no new RayJobs until suspend is false")
    elif cron.get("nextScheduleTime"):
        out.print(f"  next: {safe(cron['nextScheduleTime'])}")
    if cron.get("behind"):
        out.print(f"  behind: {safe(cron['behind'])} missed ticks still to create, one by one")
    jobs = cron.get("rayJobs") or []
    out.print(f"  RayJobs ({len(jobs)}, newest first; deleted with the RayCronJob):")
    for job in jobs:
        state = job.get("jobDeploymentStatus") or "New"
        out.print(f"    {safe(job['name'])}  {safe(state)}  {safe(job.get('jobStatus') or '')}")


def _job_history(attempts: list[dict[str, Any]]) -> None:
    """The kept attempts of a RayJob: what is left of each once its cluster is deleted."""
    if not attempts:
        return
    _section("History (kept until the RayJob is deleted; `rayplane logs rayjob/NAME --attempt N`)")
    table = Table(box=None, pad_edge=False)
    for column in ("ATTEMPT", "CLUSTER", "JOB ID", "JOB STATUS", "CLUSTER DELETED", "KEPT"):
        table.add_column(column, overflow="fold")
    for a in attempts:
        files = a.get("files") or {}
        cut = [name for name, f in files.items() if f.get("keptBytes", 0) < f.get("bytes", 0)]
        kept = f"{len(files)} logs" + (f" ({', '.join(cut)}: tail only)" if cut else "")
        table.add_row(
            str(a.get("attempt")),
            str(a.get("cluster") or ""),
            str(a.get("jobId") or ""),
            f"{a.get('jobStatus') or ''} ({a.get('jobDeploymentStatus') or ''})",
            str(a.get("clusterDeletedAt") or f"being deleted since {a.get('archivedAt')}"),
            kept,
        )
    out.print(table)
    for a in attempts:
        out.print(f"  attempt {a.get('attempt')}: {a.get('dir')}", markup=False)


def _mounts(nodes: list[dict[str, Any]]) -> None:
    """Each node's view: volume (kind source) -> path (ro|rw), then what it lacks."""
    if not any(n.get("mounts") or n.get("mountsMissing") for n in nodes):
        return
    _section("Mounts")
    for n in nodes:
        for line in n.get("mounts") or []:
            out.print(printable(f"  {n['name']}: {line}"), markup=False)
        for line in n.get("mountsMissing") or []:
            out.print(printable(f"  {n['name']}: MISSING {line}"), markup=False)


def worker_groups(spec: dict[str, Any], nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per worker group: desired (clamp(replicas, min, max), 0 if suspended) and ready."""
    rows = []
    for group in spec.get("workerGroupSpecs") or []:
        name = group.get("groupName", "")
        low = group.get("minReplicas") or 0
        high = group.get("maxReplicas")
        desired = max(low, group.get("replicas") or 0)
        if high is not None:
            desired = min(desired, high)
        desired *= group.get("numOfHosts") or 1
        mine = [n for n in nodes if n.get("group") == name and n.get("kind") == "worker"]
        rows.append(
            {
                "name": name,
                "desired": 0 if group.get("suspend") else desired,
                "ready": sum(1 for n in mine if n.get("state") == "ready"),
                "nodes": len(mine),
                "min": low,
                "max": high,
                "workersToDelete": (group.get("scaleStrategy") or {}).get("workersToDelete") or [],
            }
        )
    return rows


def _worker_groups(spec: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
    rows = worker_groups(spec, nodes)
    if not rows:
        return
    _section("Worker groups")
    table = Table(box=None, pad_edge=False)
    for column in ("GROUP", "DESIRED", "READY", "NODES", "MIN", "MAX", "WORKERS TO DELETE"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            *(
                safe(c)
                for c in (
                    r["name"],
                    r["desired"],
                    r["ready"],
                    r["nodes"],
                    r["min"],
                    "" if r["max"] is None else r["max"],
                    ", ".join(str(w) for w in r["workersToDelete"]),
                )
            )
        )
    out.print(table)


def _serve(serve: dict[str, Any], endpoint: str | None) -> None:
    """Which cluster serves, and each deployment's replicas (running/target, by state)."""
    _section("Serve")
    if endpoint:
        out.print(f"  endpoint: {safe(endpoint)}")
    for role in ("active", "pending"):
        info = serve.get(role)
        if not info:
            continue
        apps = info.get("applications") or {}
        out.print(f"  {role} cluster: {safe(info['cluster'])}")
        if not apps:
            out.print("    no Serve applications read yet")
            continue
        table = Table(box=None, pad_edge=False)
        for column in ("APP", "ROUTE", "DEPLOYMENT", "STATUS", "REPLICAS", "STATES", "MESSAGE"):
            table.add_column(column, overflow="fold")
        for app_name, app in sorted(apps.items()):
            deployments = app.get("deployments") or {}
            first = True
            for dep_name, dep in sorted(deployments.items()) or [("", {})]:
                states = dep.get("replicas") or {}
                running = states.get("RUNNING", 0)
                target = dep.get("targetReplicas")
                cells = (
                    app_name if first else "",
                    (app.get("routePrefix") or "") if first else "",
                    dep_name,
                    dep.get("status") or app.get("status") or "",
                    f"{running}/{target if target is not None else '?'}" if dep_name else "",
                    ", ".join(f"{k} {v}" for k, v in sorted(states.items())),
                    _message(app, dep, first),
                )
                table.add_row(*(safe(c) for c in cells))
                first = False
        out.print(Padding(table, (0, 0, 0, 4)))


def _message(app: dict[str, Any], dep: dict[str, Any], first: bool) -> str:
    """One line per cell: a failed app's cause, else the first line of Serve's message (a
    message can be a 100-line traceback; the failure log keeps it whole)."""
    if first and app.get("failure"):
        return str(app["failure"])
    text = str(dep.get("message") or (app.get("message") if first else "") or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    shown = lines[0] if len(lines[0]) <= 200 else lines[0][:199] + "…"
    if dep.get("cause"):
        return f"{shown} {dep['cause']}"
    return shown + (" …" if len(lines) > 1 else "")


def _serve_failure(local: dict[str, Any], meta: dict[str, Any]) -> None:
    """Why the service cannot serve, on one line, and where Serve's full text is."""
    if local.get("serveFailure"):
        out.print(f"  [red]failed:[/red] {safe(local['serveFailure'])}", highlight=False)
    if local.get("serveFailureLog"):
        ns = meta.get("namespace") or "default"
        command = f"rayplane logs rayservice/{meta['name']}" + (
            f" -n {ns}" if ns != "default" else ""
        )
        out.print(f"  failure log: {safe(local['serveFailureLog'])} ({safe(command)})")


def _shape(item: dict[str, Any]) -> str:
    shape = ", ".join(f"{k}: {v:g}" for k, v in (item.get("shape") or {}).items())
    text = f"{{{shape}}} x{item.get('count', 1)} ({item.get('source', 'tasks/actors')})"
    if item.get("labelSelectors"):
        text += " with labels " + "; ".join(item["labelSelectors"])
    return text


def _autoscaler(info: dict[str, Any]) -> None:
    """The local Ray autoscaler: its process, what Ray asks for, and what it decided."""
    _section("Autoscaler")
    state = info.get("state", "")
    pid = f" (pid {info['pid']})" if info.get("pid") and state == "running" else ""
    reason = f": {info['reason']}" if info.get("reason") else ""
    out.print(f"  process: {safe(state)}{safe(pid)}{safe(reason)}")
    out.print(f"  log: {safe(info.get('log', ''))}")
    if info.get("updated"):
        age = max(0.0, time.time() - float(info["updated"]))
        out.print(f"  last update: {age:.0f}s ago")
    if info.get("error"):
        out.print(f"  [red]error:[/red] {safe(info['error'])}", highlight=False)
    for item in info.get("infeasible") or []:
        out.print(
            f"  [yellow]WARNING: infeasible demand: {safe(_shape(item))}: no worker group offers "
            "these resources, so the autoscaler cannot add a node for it; add a group that "
            "does, or change the request.[/yellow]",
            highlight=False,
        )
    demand = info.get("demand") or []
    out.print("  pending demand:" + ("" if demand else " none"))
    for item in demand:
        out.print(f"    {safe(_shape(item))}")
    for launch in info.get("pendingLaunches") or []:
        out.print(safe(f"  launching: {launch['count']} x {launch['group']}"))
    for node in info.get("pendingNodes") or []:
        out.print(safe(f"  starting: {node['name']} ({node['group']}) {node['details']}"))
    for failed in info.get("failedLaunches") or []:
        out.print(
            safe(f"  failed launch: {failed['count']} x {failed['group']}: {failed['details']}")
        )
    for node in info.get("idleNodes") or []:
        out.print(safe(f"  idle: {node['name']} ({node['group']}) for {node['idleSeconds']}s"))
    decisions = info.get("decisions") or []
    if decisions:
        out.print("  last decisions:")
        for d in decisions:
            out.print(safe(f"    {d['time']}  {d['message']}"))


def render_config(detail: dict[str, Any]) -> None:
    """A Secret or ConfigMap as `kubectl describe` shows it: a Secret's keys with their
    sizes, never its values (describe output ends up in terminals, logs and bug reports)."""
    meta = detail["metadata"]
    out.print(f"[bold]Name:[/bold]       {safe(meta['name'])}")
    out.print(f"[bold]Namespace:[/bold]  {safe(meta['namespace'])}")
    out.print(f"[bold]Kind:[/bold]       {safe(detail['kind'])}")
    out.print(f"[bold]Created:[/bold]    {safe(meta.get('creationTimestamp'))}")
    for key in ("labels", "annotations"):
        shown = ", ".join(f"{k}={v}" for k, v in (meta.get(key) or {}).items()) or "<none>"
        out.print(f"[bold]{key.title() + ':':<11}[/bold] {safe(shown)}", highlight=False)
    if detail["kind"] == "Secret":
        out.print(f"\n[bold]Type:[/bold]  {safe(detail.get('type') or 'Opaque')}")
    _section("Data")
    found = sizes(detail)
    data = detail.get("data") or {}
    if not found:
        out.print("  <none>")
    for key, size in found.items():
        if detail["kind"] == "ConfigMap" and key in data:
            out.print(f"  {safe(key)}: {safe(data[key])}", highlight=False)
        else:
            out.print(f"  {safe(key)}:  {size} bytes", highlight=False)


def describe_cmd(
    resource: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    namespace: Namespace = "default",
) -> None:
    """Show a resource with its status, nodes, ports, logs and recent events."""
    kind = resolve(resource)
    try:
        detail = client().get(kind, namespace, name)
    except ControllerError as exc:
        raise fail(exc) from exc
    if detail is None:
        err.print(f'{kind} "{name}" not found in namespace {namespace}')
        raise typer.Exit(1)
    if kind in CONFIG_KINDS:
        render_config(detail)
        return
    render(detail)
