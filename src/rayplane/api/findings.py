"""What validation and loading report: one finding per field, as a sentence with its path."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

_UNSET: Any = object()


def show(value: Any) -> str:
    """A value as the user would have typed it (JSON-ish), cut short when long."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):  # pragma: no cover - default=str handles the rest
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Finding:
    """One problem of a document: where, what was there, what is allowed."""

    path: str
    message: str
    value: Any = _UNSET
    allowed: str | None = None
    severity: Severity = "error"

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        if self.allowed and self.allowed not in self.message and "must" not in self.message:
            text += f" Allowed: {self.allowed}."
        return text

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "message": self.message}
        if self.has_value:
            out["value"] = self.value
        if self.allowed:
            out["allowed"] = self.allowed
        out["severity"] = self.severity
        return out


@dataclass
class Findings:
    """An accumulator that validators append to, so every problem is reported at once."""

    items: list[Finding] = field(default_factory=list)

    def error(
        self, path: str, message: str, value: Any = _UNSET, allowed: str | None = None
    ) -> None:
        self.items.append(Finding(path, message, value, allowed, "error"))

    def warn(
        self, path: str, message: str, value: Any = _UNSET, allowed: str | None = None
    ) -> None:
        self.items.append(Finding(path, message, value, allowed, "warning"))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.items if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.items if f.severity == "warning"]
