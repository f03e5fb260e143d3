"""`rayplane logs` of a RayJob attempt whose cluster is gone: the logs its history kept.

The live logs come from the cluster (the Jobs API, the node log files); once the cluster
is being deleted they come from ``$RAYPLANE_HOME/history``, with a line on stderr that
says so, so a user reading them knows they are a copy and where it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rayplane.cli.output import err, out
from rayplane.local.history import DRIVER_LOG, NODES, Attempt, History


def job_attempt(history: History, detail: dict[str, Any], number: int | None) -> Attempt | None:
    """The kept attempt `logs rayjob/NAME` shows, or None when the live cluster should.

    Without *number*: the attempt of the RayJob's current cluster if that cluster is
    being (or was) deleted, else the newest kept one when the RayJob has no cluster now.
    """
    meta = detail["metadata"]
    attempts = [
        a
        for a in history.attempts(meta["namespace"], meta["name"])
        if a.manifest.get("uid") == meta.get("uid")
    ]
    if number is not None:
        chosen = next((a for a in attempts if a.number == number), None)
        if chosen is None:
            kept = ", ".join(str(a.number) for a in attempts) or "none"
            err.print(
                f"RayJob {meta['name']} has no kept attempt {number} (kept: {kept}); an "
                "attempt is kept when its cluster is deleted, and only the newest "
                f"{history.bounds.attempts} are kept"
            )
            raise typer.Exit(1)
        return chosen
    cluster = (detail.get("status") or {}).get("rayClusterName")
    if cluster:
        return next((a for a in attempts if a.cluster == cluster), None)
    return attempts[-1] if attempts else None


def say_where(attempt: Attempt, others: list[Attempt] | None = None) -> None:
    """One stderr line: the cluster is gone (or going) and the logs are the kept copy."""
    manifest = attempt.manifest
    cluster = attempt.cluster
    deleted = manifest.get("clusterDeletedAt")
    state = (
        f"was deleted at {deleted}"
        if deleted
        else f"is being deleted (since {manifest.get('archivedAt')})"
    )
    line = (
        f"RayCluster {cluster} (attempt {attempt.number} of RayJob {manifest.get('rayJob')}) "
        f"{state}; showing the logs kept under {attempt.dir}"
    )
    numbers = [a.number for a in others or [] if a.number != attempt.number]
    if numbers:
        line += f"; other kept attempts: {', '.join(map(str, numbers))} (--attempt N)"
    err.print(line, markup=False, highlight=False)


def print_driver_log(attempt: Attempt) -> None:
    path = attempt.dir / DRIVER_LOG
    try:
        text = path.read_text(errors="replace")
    except OSError:
        why = attempt.manifest.get("driverLogMissing") or "the Ray job never started on it"
        err.print(f"no driver log was kept for attempt {attempt.number}: {why}", markup=False)
        raise typer.Exit(1) from None
    out.print(text, end="", markup=False, highlight=False)


def kept_node_log(attempt: Attempt, node: str | None) -> Path:
    """The kept log of *node* (a node name, a group, or 'autoscaler'; default the head)."""
    logs = sorted((attempt.dir / NODES).glob("*.log"))

    def matches(path: Path) -> bool:
        name = path.name.removesuffix(".log")
        if node is None:
            return "-head-" in name
        return name == node or name.startswith(f"{attempt.cluster}-{node}-worker-")

    chosen = [p for p in logs if matches(p)]
    if not chosen:
        names = ", ".join(p.name.removesuffix(".log") for p in logs) or "none"
        dropped = attempt.manifest.get("droppedNodeLogs")
        extra = f" (not kept, over the size bound: {', '.join(dropped)})" if dropped else ""
        err.print(
            f"no kept log of node {node or '(head)'} in {attempt.cluster}; kept: {names}{extra}",
            markup=False,
        )
        raise typer.Exit(1)
    return chosen[0]
