"""Showing a resource come up: a live table on a terminal, changed lines otherwise.

Either way the wait ends with an outcome and a reason, never silently: ready, failed (with
the runtime's reason), or timed out (with what was still missing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.live import Live
from rich.table import Table

from rayplane.cli.output import err, safe


@dataclass
class Outcome:
    done: bool
    failed: bool
    message: str


Row = tuple[str, str, str, str, str]


def node_rows(detail: dict[str, Any]) -> list[Row]:
    """Each node's cells, made safe to splice into markup (names and reasons are data)."""
    rows = []
    for node in (detail.get("local") or {}).get("nodes", []):
        rows.append(
            (
                safe(node["name"]),
                safe(node["group"]),
                safe(node["state"]),
                f"{node.get('age', 0):.0f}s",
                safe(node.get("reason", "")),
            )
        )
    return rows


def _table(title: str, rows: list[Row], elapsed: float) -> Table:
    table = Table(title=f"{title}  ({elapsed:.0f}s)", title_justify="left", expand=False)
    for column in ("NODE", "GROUP", "STATE", "AGE", "WHY"):
        table.add_column(column)
    for row in rows:
        style = "green" if row[2] == "ready" else ("red" if row[2] == "failed" else "yellow")
        table.add_row(row[0], row[1], f"[{style}]{row[2]}[/{style}]", row[3], row[4])
    return table


def wait_for(
    title: str,
    fetch: Callable[[], dict[str, Any] | None],
    judge: Callable[[dict[str, Any] | None], Outcome],
    timeout_s: float,
    poll_s: float = 0.5,
) -> Outcome:
    """Poll *fetch* until *judge* says done, showing node progress on stderr."""
    start = time.monotonic()
    last_lines: set[str] = set()
    live = Live(console=err, refresh_per_second=4, transient=True) if err.is_terminal else None
    if live:
        live.start()
    try:
        while True:
            detail = fetch()
            outcome = judge(detail)
            elapsed = time.monotonic() - start
            rows = node_rows(detail or {})
            if live:
                live.update(_table(title, rows, elapsed))
            else:
                for row in rows:
                    line = f"  {row[0]} ({row[1]}): {row[2]}" + (f" - {row[4]}" if row[4] else "")
                    if line not in last_lines:
                        err.print(f"[{elapsed:5.1f}s]{line}")
                        last_lines.add(line)
            if outcome.done:
                return outcome
            if elapsed > timeout_s:
                return Outcome(True, True, f"timed out after {timeout_s:.0f}s: {outcome.message}")
            time.sleep(poll_s)
    finally:
        if live:
            live.stop()
