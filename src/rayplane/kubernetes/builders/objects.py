"""Small pieces every builder uses: object envelopes, owner references, env vars, quantities.

Builders produce plain JSON-shaped dicts (camelCase keys, as the API server takes them), so
that what the operator sends, what ``rayplane render`` prints and what the tests check
against the Kubernetes OpenAPI schemas are one and the same value.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from rayplane.api.common import Resource
from rayplane.errors import RayplaneError

Manifest = dict[str, Any]

# Container resource quantities written as YAML numbers (cpu: 2) are strings on the wire.
_QUANTITY_KEYS = ("limits", "requests")


class BuildError(RayplaneError, ValueError):
    """The resource cannot be turned into objects; KubeRay would fail the same reconcile."""


def owner_reference(owner: Resource) -> dict[str, Any]:
    """A controller reference to *owner* (controllerutil.SetControllerReference).

    The owner must carry its uid (the API server's, or a dry run's placeholder).
    """
    uid = owner.metadata.uid
    if not uid:
        raise BuildError(f"{owner.kind} {owner.name!r} has no metadata.uid to own objects by")
    return {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def envelope(
    api_version: str,
    kind: str,
    name: str,
    namespace: str,
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    owner: Resource | None = None,
) -> Manifest:
    """``{apiVersion, kind, metadata}`` with only the metadata fields that are set."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    if owner is not None:
        metadata["ownerReferences"] = [owner_reference(owner)]
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


_METADATA_ORDER = ("name", "generateName", "namespace", "labels", "annotations", "ownerReferences")


def tidy_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """*metadata* in the usual reading order, without empty labels or annotations."""
    ordered = {key: metadata[key] for key in _METADATA_ORDER if key in metadata}
    ordered.update({k: v for k, v in metadata.items() if k not in ordered})
    for key in ("labels", "annotations"):
        if key in ordered and not ordered[key]:
            del ordered[key]
    return ordered


def deep(value: Any) -> Any:
    return copy.deepcopy(value)


# -- env vars ---------------------------------------------------------------------------------


def list_field(obj: dict[str, Any], key: str) -> list[Any]:
    """The list at *key*, made when absent or null: a user's ``env: null`` (or ``ports:``
    left empty in YAML) means no entries, and the builders append to it."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = []
    assert isinstance(value, list)  # validation refused other types
    return value


def env_list(container: dict[str, Any]) -> list[dict[str, Any]]:
    return list_field(container, "env")


def has_env(container: Mapping[str, Any], name: str) -> bool:
    return any(var.get("name") == name for var in container.get("env") or ())


def add_env(container: dict[str, Any], name: str, value: str) -> None:
    env_list(container).append({"name": name, "value": value})


def add_env_if_missing(container: dict[str, Any], name: str, value: str) -> None:
    if not has_env(container, name):
        add_env(container, name, value)


def add_field_env(container: dict[str, Any], name: str, field_path: str) -> None:
    env_list(container).append({"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}})


def label_field(key: str) -> str:
    """The downward-API path of a pod label, ``metadata.labels['<key>']``."""
    return f"metadata.labels['{key}']"


# -- volumes ----------------------------------------------------------------------------------


def has_mount_path(container: Mapping[str, Any], path: str) -> bool:
    return any(m.get("mountPath") == path for m in container.get("volumeMounts") or ())


def has_volume(pod_spec: Mapping[str, Any], name: str) -> bool:
    return any(v.get("name") == name for v in pod_spec.get("volumes") or ())


def add_mount(container: dict[str, Any], mount: dict[str, Any]) -> None:
    list_field(container, "volumeMounts").append(mount)


def add_volume(pod_spec: dict[str, Any], volume: dict[str, Any]) -> None:
    list_field(pod_spec, "volumes").append(volume)


# -- quantities -------------------------------------------------------------------------------


def quantity_text(value: Any) -> str:
    """A resource quantity as the API server stores it: always a string."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def normalize_resources(containers: Iterable[dict[str, Any]]) -> None:
    """Turn numeric container quantities (``cpu: 2``) into strings, in place."""
    for container in containers:
        resources = container.get("resources")
        if not isinstance(resources, dict):
            continue
        for key in _QUANTITY_KEYS:
            values = resources.get(key)
            if isinstance(values, dict):
                resources[key] = {k: quantity_text(v) for k, v in values.items()}


def resources(
    cpu: str, memory: str, request_cpu: str | None = None, request_memory: str | None = None
) -> dict[str, Any]:
    """Limits *cpu*/*memory*; requests the same unless given."""
    return {
        "limits": {"cpu": cpu, "memory": memory},
        "requests": {"cpu": request_cpu or cpu, "memory": request_memory or memory},
    }
