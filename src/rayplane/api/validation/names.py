"""Kubernetes name and label syntax, and Ray version comparison."""

from __future__ import annotations

import re

from rayplane.api.findings import show

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def dns1035_problem(name: str, limit: int) -> str | None:
    """Why *name* cannot be a resource name of at most *limit* characters, or None."""
    if not name:
        return "is empty; a name is required"
    if len(name) > limit:
        return f"is {len(name)} characters long; at most {limit} are allowed"
    if not _DNS1035.match(name):
        return (
            "must be lowercase letters, digits and '-', start with a letter and end with a "
            "letter or digit (DNS-1035)"
        )
    return None


def dns1123_label_problem(name: str) -> str | None:
    if len(name) > 63 or not _DNS1123_LABEL.match(name):
        return (
            "must be at most 63 lowercase letters, digits or '-', starting and ending "
            "with an alphanumeric"
        )
    return None


def dns1123_subdomain_problem(name: str) -> str | None:
    """Why *name* cannot be an object name (most kinds: a DNS-1123 subdomain), or None."""
    if not name:
        return "is empty; a name is required"
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        return (
            "must be at most 253 lowercase letters, digits, '-' or '.', starting and ending "
            "with an alphanumeric (a DNS-1123 subdomain, e.g. 'my-cluster')"
        )
    return None


def label_key_problem(key: str) -> str | None:
    """Why *key* is not a qualified name (an optional DNS-1123 subdomain prefix and '/')."""
    if key.count("/") > 1:
        return "has more than one '/'; a key is NAME or PREFIX/NAME, e.g. example.com/team"
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return (
            f"has prefix {show(prefix)}, which is not a DNS-1123 subdomain (at most 253 "
            "lowercase letters, digits, '-' and '.', e.g. example.com)"
        )
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return (
            "must be at most 63 characters of [A-Za-z0-9-_.] (after an optional "
            "PREFIX/), starting and ending with an alphanumeric"
        )
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        return (
            "must be empty or at most 63 characters of [A-Za-z0-9-_.], starting and "
            "ending with an alphanumeric"
        )
    return None


def version_tuple(version: str | None) -> tuple[int, ...] | None:
    """(2, 47, 1) for "2.47.1"; None when the version is unset or not numeric."""
    if not version:
        return None
    parts = re.findall(r"\d+", version.split("+")[0])[:3]
    return tuple(int(p) for p in parts) if parts else None


def at_least(version: str | None, minimum: tuple[int, ...]) -> bool:
    """True when *version* is known and at least *minimum*; unknown versions pass."""
    parsed = version_tuple(version)
    return parsed is None or parsed >= minimum


def version_problem(version: str | None, minimum: tuple[int, ...]) -> str | None:
    """Why *version* does not meet *minimum*: unset (KubeRay requires it) or too old."""
    if not version:
        return "rayVersion is not set, and KubeRay needs it to check this."
    if not at_least(version, minimum):
        return f"rayVersion is {version}."
    return None
