"""The RayCluster spec hash behind a RayService's upgrade decision.

A RayService must tell "the user changed the cluster" (build a new cluster and switch to it)
from "the autoscaler or an admission controller touched it" (do nothing). KubeRay does it by
hashing ``rayClusterConfig`` with the fields others are allowed to change removed, storing
the hash on the cluster it creates (annotation ``ray.io/hash-without-replicas-and-workers-
to-delete``) and comparing on every pass. Facts from ray-operator/controllers/ray/utils/
util.go ``GenerateHashWithoutReplicasAndWorkersToDelete`` and rayservice_controller.go
``rayClusterSpecForHashing`` / ``isClusterSpecHashEqual`` (KubeRay feeaf72):

* Removed from every worker group: ``replicas``, ``minReplicas``, ``maxReplicas`` and
  ``scaleStrategy.workersToDelete`` (the autoscaler writes them).
* Removed from the head and every worker pod template: ``spec.tolerations`` and
  ``spec.schedulingGates`` (Kueue and similar inject them after creation).
* Removed from the cluster spec: ``upgradeStrategy``, and, for a RayService, ``suspend``
  (propagated to the cluster only at creation; afterwards Kueue owns it).
* Not removed: a worker group's own ``suspend``, ``numOfHosts``, everything else.

KubeRay hashes Go's JSON encoding with SHA-1 and base32 (hex alphabet). Only equality within
one control plane matters, so this hashes a sorted-key JSON dump of our model instead; the
digest format is the same but the values differ from KubeRay's, so a cluster created by
KubeRay itself reads as "changed" once if rayplane takes it over.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from rayplane.api.raycluster import RayClusterSpec
from rayplane.reconcile.kuberay import (
    HASH_ANNOTATION,
    KUBERAY_VERSION_ANNOTATION,
    NUM_WORKER_GROUPS_ANNOTATION,
)

_GROUP_FIELDS_MUTED = ("replicas", "minReplicas", "maxReplicas")
_POD_FIELDS_MUTED = ("tolerations", "schedulingGates")


def hash_without_replicas_and_workers_to_delete(spec: RayClusterSpec) -> str:
    """KubeRay's GenerateHashWithoutReplicasAndWorkersToDelete, for our model of the spec.

    The spec is dumped in full (defaults included, ``None`` left out), so writing a default
    explicitly or leaving it out hashes the same, as it does after the API server's
    defaulting on Kubernetes.
    """
    doc = spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    _mute_template(doc.get("headGroupSpec"))
    for group in doc.get("workerGroupSpecs") or []:
        for key in _GROUP_FIELDS_MUTED:
            group.pop(key, None)
        strategy = group.get("scaleStrategy")
        if isinstance(strategy, dict):
            strategy.pop("workersToDelete", None)
            if not strategy:
                group.pop("scaleStrategy")
        _mute_template(group)
    doc.pop("upgradeStrategy", None)
    return _digest(doc)


def service_cluster_hash(spec: RayClusterSpec) -> str:
    """The hash a RayService stores on its clusters: as above, with ``suspend`` cleared too."""
    return hash_without_replicas_and_workers_to_delete(spec.model_copy(update={"suspend": None}))


def only_worker_groups_appended(spec: RayClusterSpec, annotations: Mapping[str, str]) -> bool:
    """True when *spec* equals the cluster's hashed spec plus new groups at the end.

    KubeRay's ``isClusterSpecHashEqual(partial=true)``: truncate the goal's worker groups to
    the cluster's ``ray.io/num-worker-groups`` and compare hashes; such a change is applied
    to the running cluster in place instead of building a new one. Like KubeRay, a missing
    or unreadable count answers True (the cluster gets updated in place, which rewrites the
    annotations), and a spec with fewer groups than the cluster answers False.
    """
    try:
        count = int(annotations.get(NUM_WORKER_GROUPS_ANNOTATION, ""))
    except ValueError:
        return True
    groups = spec.worker_group_specs
    if count < 0 or len(groups) < count:
        return annotations.get(HASH_ANNOTATION, "") == ""
    truncated = spec.model_copy(update={"worker_group_specs": list(groups[:count])})
    return annotations.get(HASH_ANNOTATION, "") == service_cluster_hash(truncated)


def cluster_annotations(spec: RayClusterSpec, kuberay_version: str) -> dict[str, str]:
    """The bookkeeping annotations a RayService puts on each cluster it creates or updates."""
    return {
        HASH_ANNOTATION: service_cluster_hash(spec),
        NUM_WORKER_GROUPS_ANNOTATION: str(len(spec.worker_group_specs)),
        KUBERAY_VERSION_ANNOTATION: kuberay_version,
    }


def _mute_template(holder: Any) -> None:
    if not isinstance(holder, dict):
        return
    template = holder.get("template")
    pod = template.get("spec") if isinstance(template, dict) else None
    if isinstance(pod, dict):
        for key in _POD_FIELDS_MUTED:
            pod.pop(key, None)


def _digest(doc: Any) -> str:
    """SHA-1 of canonical JSON in base32 with the hex alphabet, KubeRay's GenerateJsonHash form."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()
    return base64.b32hexencode(digest).decode("ascii")
