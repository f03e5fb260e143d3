"""Printing for the CLI: findings, objects as YAML/JSON, one console for stdout and stderr.

Both consoles escape what resources and processes say (:mod:`rayplane.sdk.display`, shared
with the SDK's progress), so nothing from them can steer the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml
from rich.markup import escape

from rayplane.api.findings import Finding
from rayplane.sdk.display import console, printable, printable_log, safe

__all__ = ["dump", "err", "out", "print_findings", "printable", "printable_log", "safe"]

out = console(stderr=False)
err = console(stderr=True)


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
