"""Reading a cluster-launcher config's values: YAML in, placeholders substituted, fields checked.

The launcher's documents are free-form YAML edited by hand and often run through
``envsubst``; every reader here accepts what substitution leaves behind (digit strings
for integers) and fails with a :class:`ConversionError` naming the field's path. The
tables say which launcher fields are known and why the machine-level ones have no
RayCluster counterpart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

from rayplane.api.loading import safe_load
from rayplane.errors import RayplaneError

#: KubeRay's validation limit for RayCluster names: child objects append suffixes such as
#: ``-head-svc``, so the name itself must stay shorter than a full 63-character label.
MAX_CLUSTER_NAME_LENGTH = 53

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_DIGITS = re.compile(r"[0-9]+")

# Global launcher fields that describe machines, not Ray, with the reason each has no
# RayCluster counterpart. Order is the order notes are emitted in.
DROPPED_GLOBAL_FIELDS: dict[str, str] = {
    "auth": "pods are reached through the Kubernetes API, not over SSH",
    "docker": "each pod runs the container image named in its template",
    "file_mounts": "mount volumes in the pod template or use a runtime environment",
    "cluster_synced_files": "mount volumes in the pod template instead",
    "file_mounts_sync_continuously": "there is nothing to sync between pods",
    "rsync_exclude": "there is nothing to rsync to pods",
    "rsync_filter": "there is nothing to rsync to pods",
    "initialization_commands": "bake them into the container image",
    "setup_commands": "bake them into the container image or use a runtime environment",
    "head_setup_commands": "bake them into the head container image",
    "worker_setup_commands": "bake them into the worker container image",
    "head_start_ray_commands": "KubeRay generates `ray start` from rayStartParams",
    "worker_start_ray_commands": "KubeRay generates `ray start` from rayStartParams",
    "no_restart": "KubeRay restarts Ray by recreating pods",
    "metadata": "use the RayCluster's own metadata",
    "min_workers": "it is a legacy field; minimums are set per worker group",
}

DROPPED_NODE_TYPE_FIELDS: dict[str, str] = {
    "node_config": "pick nodes with the pod template's nodeSelector, affinity or tolerations",
    "initialization_commands": "bake them into the container image",
    "worker_setup_commands": "bake them into the container image or use a runtime environment",
    "docker": "each pod runs the container image named in its template",
}

KNOWN_GLOBAL_FIELDS = frozenset(
    {
        "cluster_name",
        "provider",
        "available_node_types",
        "head_node_type",
        "max_workers",
        "upscaling_speed",
        "idle_timeout_minutes",
        *DROPPED_GLOBAL_FIELDS,
    }
)
KNOWN_NODE_TYPE_FIELDS = frozenset(
    {
        "resources",
        "min_workers",
        "max_workers",
        "idle_timeout_s",
        "priority",
        "labels",
        *DROPPED_NODE_TYPE_FIELDS,
    }
)


class ConversionError(RayplaneError, ValueError):
    """The input is not a cluster-launcher config this converter can read.

    A ``ValueError`` so callers that already treat bad user input that way need nothing new;
    the message always names the offending path (``available_node_types.x.resources``).
    """


def load(text_or_dict: str | Mapping[str, Any]) -> dict[str, Any]:
    """Parse YAML text, or copy a mapping, into a plain dict with string keys."""
    if isinstance(text_or_dict, str):
        try:
            loaded = safe_load(text_or_dict)
        except yaml.YAMLError as exc:
            raise ConversionError(f"The cluster-launcher config is not valid YAML: {exc}") from exc
    else:
        loaded = text_or_dict
    if not isinstance(loaded, Mapping):
        raise ConversionError(
            f"The cluster-launcher config must be a mapping at the top level, not {kind(loaded)}."
        )
    return dict(loaded)


def substitute(value: Any, env: Mapping[str, str], unset: list[str]) -> Any:
    """Replace placeholders in every string value, recording undefined names once each.

    Keys are left alone: launcher keys are fixed field names, and node type names become
    group names, which should not change with the environment.
    """
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name in env:
                return env[name]
            if name not in unset:
                unset.append(name)
            return match.group(0)

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, Mapping):
        return {key: substitute(item, env, unset) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, env, unset) for item in value]
    return value


def kind(value: Any) -> str:
    """A short description of a value's YAML type, for error messages."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def int_field(value: Any, path: str) -> int:
    """Read a non-negative integer, accepting digit strings left by substitution."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConversionError(f"{path} must be a non-negative integer, not {value}.")
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    hint = " (it still holds an unset placeholder)" if has_placeholder(value) else ""
    raise ConversionError(f"{path} must be a non-negative integer, not {kind(value)}{hint}.")


def number_field(value: Any, path: str) -> float:
    """Read a non-negative number, accepting numeric strings left by substitution."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            hint = " (it still holds an unset placeholder)" if has_placeholder(value) else ""
            raise ConversionError(f"{path} must be a number, not {kind(value)}{hint}.") from None
    else:
        raise ConversionError(f"{path} must be a number, not {kind(value)}.")
    if not math.isfinite(number) or number < 0:
        raise ConversionError(f"{path} must be a non-negative number, not {value!r}.")
    return number


def has_placeholder(value: Any) -> bool:
    return isinstance(value, str) and _PLACEHOLDER.search(value) is not None


def mapping_field(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConversionError(f"{path} must be a mapping, not {kind(value)}.")
    for key in value:
        if not isinstance(key, str):
            raise ConversionError(f"{path} must have string keys, not {key!r}.")
    return dict(value)


def describe_dropped(value: Any) -> str:
    """A short parenthetical saying what a dropped value held, so notes are concrete."""
    if isinstance(value, list):
        count = len(value)
        return f" ({count} command{'s' if count != 1 else ''})" if count else ""
    if isinstance(value, Mapping):
        if "InstanceType" in value:  # AWS
            return f" (InstanceType {value['InstanceType']})"
        if "machineType" in value:  # GCP
            return f" (machineType {value['machineType']})"
        if "type" in value and isinstance(value["type"], str):  # provider
            return f" (type {value['type']})"
        if "image" in value:  # docker
            return f" (image {value['image']})"
    return ""


def were(value: Any) -> str:
    """Agreement for notes: a dropped command list "were", anything else "was"."""
    return "were" if isinstance(value, list) else "was"


def is_empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


def dns1035_name(raw: str) -> str:
    """Make ``raw`` a valid RayCluster name: DNS-1035, at most 53 characters.

    Launcher cluster names are free strings (``Ray_On_AWS``); Kubernetes rejects anything
    but a lowercase letter followed by letters, digits and hyphens, ending in an
    alphanumeric. Invalid characters become hyphens so word boundaries survive.
    """
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower())
    name = re.sub(r"-{2,}", "-", name).strip("-")
    if not name:
        raise ConversionError(
            f"cluster_name {raw!r} has no letters or digits to build a Kubernetes name from."
        )
    if not name[0].isalpha():
        name = f"ray-{name}"
    return name[:MAX_CLUSTER_NAME_LENGTH].rstrip("-")
