"""Waiting for a resource, shared by `rayplane apply` and the SDK's ``apply``.

One loop polls the runtime, shows the nodes' progress (a live table on a terminal and in a
Jupyter notebook, changed lines otherwise) and asks a *judge* whether the wait is over.
The judges read the runtime's detail document and say ready, failed for good (with the
runtime's reason), or what is still missing; the loop adds the timeout. So every wait ends
with an outcome and a reason, never silently, and the CLI and the SDK cannot drift.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from rayplane.local.raycluster_controller import blocking_failure
from rayplane.sdk.backend import NodeInfo
from rayplane.sdk.display import NotebookView, in_notebook, progress_console, safe

Detail = dict[str, Any]
Fetch = Callable[[], Detail | None]


@dataclass
class Outcome:
    """Whether a wait is over, whether it failed, and why (or what it still waits for)."""

    done: bool
    failed: bool
    message: str
    timed_out: bool = False


Judge = Callable[[Detail | None], Outcome]
Row = tuple[str, str, str, str, str]
JOB_TERMINAL = ("Complete", "Failed", "ValidationFailed")


def node_rows(detail: Detail) -> list[Row]:
    """Each node's cells, made safe to splice into markup (names and reasons are data).

    The rows are the detail's ``local.nodes`` whatever the kind: the local controller lists
    a RayJob's or RayService's cluster's nodes there too.
    """
    rows = []
    for node in (detail.get("local") or {}).get("nodes") or []:
        rows.append(
            (
                safe(node["name"]),
                safe(node["group"]),
                safe(node["state"]),
                f"{node.get('age') or 0:.0f}s",
                safe(node.get("reason") or ""),
            )
        )
    return rows


def _table(title: str, rows: list[Row], elapsed: float, message: str) -> Table:
    table = Table(title=f"{title}  ({elapsed:.0f}s)", title_justify="left", expand=False)
    for column in ("NODE", "GROUP", "STATE", "AGE", "WHY"):
        table.add_column(column)
    for row in rows:
        style = "green" if row[2] == "ready" else ("red" if row[2] == "failed" else "yellow")
        table.add_row(row[0], row[1], f"[{style}]{row[2]}[/{style}]", row[3], row[4])
    if message:  # what it waits for, or why it failed
        table.caption = safe(message)
        table.caption_justify = "left"
    return table


def wait_for(
    title: str,
    fetch: Fetch,
    judge: Judge,
    timeout_s: float,
    poll_s: float = 0.5,
    *,
    console: Console | None = None,
    progress: bool = True,
) -> Outcome:
    """Poll *fetch* until *judge* says done or *timeout_s* passes, showing node progress
    unless *progress* is false: on *console* when given (the CLI's), else in the notebook
    cell under Jupyter, else on stderr. A terminal gets a live table, anything else the
    lines that changed.

    A timeout is a failed outcome whose message starts with "timed out after" and goes on
    with what the judge last said was missing.
    """
    start = time.monotonic()
    shown: set[str] = set()
    notebook = NotebookView() if progress and console is None and in_notebook() else None
    where = console if console is not None else progress_console()
    live = None
    if progress and notebook is None and where.is_terminal:
        live = Live(console=where, refresh_per_second=4, transient=True)
        live.start()
    try:
        while True:
            detail = fetch()
            outcome = judge(detail)
            elapsed = time.monotonic() - start
            rows = node_rows(detail or {})
            said = outcome.message if outcome.failed or not outcome.done else ""
            table = _table(title, rows, elapsed, said)
            if notebook is not None:
                notebook.update(table)
            elif live is not None:
                live.update(table)
            elif progress:
                for row in rows:
                    line = f"  {row[0]} ({row[1]}): {row[2]}" + (f" - {row[4]}" if row[4] else "")
                    if line not in shown:
                        where.print(f"[{elapsed:5.1f}s]{line}")
                        shown.add(line)
            if outcome.done:
                return outcome
            if elapsed > timeout_s:
                return Outcome(
                    True, True, f"timed out after {timeout_s:.0f}s: {outcome.message}", True
                )
            time.sleep(poll_s)
    finally:
        if live is not None:
            live.stop()


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def cluster_outcome(detail: Detail | None) -> Outcome:
    """Ready, failed, or why not yet, for a RayCluster's detail document."""
    if detail is None:
        return Outcome(True, True, "the RayCluster disappeared while waiting")
    status = detail.get("status") or {}
    if status.get("state") == "ready":
        return Outcome(True, False, "ready")
    failure = blocking_failure(status)
    if failure:
        return Outcome(True, True, failure)
    nodes = (detail.get("local") or {}).get("nodes") or []
    waiting = [
        f"{n['name']}: {n.get('reason') or n['state']}" for n in nodes if n["state"] != "ready"
    ]
    desired = (status.get("desiredWorkerReplicas") or 0) + 1
    if len(nodes) < desired:
        head_ready = any(n["kind"] == "head" and n["state"] == "ready" for n in nodes)
        why = "starting a few at a time" if head_ready else "waiting for the head (wait-gcs-ready)"
        waiting.append(f"{desired - len(nodes)} node(s) not created yet: {why}")
    return Outcome(False, False, "; ".join(waiting) or "waiting for status")


def service_outcome(detail: Detail | None) -> Outcome:
    """Ready (serving), failed for good, or what it is waiting for, for a RayService.

    A Serve app or deployment that failed to deploy (``local.serveFailure``, one line with
    the exception and its message) ends the wait at once: Serve would only retry the same
    failing code, and the user must change something first.
    """
    if detail is None:
        return Outcome(True, True, "the RayService disappeared while waiting")
    local = detail.get("local") or {}
    serve_failure = local.get("serveFailure")
    if isinstance(serve_failure, str) and serve_failure.strip():
        return Outcome(True, True, serve_failure.strip())
    status = detail.get("status") or {}
    ready = _condition(status, "Ready")
    if ready and ready.get("status") == "True" and local.get("endpoint"):
        return Outcome(True, False, "ready")
    if ready and ready.get("reason") in ("InitializingTimeout", "ValidationFailed"):
        return Outcome(True, True, f"{ready['reason']}: {ready.get('message', '')}")
    stuck = local.get("clusterFailure")
    if stuck:
        return Outcome(True, True, stuck)
    apps = (status.get("pendingServiceStatus") or status.get("activeServiceStatus") or {}).get(
        "applicationStatuses"
    ) or {}
    shown = ", ".join(f"{a}: {v.get('status')}" for a, v in apps.items()) or "no apps yet"
    reason = ready.get("reason", "") if ready else "Initializing"
    return Outcome(False, False, f"{reason}; serve apps: {shown}")


def job_outcome(detail: Detail | None) -> Outcome:
    """Finished (succeeded, or failed with KubeRay's reason), stuck, or where a RayJob is."""
    if detail is None:
        return Outcome(True, True, "the RayJob disappeared while waiting")
    status = detail.get("status") or {}
    phase = status.get("jobDeploymentStatus") or "New"
    job_status = status.get("jobStatus") or ""
    if phase in JOB_TERMINAL:
        if phase == "Complete" and job_status == "SUCCEEDED":
            return Outcome(True, False, "SUCCEEDED")
        why = f"{status.get('reason') or phase}: {status.get('message') or ''}".strip(": ")
        return Outcome(True, True, f"jobStatus {job_status or 'none'}: {why}")
    stuck = (detail.get("local") or {}).get("clusterFailure")
    if stuck:
        return Outcome(True, True, stuck)
    parts = [phase] + ([f"job {job_status}"] if job_status else [])
    return Outcome(False, False, " - ".join(parts))


def group_outcome(group: str, nodes_of: Callable[[Detail], list[NodeInfo]]) -> Judge:
    """A judge for a worker group being scaled: done when *group* has as many ready nodes
    as it wants and none besides (a node being stopped still counts); failed on the
    cluster's blocking failure or when it disappears. A RayCluster's ``state`` stays
    ``ready`` while a group grows, so this reads the group's nodes (through *nodes_of*,
    the backend's, so it holds for Pods as for local processes), not the state."""

    def judge(detail: Detail | None) -> Outcome:
        if detail is None:
            return Outcome(True, True, "the RayCluster disappeared while waiting")
        failure = blocking_failure(detail.get("status"))
        if failure:
            return Outcome(True, True, failure)
        groups = (detail.get("spec") or {}).get("workerGroupSpecs") or []
        spec: dict[str, Any] = next((g for g in groups if g.get("groupName") == group), {})
        low, high = spec.get("minReplicas") or 0, spec.get("maxReplicas")
        desired = max(low, spec.get("replicas") or 0)
        desired = desired if high is None else min(desired, high)
        desired *= spec.get("numOfHosts") or 1
        nodes = [n for n in nodes_of(detail) if n.group == group and n.kind == "worker"]
        ready = sum(1 for n in nodes if n.state == "ready")
        if ready == desired and len(nodes) == desired:
            return Outcome(True, False, f"{ready}/{desired} workers ready")
        waiting = [f"{n.name}: {n.reason or n.state}" for n in nodes if n.state != "ready"]
        if len(nodes) < desired:
            waiting.append(f"{desired - len(nodes)} node(s) not created yet")
        return Outcome(False, False, f"{ready}/{desired} ready; " + "; ".join(waiting))

    return judge


def gone_outcome(detail: Detail | None) -> Outcome:
    """Deleted once the runtime no longer has the object (locally: no process is left)."""
    if detail is None:
        return Outcome(True, False, "deleted")
    nodes = (detail.get("local") or {}).get("nodes") or []
    return Outcome(False, False, f"{len(nodes)} node(s) still stopping")


JUDGES: dict[str, Judge] = {
    "RayCluster": cluster_outcome,
    "RayService": service_outcome,
    "RayJob": job_outcome,
}
"""The judge of ``apply`` for each kind that has something to wait for."""
