"""KubeRay's label and annotation keys, and the label sets of the objects it creates.

Keys and values are those of ray-operator/controllers/ray/utils/constant.go at feeaf72;
the pod label rules are ``labelPod`` and ``mergeLabels`` of common/pod.go. The stock Ray
autoscaler selects pods by ``ray.io/cluster`` and reads ``ray.io/node-type`` and
``ray.io/group``, so these must match KubeRay's exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

from rayplane.kubernetes.builders.names import identifier

# -- label keys -------------------------------------------------------------------------------
IS_RAY_NODE = "ray.io/is-ray-node"
CLUSTER = "ray.io/cluster"
NODE_TYPE = "ray.io/node-type"
GROUP = "ray.io/group"
IDENTIFIER = "ray.io/identifier"
SERVE = "ray.io/serve"
HEADLESS_WORKER_SVC = "ray.io/headless-worker-svc"
ORIGINATED_FROM_CR_NAME = "ray.io/originated-from-cr-name"
ORIGINATED_FROM_CRD = "ray.io/originated-from-crd"
JOB_SUBMISSION_MODE = "ray.io/job-submission-mode"
REPLICA_INDEX = "ray.io/worker-group-replica-index"
REPLICA_NAME = "ray.io/worker-group-replica-name"
HOST_INDEX = "ray.io/replica-host-index"
APP_NAME = "app.kubernetes.io/name"
CREATED_BY = "app.kubernetes.io/created-by"

# -- label values -----------------------------------------------------------------------------
APP_NAME_VALUE = "kuberay"
CREATED_BY_VALUE = "kuberay-operator"
HEAD = "head"
WORKER = "worker"
REDIS_CLEANUP = "redis-cleanup"

# -- annotation keys --------------------------------------------------------------------------
FT_ENABLED = "ray.io/ft-enabled"
EXTERNAL_STORAGE_NAMESPACE = "ray.io/external-storage-namespace"
OVERWRITE_CONTAINER_CMD = "ray.io/overwrite-container-cmd"
ENABLE_SERVE_SERVICE = "ray.io/enable-serve-service"
UPGRADE_STRATEGY_RECREATE_HASH = "ray.io/upgrade-strategy-recreate-hash"
KUBERAY_VERSION = "ray.io/kuberay-version"
HASH_WITHOUT_REPLICAS = "ray.io/hash-without-replicas-and-workers-to-delete"
NUM_WORKER_GROUPS = "ray.io/num-worker-groups"
DISABLE_PROVISIONED_HEAD_RESTART = "ray.io/disable-provisioned-head-restart"
INGRESS_CLASS = "kubernetes.io/ingress.class"

# Labels a user's template labels cannot override on a Ray pod.
PROTECTED = frozenset({NODE_TYPE, GROUP, CLUSTER})


def pod_labels(
    cluster: str,
    node_type: str,
    group: str,
    template_labels: Mapping[str, str] | None = None,
    group_labels: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The labels of a Ray pod (``mergeLabels`` then ``labelPod``).

    The group's top-level ``labels`` win over the template's; both win over KubeRay's
    defaults except for the cluster, node type and group, which are always KubeRay's.
    """
    labels = {
        IS_RAY_NODE: "yes",
        CLUSTER: cluster,
        NODE_TYPE: node_type,
        GROUP: group,
        IDENTIFIER: identifier(cluster, node_type),
        APP_NAME: APP_NAME_VALUE,
        CREATED_BY: CREATED_BY_VALUE,
    }
    merged = {**(template_labels or {}), **(group_labels or {})}
    labels.update({k: v for k, v in merged.items() if k not in PROTECTED})
    return labels


def head_service_selector(cluster: str, labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """The head Service's selector: KubeRay's head labels, values overridable by *labels*.

    Only the default keys are kept (``BuildServiceForHeadPod``); KubeRay passes the head
    template's ``app.kubernetes.io/name`` in *labels*, the one user value that reaches it.
    """
    defaults = {
        CLUSTER: cluster,
        NODE_TYPE: HEAD,
        IDENTIFIER: identifier(cluster, HEAD),
        APP_NAME: APP_NAME_VALUE,
        CREATED_BY: CREATED_BY_VALUE,
    }
    given = labels or {}
    return {key: given.get(key, value) for key, value in defaults.items()}


def operator_labels(cluster: str) -> dict[str, str]:
    """Labels of the autoscaler's ServiceAccount, Role and RoleBinding."""
    return {CLUSTER: cluster, APP_NAME: APP_NAME_VALUE, CREATED_BY: CREATED_BY_VALUE}


def originated_from(name: str, kind: str) -> dict[str, str]:
    """The labels tying a child of a RayJob or RayService to it."""
    return {ORIGINATED_FROM_CR_NAME: name, ORIGINATED_FROM_CRD: kind}
