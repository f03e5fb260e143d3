"""Printing for the CLI: findings, objects as YAML/JSON, one console for stdout and stderr.

Names, messages and statuses come from resources anyone could write, and from processes'
output. Nothing from them may steer the terminal: control characters (cursor moves, title
or clipboard escapes, a carriage return that hides a line) are shown as visible escapes,
and text spliced into Rich markup goes through :func:`safe` so `[red]` in a message is
printed, not obeyed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from rayplane.api.findings import Finding

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides
# that make a terminal show text in another order than it is.
_CONTROLS = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
_CONTROL = re.compile(_CONTROLS)
# What logs keep besides: colour (SGR) sequences and carriage returns, as a terminal
# shows a process's own output (`kubectl logs` passes them on too).
_LOG_CONTROL = re.compile(r"(\x1b\[[0-9;]*m|\r)|" + _CONTROLS)


def _visible(match: re.Match[str]) -> str:
    if match.lastindex:  # a kept log sequence
        return match.group()
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """*text* with every control character shown as an escape (``\\x1b``)."""
    return _CONTROL.sub(_visible, text)


def printable_log(text: str) -> str:
    """A process's output: colours and carriage returns kept, other controls escaped."""
    return _LOG_CONTROL.sub(_visible, text)


def safe(value: Any) -> str:
    """*value* as text to splice into Rich markup: controls escaped, markup inert."""
    return escape(printable(str(value)))


class _Console(Console):
    """Every string Rich renders (print arguments, table cells) is made printable first.

    Text printed with markup on holds our own markup and resource data: all controls are
    escaped. Text printed with ``markup=False`` is verbatim output (logs, YAML): there
    colours survive, as in `kubectl logs`, and every other control is escaped.
    """

    def render_str(self, text: str, **kwargs: Any) -> Text:
        markup = kwargs.get("markup")
        verbatim = markup is False or (markup is None and not self._markup)
        return super().render_str(printable_log(text) if verbatim else printable(text), **kwargs)


def _console(stderr: bool) -> Console:
    """A console that does not squeeze tables to 80 columns when piped or captured."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else 240
    return _Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


out = _console(False)
err = _console(True)


def dump(objects: list[dict[str, Any]], fmt: str) -> str:
    """Objects as kubectl prints them: YAML documents or one JSON value (List if many)."""
    if fmt == "json":
        if len(objects) == 1:
            return json.dumps(objects[0], indent=2)
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2)
    return "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in objects)


def print_findings(findings: Iterable[Finding], indent: str = "  ") -> None:
    for finding in findings:
        style = "red" if finding.severity == "error" else "yellow"
        label = "error" if finding.severity == "error" else "warning"
        err.print(f"{indent}[{style}]{label}[/{style}] {escape(str(finding))}")
