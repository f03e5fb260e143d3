"""Printing for the CLI: findings, objects as YAML/JSON, one console for stdout and stderr."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from rayplane.api.errors import Finding


def _console(stderr: bool) -> Console:
    """A console that does not squeeze tables to 80 columns when piped or captured."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else 240
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


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
