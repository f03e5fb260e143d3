"""Idle termination: has a RayCluster gone unused long enough to be suspended or deleted?

The setting is ``spec.idleTerminationOptions`` ({timeoutSeconds, policy: Suspend|Delete}),
the design of KubeRay PR #5210 with Ray PR #65763 (KubeRay has not merged it; Ray 2.60's
KubeRay cloud provider already acts on it). Nothing else landed: #4400 (``ttlSecondsAfterIdle``,
delete on dashboard inactivity) and #4932 (``autoscalerOptions.noDriverTimeoutSeconds``)
were closed in its favour.

"Idle" is Ray's own measure, the one behind the dashboard's /api/component_activities and
the autoscaler's check: no live driver outside Ray's ``_ray_internal_`` namespaces. Tasks
run under a driver, so a busy driver covers them; detached actors (Serve replicas among
them) do not keep a cluster alive, as in Ray. One addition: a Jobs API job that is PENDING
or RUNNING counts too, because an entrypoint that never calls ``ray.init`` (a shell script,
a runtime env still being built) has no driver yet and is plainly not idle.

The clock starts at the latest of: the head first seen ready, the last driver or job ending
(Ray's ``last_activity_at``, the Jobs API's ``end_time``), and the first probe that found
nothing running after one that found something (it may have ended just before). The
runtimes keep the first and the last in memory, so a restarted controller starts the count
again from its first look: it may keep an idle cluster longer, never suspend a busy one
sooner.
A probe that fails keeps the cluster (fail closed, as Ray's autoscaler does): a dashboard
that cannot answer is no proof of idleness.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rayplane.api.raycluster import RayCluster

POLICY_SUSPEND: Literal["Suspend", "Delete"] = "Suspend"
POLICY_DELETE: Literal["Suspend", "Delete"] = "Delete"

# Event and condition reasons rayplane writes when it acts or holds back.
IDLE_SUSPENDED = "IdleSuspended"
IDLE_DELETED = "IdleDeleted"
# Annotation that keeps who set idleSuspend and why, for `describe` after the fact.
IDLE_REASON_ANNOTATION = "ray.io/idle-termination-reason"


@dataclass(frozen=True)
class IdleSetting:
    """``spec.idleTerminationOptions`` once validated: the timeout and what to do."""

    timeout_seconds: int
    policy: Literal["Suspend", "Delete"] = POLICY_SUSPEND


@dataclass(frozen=True)
class Activity:
    """One probe of the cluster's Ray: what is running now and when the last driver ended.

    ``error`` is set when the probe could not tell (dashboard down, bad answer); the counts
    are then meaningless and the decision keeps the cluster.
    """

    drivers: int = 0
    jobs: int = 0
    last_activity_at: datetime | None = None
    error: str | None = None

    @property
    def busy(self) -> bool:
        return self.error is None and (self.drivers > 0 or self.jobs > 0)

    def describe(self) -> str:
        """'2 drivers, 1 job running' as `describe` and events say it."""
        parts = []
        if self.drivers:
            parts.append(f"{self.drivers} driver{'s' if self.drivers != 1 else ''}")
        if self.jobs:
            parts.append(f"{self.jobs} job{'s' if self.jobs != 1 else ''}")
        return ", ".join(parts) + " running" if parts else "nothing running"


@dataclass(frozen=True)
class Disabled:
    """No idleTerminationOptions, or the cluster is already suspended or not up."""

    why: str


@dataclass(frozen=True)
class Busy:
    """Something runs now; the countdown starts when it ends."""

    activity: Activity


@dataclass(frozen=True)
class Unknown:
    """The probe failed: keep the cluster and say why (fail closed)."""

    error: str


@dataclass(frozen=True)
class Keep:
    """Idle, but not for long enough yet."""

    idle_seconds: float
    remaining_seconds: float
    policy: str


@dataclass(frozen=True)
class Act:
    """Idle for the whole timeout: suspend or delete, with the reason to record."""

    policy: str
    idle_seconds: float
    reason: str


IdleDecision = Disabled | Busy | Unknown | Keep | Act


def idle_setting(cluster: RayCluster) -> IdleSetting | None:
    """The cluster's setting, or None when idle termination is off for it.

    Clusters a RayJob or RayService created are left to their owner (as KubeRay PR #4400
    did): the RayJob's own lifecycle and the RayService's upgrades decide when they go.
    """
    options = cluster.spec.idle_termination_options
    if options is None or options.timeout_seconds is None or options.timeout_seconds <= 0:
        return None
    owners = cluster.metadata.owner_references or []
    if any(ref.get("kind") in ("RayJob", "RayService") for ref in owners):
        return None
    policy: Literal["Suspend", "Delete"] = (
        POLICY_DELETE if options.policy == POLICY_DELETE else POLICY_SUSPEND
    )
    return IdleSetting(options.timeout_seconds, policy)


def idle_since(
    head_ready_at: datetime, activity: Activity, last_busy_at: datetime | None
) -> datetime:
    """When the current idle stretch began: the latest sign of life we know of."""
    since = head_ready_at
    for moment in (activity.last_activity_at, last_busy_at):
        if moment is not None and moment > since:
            since = moment
    return since


def decide_idle(
    setting: IdleSetting | None,
    since: datetime | None,
    now: datetime,
    activity: Activity | None,
) -> IdleDecision:
    """Keep (with the seconds left), or act, for a cluster idle since *since*.

    *since* is None when the cluster has no ready head (nothing to measure); *activity*
    is None when no probe has run yet.
    """
    if setting is None:
        return Disabled("no spec.idleTerminationOptions.timeoutSeconds")
    if since is None or activity is None:
        return Disabled("the head is not ready")
    if activity.error is not None:
        return Unknown(activity.error)
    if activity.busy:
        return Busy(activity)
    idle = max(0.0, (now - since).total_seconds())
    remaining = setting.timeout_seconds - idle
    if remaining > 0:
        return Keep(idle, remaining, setting.policy)
    return Act(
        setting.policy,
        idle,
        f"no driver or job ran for {format_duration(idle)} "
        f"(idleTerminationOptions.timeoutSeconds={setting.timeout_seconds})",
    )


def format_duration(seconds: float) -> str:
    """'3m10s', '45s', '1h2m' as `describe` shows a countdown."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def summary(decision: IdleDecision) -> str:
    """One line for `describe`: 'idle for 3m10s, suspends in 6m50s' or 'busy: ...'."""
    if isinstance(decision, Disabled):
        return f"off ({decision.why})"
    if isinstance(decision, Busy):
        return f"busy: {decision.activity.describe()}"
    if isinstance(decision, Unknown):
        return f"unknown, cluster kept: {decision.error}"
    verb = "is deleted" if decision.policy == POLICY_DELETE else "suspends"
    if isinstance(decision, Keep):
        return (
            f"idle for {format_duration(decision.idle_seconds)}, "
            f"{verb} in {format_duration(decision.remaining_seconds)}"
        )
    return f"idle for {format_duration(decision.idle_seconds)}, {verb} now"
