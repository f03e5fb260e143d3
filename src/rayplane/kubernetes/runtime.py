"""What every controller of the operator shares: settings, the API port, memory, helpers.

:class:`OperatorConfig` (in :mod:`rayplane.kubernetes.operator_config`) is what the
operator was told; :class:`Runtime` is one running operator's state that outlives a reconcile
pass (the previous pass's failures, serve-config caches, deletion timers), plus the
helpers every controller needs: KubeRay-shaped status writes that survive 409 conflicts,
finalizer edits with optimistic concurrency, and Kubernetes Events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from rayplane.api.common import Resource
from rayplane.api.k8s import ObjectMeta
from rayplane.api.raycluster import RayCluster, RayClusterSpec
from rayplane.api.validation import validate
from rayplane.kubernetes.builders import cluster_manifest, owner_reference
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.kube import Kube, KubeError, Obj
from rayplane.kubernetes.metrics import OperatorMetrics
from rayplane.kubernetes.operator_config import OperatorConfig
from rayplane.kubernetes.pod_index import PodIndex

log = logging.getLogger("rayplane.operator")

Key = tuple[str, str, str]  # (kind, namespace, name)

STATUS_WRITE_ATTEMPTS = 5
# Events are posted beside the reconcile, never in its way (client-go's recorder does the
# same); past this many unsent ones, new ones are dropped with a log line, as client-go's
# broadcaster drops when its queue of 1000 is full.
EVENT_BACKLOG = 1000
EVENTS_IN_FLIGHT = 8
KUBERAY_MANAGER = "ray.io/kuberay-operator"
EVENT_SOURCE = "kuberay-operator"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Runtime:
    """One operator's API port, settings and the memory controllers keep between passes."""

    def __init__(
        self,
        kube: Kube,
        config: OperatorConfig,
        metrics: OperatorMetrics,
        enqueue: Callable[[Key, float], None],
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.kube = kube
        self.config = config
        self.metrics = metrics
        self.enqueue = enqueue
        self.clock = clock
        # RayCluster: the failures of the previous pass's actions (ObservedCluster.failures).
        self.cluster_failures: dict[tuple[str, str], list[str]] = {}
        # Children known to exist (uid, kind, name): not re-created every pass.
        self.ensured: set[tuple[str, str, str]] = set()
        # RayJob: the error of the previous pass's HTTPMode submission.
        self.submit_errors: dict[tuple[str, str], str] = {}
        # RayService: serve config last PUT per cluster; deletion deadlines per service.
        self.serve_cache: dict[tuple[str, str], str] = {}
        self.deletion_deadlines: dict[tuple[str, str], dict[str, dt.datetime]] = {}
        # Warnings already posted, to post each once per object generation.
        self.warned: dict[tuple[str, str, str], str] = {}
        # RayCluster: each cluster's Pods as the watch saw them (see pod_index).
        self.pods = PodIndex()
        self._event_posts: set[asyncio.Task[None]] = set()
        self._event_slots = asyncio.Semaphore(EVENTS_IN_FLIGHT)

    # -- parsing --------------------------------------------------------------------------------

    def parse(self, raw: Obj) -> tuple[Resource | None, list[str]]:
        """The object as a model and its validation errors (``path: message``)."""
        report = validate(raw, self.config.gates)
        errors = [str(finding) for finding in report.errors]
        return report.resource, errors

    # -- writes -----------------------------------------------------------------------------------

    async def write_status(self, raw: Obj, status: dict[str, Any]) -> Obj | None:
        """PUT *status* to the status subresource; on 409 re-read the object and reapply.

        The write carries the resourceVersion of the object the pass read, so a status
        computed from a stale object is never silently written over a newer one; a
        conflict (someone patched the spec, the autoscaler among them) re-reads the
        object and puts the same status on the fresh version. The next pass recomputes
        from the fresh spec anyway. None when the object is gone.
        """
        kind = str(raw["kind"])
        meta = raw["metadata"]
        current = raw
        for attempt in range(STATUS_WRITE_ATTEMPTS):
            body = dict(current)
            body["status"] = status
            try:
                return await self.kube.replace(body, status=True)
            except KubeError as exc:
                if not exc.conflict or attempt == STATUS_WRITE_ATTEMPTS - 1:
                    raise
                log.info(
                    "status write of %s %s/%s conflicted; re-reading and retrying",
                    kind,
                    meta["namespace"],
                    meta["name"],
                )
            fresh = await self.kube.get(kind, meta["namespace"], meta["name"])
            if fresh is None:
                return None
            current = fresh
        return None  # pragma: no cover - the loop returns or raises

    async def set_finalizer(self, raw: Obj, finalizer: str, present: bool) -> Obj:
        """Add or remove *finalizer* with a merge patch guarded by the resourceVersion."""
        meta = raw["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if present == (finalizer in finalizers):
            return raw
        finalizers = (
            [*finalizers, finalizer] if present else [f for f in finalizers if f != finalizer]
        )
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        return await self.kube.patch(str(raw["kind"]), meta["namespace"], meta["name"], patch)

    async def create_owned_cluster(
        self,
        raw: Obj,
        owner: Resource,
        name: str,
        spec: RayClusterSpec,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
    ) -> None:
        """Create the RayCluster a RayJob or RayService owns (a no-op if it exists)."""
        ns = owner.namespace
        child = RayCluster(
            metadata=ObjectMeta(
                name=name,
                namespace=ns,
                labels=dict(labels),
                annotations=dict(annotations) or None,
                owner_references=[owner_reference(owner)],
            ),
            spec=spec,
        )
        if await self.kube.ensure(cluster_manifest(child)) is not None:
            await self.event(raw, "CreatedRayCluster", f"Created RayCluster {ns}/{name}")

    async def event(
        self, raw: Obj, reason: str, message: str, warning: bool = False, once: bool = False
    ) -> None:
        """Post a core/v1 Event about *raw* (never fails the pass).

        *once*: post it only once per object generation and reason (validation warnings).
        """
        meta = raw.get("metadata") or {}
        if once:
            key = (str(raw.get("kind")), f"{meta.get('namespace')}/{meta.get('name')}", reason)
            marker = f"{meta.get('uid')}/{meta.get('generation')}/{message}"
            if self.warned.get(key) == marker:
                return
            self.warned[key] = marker
        level = logging.WARNING if warning else logging.INFO
        log.log(
            level,
            "%s %s/%s: %s: %s",
            raw.get("kind"),
            meta.get("namespace"),
            meta.get("name"),
            reason,
            message,
        )
        if not self.config.post_events:
            return
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{meta.get('name')}.",
                "namespace": meta.get("namespace"),
            },
            "involvedObject": {
                "apiVersion": raw.get("apiVersion"),
                "kind": raw.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": EVENT_SOURCE},
            "reportingComponent": EVENT_SOURCE,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        if len(self._event_posts) >= EVENT_BACKLOG:
            log.debug("event backlog full; dropped %s", reason)
            return
        task = asyncio.create_task(self._post_event(event))
        self._event_posts.add(task)
        task.add_done_callback(self._event_posts.discard)

    async def _post_event(self, event: Obj) -> None:
        async with self._event_slots:
            try:
                await self.kube.create(event)
            except Exception as exc:  # events are best effort
                log.debug("could not post event %s: %s", event["reason"], exc)

    async def flush_events(self, timeout: float = 5.0) -> None:
        """Wait (a bounded time) for the events still being posted, e.g. at shutdown."""
        if self._event_posts:
            await asyncio.wait(set(self._event_posts), timeout=timeout)

    async def cluster_pods(self, namespace: str, cluster: str) -> list[Obj]:
        """A RayCluster's Pods: from the watch when it can be trusted, else listed."""
        key = (namespace, cluster)
        cached = self.pods.pods(key)
        if cached is not None:
            return cached
        listed = await self.kube.select("Pod", namespace, {L.CLUSTER: cluster})
        self.pods.listed(key, listed)
        return listed

    async def in_thread(self, fn: Callable[[], Any]) -> Any:
        """Run a blocking call (the Ray dashboard clients are synchronous) off the loop."""
        return await asyncio.to_thread(fn)


def owner_keys(raw: Obj) -> list[Key]:
    """The RayJob/RayService/RayCluster that own *raw*, as queue keys."""
    meta = raw.get("metadata") or {}
    keys: list[Key] = []
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") in ("RayCluster", "RayJob", "RayService") and str(
            ref.get("apiVersion", "")
        ).startswith("ray.io/"):
            keys.append((str(ref["kind"]), str(meta.get("namespace")), str(ref.get("name"))))
    return keys


def managed_elsewhere(raw: Obj) -> bool:
    managed_by = (raw.get("spec") or {}).get("managedBy")
    return bool(managed_by) and managed_by != KUBERAY_MANAGER
