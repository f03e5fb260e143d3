"""The RayCronJob reconciler: (RayCronJob, now) -> at most one RayJob to create, and status.

KubeRay's RayCronJobReconciler in one pure function, step for step:

1. an invalid spec (ValidateRayCronJobSpec) is a Warning event, and nothing else;
2. ``suspend: true`` is a Normal event, and nothing else: no RayJob, no status change
   (RayJobs already created run on);
3. the tick is ``Next(lastScheduleTime or creationTimestamp)`` in ``timeZone`` (unset: the
   controller's zone); a tick still ahead is a wake-up at that time;
4. a tick that has come creates the RayJob ``<name>-<tick unix minute>`` from
   ``jobTemplate``, labelled ``ray.io/cronjob-name`` and annotated with the tick, owned by
   the RayCronJob, and sets ``lastScheduleTime`` to the tick. The name is deterministic,
   so a second pass over the same tick finds the RayJob there and only moves the status.

One RayJob per pass, oldest tick first: after downtime or a suspension, KubeRay catches
up every missed tick in turn (it has no startingDeadlineSeconds, concurrencyPolicy or
history limits, and neither has this reconciler); ``behind`` says how many are still due.

Deliberate difference: a schedule that never fires ("0 0 30 2 *") makes robfig return
Go's zero time, for which KubeRay would create a RayJob named after year 1; here it is a
Warning event and no RayJob.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from rayplane.api.cron import CronError, Schedule, load_zone, parse
from rayplane.api.findings import Findings
from rayplane.api.raycronjob import RayCronJob, RayCronJobStatus
from rayplane.api.rayjob import RayJobSpec
from rayplane.api.validation.cronjob import validate_raycronjob_spec
from rayplane.api.validation.gates import FeatureGates
from rayplane.reconcile.cronjob.schedule import next_tick, ticks_between
from rayplane.reconcile.events import (
    INVALID_RAY_CRON_JOB_SPEC,
    SCHEDULE_NEVER_FIRES,
    SUSPENDED_RAY_CRON_JOB,
    Event,
)
from rayplane.reconcile.gotime import format_time, parse_time, utc
from rayplane.reconcile.kuberay import CRONJOB_NAME_LABEL, CRONJOB_TIMESTAMP_ANNOTATION

# How far `behind` counts: enough to say "many"; counting further costs time for nothing.
_BEHIND_LIMIT = 100


@dataclass(frozen=True)
class CreateRayJob:
    """A RayJob to create (the runtime adds the ownerReference to the RayCronJob)."""

    name: str
    tick: datetime
    labels: dict[str, str]
    annotations: dict[str, str]
    spec: RayJobSpec


@dataclass(frozen=True)
class CronPlan:
    create: CreateRayJob | None = None
    status: RayCronJobStatus | None = None  # the new status when it changed, else None
    wake_after: timedelta | None = None  # None: nothing to do until the spec changes
    next_tick: datetime | None = None  # the tick after this pass, for `describe`
    behind: int = 0  # ticks due beyond the one this pass schedules
    events: list[Event] = field(default_factory=list)


def child_name(cron_name: str, tick: datetime) -> str:
    """KubeRay's getRayJobName: the tick's Unix minute makes a repeat Create collide."""
    return f"{cron_name}-{int(utc(tick).timestamp()) // 60}"


def schedule_of(cron: RayCronJob, local_zone: tzinfo) -> tuple[Schedule, tzinfo]:
    """The parsed schedule and its zone (unset timeZone: *local_zone*)."""
    zone = load_zone(cron.spec.time_zone)
    return parse(cron.spec.schedule), zone if zone is not None else local_zone


def reconcile_cronjob(
    cron: RayCronJob,
    created: datetime,
    now: datetime,
    local_zone: tzinfo,
    gates: FeatureGates | None = None,
) -> CronPlan:
    """One pass of KubeRay's RayCronJob reconciler (see the module's docstring)."""
    findings = Findings()
    validate_raycronjob_spec(cron, findings, gates or FeatureGates(RayCronJob=True))
    if findings.errors:
        problems = "; ".join(str(f) for f in findings.errors)
        message = f"{cron.namespace}/{cron.name}: {problems}"
        return CronPlan(events=[Event.warning(INVALID_RAY_CRON_JOB_SPEC, message)])
    if cron.spec.suspend:
        return CronPlan(
            events=[
                Event.normal(
                    SUSPENDED_RAY_CRON_JOB, "RayCronJob suspended, no new RayJobs will be created"
                )
            ]
        )
    try:
        schedule, zone = schedule_of(cron, local_zone)
    except CronError as exc:  # validated above; kept for a zone that vanished since
        return CronPlan(events=[Event.warning(INVALID_RAY_CRON_JOB_SPEC, str(exc))])
    last = parse_time(cron.status.last_schedule_time if cron.status else None)
    earliest = last or utc(created)
    tick = next_tick(schedule, earliest, zone)
    if tick is None:
        return CronPlan(
            events=[
                Event.warning(
                    SCHEDULE_NEVER_FIRES,
                    f"schedule {cron.spec.schedule!r} has no time in the five years after "
                    f"{format_time(earliest)}; no RayJob will be created",
                )
            ]
        )
    if tick > now:
        return CronPlan(wake_after=tick - now, next_tick=tick)
    create = CreateRayJob(
        name=child_name(cron.name, tick),
        tick=tick,
        labels={CRONJOB_NAME_LABEL: cron.name},
        annotations={CRONJOB_TIMESTAMP_ANNOTATION: format_time(tick)},
        spec=cron.spec.job_template.model_copy(deep=True),
    )
    following = next_tick(schedule, tick, zone)
    behind = len(ticks_between(schedule, tick, now, zone, _BEHIND_LIMIT))
    status = (cron.status or RayCronJobStatus()).model_copy(
        update={"last_schedule_time": format_time(tick)}
    )
    return CronPlan(
        create=create,
        status=status,
        wake_after=max(following - now, timedelta(0)) if following else None,
        next_tick=following,
        behind=behind,
    )
