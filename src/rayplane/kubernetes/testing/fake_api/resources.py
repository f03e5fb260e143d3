"""The kinds the fake serves, their discovery documents, and its error answer.

A :class:`ResourceType` says where a kind lives in the API (group, version, plural) and
how it behaves (namespaced, with a status subresource); :data:`RESOURCES` is every kind
the operator and the Ray autoscaler touch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rayplane.errors import RayplaneError

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class ResourceType:
    """One kind the fake serves: where it lives in the API and how it behaves."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}"


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "pods", "Pod", status_subresource=True),
    ResourceType("", "v1", "services", "Service", status_subresource=True),
    ResourceType("", "v1", "events", "Event"),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount"),
    ResourceType("", "v1", "secrets", "Secret"),
    ResourceType("", "v1", "configmaps", "ConfigMap"),
    ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, True),
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, status_subresource=True),
    ResourceType("batch", "v1", "jobs", "Job", status_subresource=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceType("events.k8s.io", "v1", "events", "Event"),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", status_subresource=True),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    ResourceType("ray.io", "v1", "rayclusters", "RayCluster", status_subresource=True),
    ResourceType("ray.io", "v1", "rayjobs", "RayJob", status_subresource=True),
    ResourceType("ray.io", "v1", "rayservices", "RayService", status_subresource=True),
    ResourceType("ray.io", "v1", "raycronjobs", "RayCronJob", status_subresource=True),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        status_subresource=True,
    ),
)

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class ApiError(RayplaneError):
    """An error answered as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def status(self) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


def group_list() -> Obj:
    """``/apis``: every group the fake serves, for discovery."""
    groups: dict[str, list[str]] = {}
    for rtype in RESOURCES:
        if rtype.group:
            groups.setdefault(rtype.group, [])
            if rtype.version not in groups[rtype.group]:
                groups[rtype.group].append(rtype.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                "preferredVersion": {
                    "groupVersion": f"{group}/{versions[0]}",
                    "version": versions[0],
                },
            }
            for group, versions in groups.items()
        ],
    }


def resource_list(group: str, version: str) -> Obj:
    """``/apis/<group>/<version>``: its resources and their status subresources."""
    resources: list[Obj] = []
    for rtype in RESOURCES:
        if rtype.group != group or rtype.version != version:
            continue
        resources.append(
            {
                "name": rtype.plural,
                "singularName": rtype.kind.lower(),
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": VERBS,
            }
        )
        if rtype.status_subresource:
            resources.append(
                {
                    "name": f"{rtype.plural}/status",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    if not resources:
        raise ApiError(404, "NotFound", f"no API {group}/{version}")
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}


def timestamp() -> str:
    """Now, as Kubernetes writes times (RFC 3339, seconds, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def name_of(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))
