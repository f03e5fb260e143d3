"""Label selectors (equality and set based) and simple field selectors, as list/watch take them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from rayplane.kubernetes.testing.fake_api.resources import Obj

_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


def label_selector(text: str | None) -> Callable[[Mapping[str, str]], bool]:
    """A predicate over a label map for a Kubernetes label selector string."""
    terms: list[tuple[str, str, frozenset[str]]] = []  # (operator, key, values)
    for term in _split_terms(text or ""):
        match = _SET_TERM.match(term)
        if match:
            values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
            terms.append((match.group(2), match.group(1), values))
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            terms.append(("notin", key, frozenset({value})))
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
            terms.append(("in", key, frozenset({value})))
        elif term.startswith("!"):
            terms.append(("absent", term[1:].strip(), frozenset()))
        else:
            terms.append(("exists", term, frozenset()))

    def matches(labels: Mapping[str, str]) -> bool:
        for op, key, values in terms:
            found = labels.get(key)
            if op == "in" and found not in values:
                return False
            if op == "notin" and found in values:
                return False
            if op == "exists" and key not in labels:
                return False
            if op == "absent" and key in labels:
                return False
        return True

    return matches


def field_selector(text: str | None) -> Callable[[Obj], bool]:
    """``metadata.name``/``metadata.namespace`` (and any dotted path) with = / == / !=."""
    checks: list[Callable[[Obj], bool]] = []
    for term in _split_terms(text or ""):
        negate = "!=" in term
        path, value = (p.strip() for p in re.split(r"!=|==|=", term, maxsplit=1))

        def check(obj: Obj, path: str = path, value: str = value, negate: bool = negate) -> bool:
            current: Any = obj
            for part in path.split("."):
                current = current.get(part) if isinstance(current, dict) else None
            found = "" if current is None else str(current)
            return (found != value) if negate else (found == value)

        checks.append(check)
    return lambda obj: all(check(obj) for check in checks)


def query_matcher(query: Mapping[str, str]) -> Callable[[Obj], bool]:
    """The ``labelSelector`` and ``fieldSelector`` of a list or watch request, as one test."""
    labels = label_selector(query.get("labelSelector"))
    fields = field_selector(query.get("fieldSelector"))
    return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)
