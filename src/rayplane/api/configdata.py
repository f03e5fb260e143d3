"""Secret and ConfigMap (core v1): the objects `valueFrom` and `envFrom` read.

KubeRay samples ship a `kind: Secret` beside the RayCluster that reads it (the Redis
password of GCS fault tolerance, ...). The local runtime stores these two kinds so those
files run unchanged; this module checks them the way the API server would (so a typo is
reported before anything starts, not found later as a missing env var) and gives their
key -> value data with Kubernetes' semantics.

A Secret's values never appear in a finding: an error names the field and what is wrong
with the value, not the value.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from rayplane.api.findings import Findings, show
from rayplane.api.validation.meta import check_annotations, check_labels, check_namespace
from rayplane.api.validation.paths import join
from rayplane.api.validation.structure import suggest

CONFIG_KINDS = ("Secret", "ConfigMap")
API_VERSION = "v1"
_FIELDS = {
    "Secret": ("apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"),
    "ConfigMap": ("apiVersion", "kind", "metadata", "data", "binaryData", "immutable"),
}
# Kubernetes' IsConfigMapKey: what a data key may be (it becomes a file name in a volume).
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_config_kind(raw: Any) -> bool:
    """True for a core/v1 Secret or ConfigMap document (any apiVersion: check() says why)."""
    return isinstance(raw, dict) and raw.get("kind") in CONFIG_KINDS


def check(raw: dict[str, Any]) -> Findings:
    """Every problem of a Secret or ConfigMap document, each with its path and fix."""
    out = Findings()
    kind = str(raw.get("kind"))
    api = raw.get("apiVersion")
    if api != API_VERSION:
        out.error(
            "apiVersion",
            f"is {show(api)}; a {kind} is apiVersion: {API_VERSION} (the core API group).",
            api,
            API_VERSION,
        )
    for key in raw:
        if key not in _FIELDS[kind]:
            guess = suggest(str(key), _FIELDS[kind])
            hint = f" Did you mean '{guess}'?" if guess else ""
            _error(
                out,
                str(key),
                f"'{key}' is not a field of a {kind}.{hint} Unknown fields would be dropped "
                "by Kubernetes, so rayplane refuses them.",
                raw[key],
                secret=kind == "Secret",
                allowed=None if guess else ", ".join(_FIELDS[kind]),
            )
    _check_metadata(raw.get("metadata"), out)
    if "immutable" in raw and not isinstance(raw["immutable"], bool):
        out.error("immutable", f"is {show(raw['immutable'])}; it must be true or false.")
    if kind == "Secret":
        if "type" in raw and not isinstance(raw["type"], str):
            out.error("type", f"is {show(raw['type'])}; it must be a string, e.g. Opaque.")
        _check_map(raw, "data", out, base64_values=True, secret=True)
        _check_map(raw, "stringData", out, base64_values=False, secret=True)
    else:
        _check_map(raw, "data", out, base64_values=False, secret=False)
        _check_map(raw, "binaryData", out, base64_values=True, secret=False)
        both = set(_mapping(raw.get("data"))) & set(_mapping(raw.get("binaryData")))
        for key in sorted(both):
            out.error(
                join("binaryData", key),
                f"key {key!r} is also in data; a key may be in only one of data and "
                "binaryData. Remove one of them.",
                key,
            )
    return out


def _error(
    out: Findings, path: str, message: str, value: Any, *, secret: bool, allowed: str | None = None
) -> None:
    """An error that carries the value, unless the value is (part of) a Secret's data."""
    if secret:
        out.error(path, message, allowed=allowed)
    else:
        out.error(path, message, value, allowed)


