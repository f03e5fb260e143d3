"""Reading a process's log for the reasons the runtime reports (why a node or job died)."""

from __future__ import annotations

from pathlib import Path


def log_tail(path: str | Path, lines: int) -> str:
    """The last *lines* non-empty lines of a log, joined on one line ("" if unreadable)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join([line for line in text.splitlines() if line.strip()][-lines:])
