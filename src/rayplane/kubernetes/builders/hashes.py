"""Spec hashes that KubeRay stores in annotations to detect spec changes.

``GenerateHashWithoutReplicasAndWorkersToDelete`` (utils/util.go at feeaf72): the spec with
the fields that the autoscaler or Kueue change (replicas, min/max, workersToDelete,
tolerations, schedulingGates, upgradeStrategy) removed, hashed with SHA-1 and written in
base32hex. KubeRay hashes Go's JSON encoding of its structs; rayplane hashes canonical JSON
(sorted keys) of the spec as written, so the values differ from KubeRay's. They only ever
need to agree with themselves: a cluster created by rayplane is compared by rayplane.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from rayplane.api.raycluster import RayClusterSpec

_TEMPLATE_MUTED = ("tolerations", "schedulingGates")
_GROUP_MUTED = ("replicas", "minReplicas", "maxReplicas")


def _mute_template(group: dict[str, Any]) -> None:
    spec = (group.get("template") or {}).get("spec")
    if isinstance(spec, dict):
        for key in _TEMPLATE_MUTED:
            spec.pop(key, None)


def spec_hash(spec: RayClusterSpec, *, ignore_suspend: bool = False) -> str:
    """The hash of *spec* without the fields that must not roll pods or clusters.

    *ignore_suspend* also drops ``suspend``, as the RayService controller does before
    comparing its cluster spec (rayClusterSpecForHashing).
    """
    wire = spec.wire()
    wire.pop("upgradeStrategy", None)
    if ignore_suspend:
        wire.pop("suspend", None)
    head = wire.get("headGroupSpec")
    if isinstance(head, dict):
        _mute_template(head)
    for group in wire.get("workerGroupSpecs") or ():
        for key in _GROUP_MUTED:
            group.pop(key, None)
        strategy = group.get("scaleStrategy")
        if isinstance(strategy, dict):
            strategy.pop("workersToDelete", None)
        _mute_template(group)
    text = json.dumps(wire, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).digest()
    return base64.b32hexencode(digest).decode()
