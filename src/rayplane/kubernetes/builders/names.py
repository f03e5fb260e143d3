"""Names of the objects the operator creates, by KubeRay's rules.

From ray-operator/controllers/ray/utils/util.go at feeaf72 (PodName, CheckName,
CheckLabel, GenerateHeadServiceName, GenerateFQDNServiceName, ...). The clipping rules are
KubeRay's even where they look odd (CheckName keeps the *last* 50 characters, PodName the
*first* 50), because the stock autoscaler and existing tooling find objects by these names.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid

from rayplane.api.raycluster import RayClusterSpec
from rayplane.reconcile.kuberay import SUFFIX_ALPHABET, SUFFIX_LENGTH

MAX_POD_PREFIX = 50  # 63 - len("-worker-") - 5 generated characters
MAX_CHECKED_NAME = 50
MAX_LABEL_VALUE = 63

HEAD_SERVICE_SUFFIX = "head-svc"
SERVE_SERVICE_SUFFIX = "serve-svc"
HEADLESS_SERVICE_SUFFIX = "headless"
REDIS_CLEANUP_SUFFIX = "redis-cleanup"
GCS_PVC_SUFFIX = "-gcs-pvc"


def _is_punct(char: str) -> bool:
    """Go's unicode.IsPunct: the Unicode P* categories ('-', '.', '_' among them)."""
    return unicodedata.category(char).startswith("P")


def check_name(name: str) -> str:
    """KubeRay's CheckName: keep the last 50 characters; no leading digit or punctuation."""
    if len(name) > MAX_CHECKED_NAME:
        name = name[len(name) - MAX_CHECKED_NAME :]
    if name and name[0].isdigit():
        name = "r" + name[1:]
    if name and _is_punct(name[0]):
        name = "r" + name[1:]
    return name


def check_label(value: str) -> str:
    """KubeRay's CheckLabel: keep the last 63 characters; no leading punctuation."""
    if len(value) > MAX_LABEL_VALUE:
        value = value[len(value) - MAX_LABEL_VALUE :]
    if value and _is_punct(value[0]):
        value = "r" + value[1:]
    return value


def pod_name(prefix: str, node_type: str, generate: bool) -> str:
    """KubeRay's PodName: the first 50 characters of *prefix*, lowercased, + ``-<type>[-]``."""
    result = f"{prefix[:MAX_POD_PREFIX]}-{node_type}".lower()
    return result + "-" if generate else result


def head_pod_name(cluster: str, deterministic: bool = False) -> str:
    """``<cluster>-head-`` (a generateName), or ``<cluster>-head`` when deterministic."""
    return pod_name(cluster, "head", generate=not deterministic)


def worker_pod_generate_name(cluster: str, group: str) -> str:
    """``<cluster>-<group>-worker-``: the generateName of a group's worker Pods."""
    return pod_name(f"{cluster}-{group}", "worker", generate=True)


def identifier(cluster: str, node_type: str) -> str:
    """The ``ray.io/identifier`` label value, ``<cluster>-<type>``."""
    return check_label(f"{cluster}-{node_type}")


def owner_head_service_name(owner: str) -> str:
    """``<owner>-head-svc``: the head Service of a RayCluster, RayJob or RayService."""
    return f"{owner}-{HEAD_SERVICE_SUFFIX}"


def head_service_name(cluster: str, spec: RayClusterSpec) -> str:
    """A RayCluster's head Service: ``headService.metadata.name`` or ``<cluster>-head-svc``."""
    custom = spec.head_group_spec.head_service
    if custom is not None and custom.metadata is not None and custom.metadata.name:
        return custom.metadata.name
    return owner_head_service_name(cluster)


def fqdn(service: str, namespace: str, cluster_domain: str = "cluster.local") -> str:
    """``<service>.<namespace>.svc.<domain>`` (GenerateFQDNServiceName)."""
    return f"{service}.{namespace}.svc.{cluster_domain}"


def serve_service_name(owner: str) -> str:
    return f"{owner}-{SERVE_SERVICE_SUFFIX}"


def serve_service_label(owner: str) -> str:
    """The ``ray.io/serve`` label value of a serve Service itself, ``<owner>-serve``."""
    return f"{owner}-serve"


def headless_service_name(cluster: str) -> str:
    return f"{cluster}-{HEADLESS_SERVICE_SUFFIX}"


def ingress_name(cluster: str) -> str:
    return check_name(f"{cluster}-head-ingress")


def redis_cleanup_job_name(cluster: str) -> str:
    return check_label(f"{cluster}-{REDIS_CLEANUP_SUFFIX}")


def gcs_pvc_name(cluster: str, spec: RayClusterSpec) -> str:
    """The embedded GCS store's claim: ``storage.claimName`` or ``<cluster>-gcs-pvc``."""
    options = spec.gcs_fault_tolerance_options
    if options is not None and options.storage is not None and options.storage.claim_name:
        return options.storage.claim_name
    return cluster + GCS_PVC_SUFFIX


def head_service_account(cluster: str, spec: RayClusterSpec) -> str:
    """GetHeadGroupServiceAccountName: the head template's SA, else the cluster's name."""
    return spec.head_group_spec.template.spec.service_account_name or cluster


def auth_secret_name(cluster: str, spec: RayClusterSpec) -> str:
    options = spec.auth_options
    if options is not None and options.secret_name:
        return options.secret_name
    return check_name(cluster)


def with_suffix(name: str, suffix: str) -> str:
    """``<name>-<suffix>``: KubeRay's generated child names (clusters, job ids, replicas)."""
    return f"{name}-{suffix}"


def stable_suffix(seed: str) -> str:
    """Five characters from Kubernetes' alphabet derived from *seed*.

    For dry runs and tests: the same input always renders the same names, where the
    operator would use :func:`random_suffix` or the API server's generateName.
    """
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    chars = []
    for _ in range(SUFFIX_LENGTH):
        number, index = divmod(number, len(SUFFIX_ALPHABET))
        chars.append(SUFFIX_ALPHABET[index])
    return "".join(chars)


def placeholder_uid(kind: str, namespace: str, name: str) -> str:
    """A stable UUID standing in for an object's uid in a dry run (the API server sets it)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rayplane:{kind}/{namespace}/{name}"))