def _check_metadata(meta: Any, out: Findings) -> None:
    if not isinstance(meta, dict):
        out.error("metadata", "is missing; every object needs metadata.name, e.g. name: redis.")
        return
    name = meta.get("name")
    if not name:
        out.error("metadata.name", "is missing; every object needs a name, e.g. name: redis.")
    elif not isinstance(name, str) or len(name) > 253 or not _SUBDOMAIN.match(name):
        out.error(
            "metadata.name",
            f"{show(name)} must be at most 253 lowercase letters, digits, '-' or '.', "
            "starting and ending with a letter or digit (DNS-1123 subdomain), e.g. "
            "redis-password.",
            name,
        )
    check_namespace(meta.get("namespace"), "metadata.namespace", out)
    check_labels(meta.get("labels"), "metadata.labels", out)
    check_annotations(meta.get("annotations"), "metadata.annotations", out)


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _check_map(
    raw: dict[str, Any], field: str, out: Findings, *, base64_values: bool, secret: bool
) -> None:
    if field not in raw or raw[field] is None:
        return
    values = raw[field]
    if not isinstance(values, dict):
        _error(out, field, "must be a mapping of key: value.", values, secret=secret)
        return
    for key, value in values.items():
        path = join(field, str(key))
        if not isinstance(key, str) or len(key) > 253 or not _KEY.match(key):
            out.error(
                path,
                f"key {show(key)} is not allowed; keys are letters, digits, '-', '_' and "
                "'.' (at most 253). Rename the key.",
                key,
            )
        if not isinstance(value, str):
            _error(out, path, _not_a_string(value, secret), value, secret=secret)
        elif base64_values:
            problem = _base64_problem(value)
            if problem:
                plain = "stringData" if secret else "data"
                _error(
                    out,
                    path,
                    f"is not valid base64 ({problem}); base64-encode it, or put the plain "
                    f"value under {plain}.",
                    value,
                    secret=secret,
                )


def _not_a_string(value: Any, secret: bool) -> str:
    if value is None:
        return 'is null, but it must be a string; quote it: "" for an empty value.'
    fix = "quote it."
    if not secret and isinstance(value, int | float | bool):
        fix = f'quote it: "{str(value).lower() if isinstance(value, bool) else value}".'
    return f"is a {_type_word(value)}, but it must be a string; {fix}"


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _base64_problem(value: str) -> str | None:
    """Why *value* is not what Go's base64.StdEncoding reads, or None (line breaks are ok)."""
    text = value.replace("\r", "").replace("\n", "")
    for index, char in enumerate(text):
        if not (char.isascii() and (char.isalnum() or char in "+/=")):
            return f"character {index + 1} is not in the base64 alphabet"
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return f"{len(text)} characters; its length or its '=' padding is wrong"
    return None


def _decode(value: str) -> str:
    # Env values are bytes to the OS; surrogateescape carries non-UTF-8 bytes through.
    raw = base64.b64decode(value.replace("\r", "").replace("\n", ""))
    return raw.decode("utf-8", "surrogateescape")


def decoded(raw: dict[str, Any]) -> dict[str, str]:
    """The key -> value data env vars read, for a document check() found no error in.

    Secret: base64-decoded `data` merged with `stringData`, stringData winning, as the API
    server merges them on write. ConfigMap: `data` only, because the kubelet reads only
    `data` for configMapKeyRef and envFrom (binaryData is for volumes).
    """
    values: dict[str, str] = {}
    if raw.get("kind") == "Secret":
        for key, value in _mapping(raw.get("data")).items():
            if isinstance(value, str) and _base64_problem(value) is None:
                values[str(key)] = _decode(value)
        for key, value in _mapping(raw.get("stringData")).items():
            if isinstance(value, str):
                values[str(key)] = value
        return values
    for key, value in _mapping(raw.get("data")).items():
        if isinstance(value, str):
            values[str(key)] = value
    return values


def normalized(raw: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server stores it: a Secret's stringData folded into data.

    `get secret -o yaml` then shows what kubectl shows (base64 `data`, type Opaque), and
    applying the same file twice compares equal.
    """
    doc = dict(raw)
    if doc.get("kind") != "Secret":
        return doc
    values = decoded(doc)
    doc.pop("stringData", None)
    doc["type"] = doc.get("type") or "Opaque"
    doc["data"] = {
        key: base64.b64encode(value.encode("utf-8", "surrogateescape")).decode("ascii")
        for key, value in values.items()
    }
    return doc


def sizes(raw: dict[str, Any]) -> dict[str, int]:
    """Key -> size in bytes (a ConfigMap's binaryData included): what `describe` shows of a
    Secret instead of its values."""
    values = {key: value.encode("utf-8", "surrogateescape") for key, value in decoded(raw).items()}
    if raw.get("kind") == "ConfigMap":
        for key, value in _mapping(raw.get("binaryData")).items():
            if isinstance(value, str) and _base64_problem(value) is None:
                values[str(key)] = base64.b64decode(value.replace("\r", "").replace("\n", ""))
    return {key: len(value) for key, value in sorted(values.items())}
