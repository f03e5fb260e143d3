"""The few REST paths the test control plane, its tests and the benchmark use, and
server-side apply (what ``kubectl apply --server-side`` sends)."""

from __future__ import annotations

import json
from typing import Any

import httpx

Obj = dict[str, Any]

# plural -> (API prefix, namespaced)
RESOURCES: dict[str, tuple[str, bool]] = {
    "pods": ("/api/v1", True),
    "services": ("/api/v1", True),
    "serviceaccounts": ("/api/v1", True),
    "events": ("/api/v1", True),
    "secrets": ("/api/v1", True),
    "configmaps": ("/api/v1", True),
    "namespaces": ("/api/v1", False),
    "jobs": ("/apis/batch/v1", True),
    "roles": ("/apis/rbac.authorization.k8s.io/v1", True),
    "rolebindings": ("/apis/rbac.authorization.k8s.io/v1", True),
    "clusterroles": ("/apis/rbac.authorization.k8s.io/v1", False),
    "clusterrolebindings": ("/apis/rbac.authorization.k8s.io/v1", False),
    "leases": ("/apis/coordination.k8s.io/v1", True),
    "ingresses": ("/apis/networking.k8s.io/v1", True),
    "gateways": ("/apis/gateway.networking.k8s.io/v1", True),
    "httproutes": ("/apis/gateway.networking.k8s.io/v1", True),
    "rayclusters": ("/apis/ray.io/v1", True),
    "rayjobs": ("/apis/ray.io/v1", True),
    "rayservices": ("/apis/ray.io/v1", True),
    "raycronjobs": ("/apis/ray.io/v1", True),
    "customresourcedefinitions": ("/apis/apiextensions.k8s.io/v1", False),
    "validatingwebhookconfigurations": ("/apis/admissionregistration.k8s.io/v1", False),
}
KIND_PLURALS = {
    "Pod": "pods",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "Secret": "secrets",
    "ConfigMap": "configmaps",
    "Namespace": "namespaces",
    "Job": "jobs",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "RayCluster": "rayclusters",
    "RayJob": "rayjobs",
    "RayService": "rayservices",
    "RayCronJob": "raycronjobs",
    "CustomResourceDefinition": "customresourcedefinitions",
    "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
}


def path_of(plural: str, namespace: str | None = None, name: str | None = None) -> str:
    prefix, namespaced = RESOURCES[plural]
    path = prefix
    if namespaced and namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    return path


def apply(
    client: httpx.Client, obj: Obj, namespace: str | None = None, manager: str = "rayplane-tests"
) -> Obj:
    """Server-side apply *obj* with force (the caller owns every field it sends)."""
    meta = obj["metadata"]
    plural = KIND_PLURALS[obj["kind"]]
    ns = namespace or meta.get("namespace")
    answer = client.patch(
        path_of(plural, ns, meta["name"]),
        params={"fieldManager": manager, "force": "true"},
        content=json.dumps(obj),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    if not answer.is_success:
        raise RuntimeError(
            f"apply {obj['kind']}/{meta['name']}: {answer.status_code} {answer.text}"
        )
    result: Obj = answer.json()
    return result


def token_for(client: httpx.Client, namespace: str, service_account: str) -> str:
    """A bound token for a ServiceAccount (the TokenRequest API, as a kubelet gets one)."""
    answer = client.post(
        path_of("serviceaccounts", namespace, service_account) + "/token",
        json={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 86400},
        },
    )
    if not answer.is_success:
        raise RuntimeError(f"token for {namespace}/{service_account}: {answer.text}")
    return str(answer.json()["status"]["token"])
