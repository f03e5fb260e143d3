"""What the autoscaler sidecar needs to scale its cluster: ServiceAccount, Role, RoleBinding.

KubeRay's common/rbac.go and reconcileAutoscaler* at feeaf72, created only with
``enableInTreeAutoscaling``. The Role lets the stock Ray autoscaler read and patch its pods
(pods/resize for in-place resizing) and patch its RayCluster's replicas and
workersToDelete. Names are the cluster's, clipped by CheckName.

A head template that names its own ``serviceAccountName`` gets no ServiceAccount: KubeRay
expects the user to have made it (and reports an error when it is missing), but still binds
the Role to it.
"""

from __future__ import annotations

from rayplane.api.raycluster import RayCluster
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.names import check_name, head_service_account
from rayplane.kubernetes.builders.objects import Manifest, envelope

RBAC_API = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"

AUTOSCALER_RULES: list[dict[str, list[str]]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
    {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
]


def user_service_account(cluster: RayCluster) -> bool:
    """True when the head template names a ServiceAccount the user must provide."""
    return bool(cluster.spec.head_group_spec.template.spec.service_account_name)


def service_account(cluster: RayCluster) -> Manifest:
    """The autoscaler's ServiceAccount (only when the head template names none)."""
    name = check_name(head_service_account(cluster.name, cluster.spec))
    return envelope(
        "v1",
        "ServiceAccount",
        name,
        cluster.namespace,
        labels=L.operator_labels(cluster.name),
        owner=cluster,
    )


def role(cluster: RayCluster) -> Manifest:
    role_ = envelope(
        RBAC_API,
        "Role",
        check_name(cluster.name),
        cluster.namespace,
        labels=L.operator_labels(cluster.name),
        owner=cluster,
    )
    role_["rules"] = [{k: list(v) for k, v in rule.items()} for rule in AUTOSCALER_RULES]
    return role_


def role_binding(cluster: RayCluster) -> Manifest:
    binding = envelope(
        RBAC_API,
        "RoleBinding",
        check_name(cluster.name),
        cluster.namespace,
        labels=L.operator_labels(cluster.name),
        owner=cluster,
    )
    binding["subjects"] = [
        {
            "kind": "ServiceAccount",
            "name": check_name(head_service_account(cluster.name, cluster.spec)),
            "namespace": cluster.namespace,
        }
    ]
    binding["roleRef"] = {"apiGroup": RBAC_GROUP, "kind": "Role", "name": check_name(cluster.name)}
    return binding


def autoscaler_rbac(cluster: RayCluster) -> list[Manifest]:
    """ServiceAccount (unless the user's), Role and RoleBinding; nothing without autoscaling."""
    if not cluster.spec.autoscaling:
        return []
    objects = [] if user_service_account(cluster) else [service_account(cluster)]
    return [*objects, role(cluster), role_binding(cluster)]
