"""The Pods of each RayCluster as the operator's own watch last saw them.

A RayCluster pass needs its Pods. Listing them from the API server on every pass is always
fresh, but it is a round trip (and a scan of the namespace) per pass, and passes come in
bursts: every Pod event of a cluster queues one. KubeRay reads an informer cache instead,
with "expectations" so that it never acts on a cache that has not yet seen its own
writes. This is the same idea, kept small and on the safe side:

* the operator already watches every Pod labelled ``ray.io/cluster`` (kopf); each event
  updates the index (newer resourceVersions only; a deletion removes the Pod);
* a pass may use the index for a cluster only when (a) it listed that cluster's Pods
  itself less than ``resync`` seconds ago, and (b) every Pod it created since is in the
  index and every Pod it deleted is gone from it. Otherwise it lists, and the list
  replaces what the index knew of that cluster.

(a) bounds how long an event the watch missed (a watch re-opened after a gap does not
replay deletions) can mislead a pass; (b) means a pass never creates a Pod twice because
the watch is a moment behind the operator's own writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rayplane.kubernetes.builders import labels as L

Obj = dict[str, Any]
ClusterKey = tuple[str, str]  # (namespace, cluster name)
RESYNC_SECONDS = 30.0


def _newer(incoming: Obj, known: Obj | None) -> bool:
    """Whether *incoming* is at least as new as *known* (resourceVersions are etcd
    revisions in practice; where they are not numbers, the incoming one wins)."""
    if known is None:
        return True
    new = str(incoming["metadata"].get("resourceVersion") or "")
    old = str(known["metadata"].get("resourceVersion") or "")
    if new.isdigit() and old.isdigit():
        return int(new) >= int(old)
    return True


@dataclass
class _Cluster:
    pods: dict[str, Obj] = field(default_factory=dict)
    listed_at: float | None = None
    created: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)

    def settled(self) -> bool:
        """Every Pod created since the last list is seen, every one deleted is gone or
        terminating (a Pod with a grace period stays a while after the delete call)."""
        if not self.created <= self.pods.keys():
            return False
        return all(
            name not in self.pods or self.pods[name]["metadata"].get("deletionTimestamp")
            for name in self.deleted
        )


class PodIndex:
    """Pods by cluster, fed by watch events and lists; see the module docstring."""

    def __init__(
        self, resync: float = RESYNC_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.resync = resync
        self.clock = clock
        self._clusters: dict[ClusterKey, _Cluster] = {}
        self.hits = 0
        self.lists = 0

    def _entry(self, key: ClusterKey) -> _Cluster:
        return self._clusters.setdefault(key, _Cluster())

    def observe(self, event_type: str | None, pod: Obj) -> None:
        """A watch event about *pod* (``DELETED`` removes it; anything else stores it)."""
        meta = pod.get("metadata") or {}
        cluster = (meta.get("labels") or {}).get(L.CLUSTER)
        if not cluster:
            return
        entry = self._entry((str(meta.get("namespace")), str(cluster)))
        name = str(meta.get("name"))
        if event_type == "DELETED":
            entry.pods.pop(name, None)
        elif _newer(pod, entry.pods.get(name)):
            entry.pods[name] = pod

    def pods(self, key: ClusterKey) -> list[Obj] | None:
        """The cluster's Pods if the index can be trusted for it now, else None (list)."""
        entry = self._clusters.get(key)
        if entry is None or entry.listed_at is None:
            return None
        if self.clock() - entry.listed_at > self.resync or not entry.settled():
            return None
        self.hits += 1
        return list(entry.pods.values())

    def listed(self, key: ClusterKey, pods: list[Obj]) -> None:
        """A fresh list of the cluster's Pods: it replaces what the index knew."""
        entry = self._entry(key)
        known = entry.pods
        entry.pods = {}
        for pod in pods:
            name = str(pod["metadata"]["name"])
            seen = known.get(name)
            entry.pods[name] = seen if seen is not None and not _newer(pod, seen) else pod
        entry.listed_at = self.clock()
        entry.created.clear()
        entry.deleted.clear()
        self.lists += 1

    def created(self, key: ClusterKey, pod: Obj) -> None:
        entry = self._entry(key)
        name = str(pod["metadata"]["name"])
        entry.created.add(name)
        entry.deleted.discard(name)
        self.observe("ADDED", pod)

    def deleted(self, key: ClusterKey, name: str) -> None:
        """A Pod this operator deleted: trusted again once the watch shows it going."""
        entry = self._entry(key)
        entry.created.discard(name)
        entry.deleted.add(name)

    def forget(self, key: ClusterKey) -> None:
        """The cluster is gone: drop what the index held for it."""
        self._clusters.pop(key, None)
