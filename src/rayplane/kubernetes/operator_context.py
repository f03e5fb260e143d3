"""What every per-kind controller shares: the API port, the settings, metrics and Events.

The memory a controller keeps between passes is not here: each controller owns its own
(:mod:`.cluster_controller`, :mod:`.job_controller`, :mod:`.service_controller`). This is
only the port to the world and the writes every kind makes the same way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from rayplane.api.common import Resource
from rayplane.api.k8s import ObjectMeta
from rayplane.api.raycluster import RayCluster, RayClusterSpec
from rayplane.api.validation import validate
from rayplane.kubernetes import kube_writes
from rayplane.kubernetes.builders import cluster_manifest, owner_reference
from rayplane.kubernetes.events import EventRecorder
from rayplane.kubernetes.kube import Kube, Obj
from rayplane.kubernetes.metrics import OperatorMetrics
from rayplane.kubernetes.operator_config import OperatorConfig


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OperatorContext:
    """One running operator's API port, settings, metrics and Event recorder."""

    def __init__(
        self,
        kube: Kube,
        config: OperatorConfig,
        metrics: OperatorMetrics,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.kube = kube
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.events = EventRecorder(kube, clock, post=config.post_events)

    def parse(self, raw: Obj) -> tuple[Resource | None, list[str]]:
        """The object as a model and its validation errors (``path: message``)."""
        report = validate(raw, self.config.gates)
        errors = [str(finding) for finding in report.errors]
        return report.resource, errors

    async def event(
        self, raw: Obj, reason: str, message: str, warning: bool = False, once: bool = False
    ) -> None:
        """Post a core/v1 Event about *raw* (see :class:`EventRecorder`)."""
        await self.events.event(raw, reason, message, warning=warning, once=once)

    async def write_status(self, raw: Obj, status: dict[str, Any]) -> Obj | None:
        return await kube_writes.write_status(self.kube, raw, status)

    async def set_finalizer(self, raw: Obj, finalizer: str, present: bool) -> Obj:
        return await kube_writes.set_finalizer(self.kube, raw, finalizer, present)

    async def create_owned_cluster(
        self,
        owner: Resource,
        name: str,
        spec: RayClusterSpec,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
    ) -> None:
        """Create the RayCluster a RayJob or RayService owns (a no-op if it exists).

        No Event here: the reconciler that planned the creation returns KubeRay's
        CreatedRayCluster itself.
        """
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
        await self.kube.ensure(cluster_manifest(child))

    async def in_thread(self, fn: Callable[[], Any]) -> Any:
        """Run a blocking call (the Ray dashboard clients are synchronous) off the loop."""
        return await asyncio.to_thread(fn)
