"""The RayCronJob controller (gate RayCronJob): the pure reconciler's RayJob, created here.

KubeRay's RayCronJobReconciler, with its order of steps: validate (the shared prologue
posts ``InvalidRayCronJobSpec``), skip a suspended one (``SuspendedRayCronJob``), create
the tick's RayJob (``<name>-<unix minute>``, owned by the RayCronJob so Kubernetes'
garbage collector deletes it with its owner; an AlreadyExists is the same tick scheduled
before), then write ``status.lastScheduleTime``, and come back at the next tick. The
operator registers this controller, and watches RayCronJobs, only with the gate on, as
KubeRay's main.go does.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar

from rayplane.api.k8s import ObjectMeta
from rayplane.api.raycronjob import RayCronJob
from rayplane.api.rayjob import RayJob
from rayplane.kubernetes.builders import owner_reference
from rayplane.kubernetes.builders.objects import tidy_metadata
from rayplane.kubernetes.controller import KindController
from rayplane.kubernetes.kube import Obj
from rayplane.kubernetes.operator_context import OperatorContext
from rayplane.reconcile.cronjob import CreateRayJob, reconcile_cronjob
from rayplane.reconcile.gotime import parse_time
from rayplane.settings.timezone import controller_zone


def rayjob_manifest(cron: RayCronJob, action: CreateRayJob) -> dict[str, Any]:
    """The RayJob of one tick, as KubeRay's constructRayJob builds it."""
    job = RayJob(
        metadata=ObjectMeta(
            name=action.name,
            namespace=cron.namespace,
            labels=dict(action.labels),
            annotations=dict(action.annotations),
            owner_references=[owner_reference(cron)],
        ),
        spec=action.spec,
    )
    wire = job.wire()
    return {
        "apiVersion": job.api_version,
        "kind": "RayJob",
        "metadata": tidy_metadata(wire.get("metadata") or {}),
        "spec": wire.get("spec") or {},
    }


class RayCronJobController(KindController[RayCronJob, None]):
    kind: ClassVar[str] = "RayCronJob"
    model = RayCronJob

    def __init__(self, ctx: OperatorContext, zone: tzinfo | None = None) -> None:
        super().__init__(ctx)
        self.zone = zone if zone is not None else controller_zone(ctx.config.time_zone)

    async def read(self, namespace: str, name: str) -> tuple[Obj | None, None]:
        return await self.ctx.kube.get("RayCronJob", namespace, name), None

    def forget(self, namespace: str, name: str) -> None:
        """Nothing kept between passes: the tick is derived from the status each time."""

    async def sync(self, raw: Obj, model: RayCronJob, reads: None) -> float | None:
        meta = raw.get("metadata") or {}
        created = parse_time(meta.get("creationTimestamp")) or datetime.now(UTC)
        plan = reconcile_cronjob(model, created, self.ctx.clock(), self.zone, self.ctx.config.gates)
        for event in plan.events:
            await self.ctx.event(raw, event.reason, event.message, warning=event.warns, once=True)
        if plan.create is not None:
            # ensure(): a 409 means this tick's RayJob exists, which KubeRay counts as done.
            await self.ctx.kube.ensure(rayjob_manifest(model, plan.create))
        if plan.status is not None:
            await self.ctx.write_status(raw, plan.status.wire())
        if plan.wake_after is None:
            return None
        return max(plan.wake_after.total_seconds(), 0.0)
