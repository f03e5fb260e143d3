"""Turning pydantic's type errors into sentences a KubeRay user can act on.

Pydantic knows *that* a field is wrong; this module adds *where* in user terms, what was
written, what is allowed, and for a misspelled field the closest real name.
"""

from __future__ import annotations

import copy
import difflib
import re
import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from rayplane.api.findings import Findings, show
from rayplane.api.validation.paths import render

# Pydantic tags a union member's errors with the member's type; these are not field names.
_TAG = re.compile(r"^(int|float|str|bool|none|list\[.*\]|dict\[.*\]|literal\[.*\]|[A-Z]\w*)$")


def _unwrap(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [annotation]


def _descend(annotation: Any, part: str | int) -> Any:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, info in candidate.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        origin = get_origin(candidate)
        if origin is list and isinstance(part, int):
            return get_args(candidate)[0]
        if origin is dict and isinstance(part, str):
            return get_args(candidate)[1]
    return None


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that owns the field at *loc*, if the path runs through models."""
    annotation: Any = root
    for part in loc:
        annotation = _descend(annotation, part)
        if annotation is None:
            return None
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """The closest choice to a misspelled *word*, if one is close enough to be a guess."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _clean_loc(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """*loc* without pydantic's union-member tags ('int', 'str', ...).

    A part is a tag only where the model has a union of several types; elsewhere a part
    that looks like one (a user's misspelled `MinReplicas`, an env var name) is a key.
    """
    out: list[str | int] = []
    annotation: Any = root
    for part in loc:
        if (
            annotation is not None
            and isinstance(part, str)
            and _TAG.match(part)
            and len(_unwrap(annotation)) > 1
        ):
            continue
        out.append(part)
        annotation = _descend(annotation, part) if annotation is not None else None
    return tuple(out)


def _expected_literal(error: ErrorDetails) -> list[str]:
    expected = str((error.get("ctx") or {}).get("expected", ""))
    return re.findall(r"'([^']*)'", expected)


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
}


def describe(root: type[BaseModel], errors: list[ErrorDetails], out: Findings) -> None:
    """Add one finding per distinct bad field in *errors*."""
    grouped: dict[tuple[str | int, ...], list[ErrorDetails]] = {}
    for error in errors:
        grouped.setdefault(_clean_loc(root, error["loc"]), []).append(error)
    for loc, errs in grouped.items():
        _describe_one(root, loc, errs, out)


def _describe_one(
    root: type[BaseModel], loc: tuple[str | int, ...], errs: list[ErrorDetails], out: Findings
) -> None:
    path = render(loc)
    first = errs[0]
    kind = first["type"]
    value = first.get("input")
    if kind == "extra_forbidden":
        owner = model_at(root, loc[:-1])
        names = field_names(owner) if owner else []
        guess = suggest(str(loc[-1]), names)
        hint = f" Did you mean '{guess}'?" if guess else ""
        where = render(loc[:-1])
        out.error(
            path,
            f"'{loc[-1]}' is not a field of {where}.{hint} Unknown fields would be dropped "
            "by Kubernetes, so rayplane refuses them.",
            value,
            allowed=", ".join(names) if names and not guess else None,
        )
        return
    if kind in ("less_than_equal", "greater_than_equal") and isinstance(value, int):
        out.error(
            path,
            f"is {show(value)}; Kubernetes stores it as a 32-bit integer, so it must be "
            "between -2147483648 and 2147483647.",
            value,
        )
        return
    if kind == "missing":
        out.error(path, "is required but missing.")
        return
    literal = [e for e in errs if e["type"] == "literal_error"]
    if literal:
        allowed = _expected_literal(literal[0])
        guess = suggest(str(value), allowed) if isinstance(value, str) else None
        hint = f" Did you mean '{guess}'?" if guess else ""
        out.error(
            path,
            f"{show(value)} is not one of the allowed values.{hint}",
            value,
            ", ".join(allowed),
        )
        return
    wants = sorted({_TYPE_WORDS.get(e["type"], "") for e in errs} - {""})
    if wants:
        wanted = " or ".join(wants)
        fix = ""
        if wants == ["a string"] and isinstance(value, int | float | bool):
            fix = f' Quote it: "{str(value).lower() if isinstance(value, bool) else value}".'
        out.error(path, f"is {show(value)}, but it must be {wanted}.{fix}", value, wanted)
        return
    out.error(path, f"{first['msg']} (got {show(value)}).", value)


def _drop(raw: Any, loc: Sequence[str | int]) -> bool:
    """Remove the value at *loc* (or its closest removable parent) from *raw*."""
    for depth in range(len(loc), 0, -1):
        parent: Any = raw
        try:
            for part in loc[: depth - 1]:
                parent = parent[part]
        except (KeyError, IndexError, TypeError):
            continue
        key = loc[depth - 1]
        if isinstance(parent, dict) and key in parent:
            del parent[key]
            return True
    return False


def _validate(root: type[BaseModel], raw: dict[str, Any]) -> BaseModel:
    # Only the wire (camelCase) names: the models' populate_by_name would otherwise accept
    # `min_replicas` for minReplicas, which Kubernetes prunes as an unknown field.
    return root.model_validate(raw, by_alias=True, by_name=False)


def without_nulls(raw: Any) -> Any:
    """*raw* without the object members whose value is null, at every depth.

    The API server prunes such members from custom resources before validating them
    (a CRD field is not nullable unless it says so), so `rayStartParams:` left empty in
    YAML, or `env: null`, means "not set" to KubeRay; null list items stay (and are
    reported where a list of objects is expected).
    """
    if isinstance(raw, dict):
        return {k: without_nulls(v) for k, v in raw.items() if v is not None}
    if isinstance(raw, list):
        return [without_nulls(v) for v in raw]
    return raw


def parse(root: type[BaseModel], raw: dict[str, Any], out: Findings) -> BaseModel | None:
    """Parse *raw*; report type errors; return a model of the rest, for the semantic rules.

    Fields with type errors are dropped and the parse retried, so that the semantic rules
    still run on everything else and the user sees all problems in one pass.
    """
    try:
        return _validate(root, raw)
    except ValidationError as exc:
        describe(root, exc.errors(), out)
        remaining = copy.deepcopy(raw)
        errors = exc.errors()
    for _ in range(5):
        if not any(_drop(remaining, _clean_loc(root, e["loc"])) for e in errors):
            return None
        try:
            return _validate(root, remaining)
        except ValidationError as exc:
            errors = exc.errors()
    return None
