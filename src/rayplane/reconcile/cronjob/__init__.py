"""The RayCronJob reconciler: robfig/cron's ticks (:mod:`.schedule`) and KubeRay's
RayCronJobReconciler as a pure function (:mod:`.planner`)."""

from rayplane.reconcile.cronjob.planner import (
    CreateRayJob,
    CronPlan,
    child_name,
    reconcile_cronjob,
    schedule_of,
)
from rayplane.reconcile.cronjob.schedule import go_date, next_tick, ticks_between

__all__ = [
    "CreateRayJob",
    "CronPlan",
    "child_name",
    "go_date",
    "next_tick",
    "reconcile_cronjob",
    "schedule_of",
    "ticks_between",
]
