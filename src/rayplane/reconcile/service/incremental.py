"""NewClusterWithIncrementalUpgrade: how Serve capacity and traffic move, one pass at a time.

KubeRay (rayservice_controller.go at feeaf72, ``reconcileServeTargetCapacity``,
``calculateTrafficRoutedPercent``, ``IsIncrementalUpgradeComplete``,
``shouldCompleteIncrementalRollback``) upgrades a RayService without a second full-size
cluster: the new (pending) cluster's Serve ``target_capacity`` rises by ``maxSurgePercent``,
traffic then moves to it by ``stepSizePercent`` every ``intervalSeconds`` until its share
equals its capacity, the old (active) cluster's capacity falls by ``maxSurgePercent``, and
so on until the active cluster holds 0 % capacity and the pending one 100 % of the traffic;
then the pending cluster is promoted. A rollback (the spec reverted, or changed again,
mid-upgrade) runs the same moves the other way.

This module is that arithmetic only: typed values in, one :class:`Step` out. Where it
differs from KubeRay, on purpose:

* Traffic does not move in the pass that changed a capacity. KubeRay computes the new
  HTTPRoute weights from the capacity it has just PUT, in the same pass, before Serve has
  started a replica for it; here traffic waits for a later pass that saw the pending
  cluster's applications RUNNING at that capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from rayplane.api.rayservice import ClusterUpgradeOptions

Role = Literal["active", "pending"]


@dataclass(frozen=True)
class UpgradeOptions:
    """``spec.upgradeStrategy.clusterUpgradeOptions`` with KubeRay's default applied."""

    step_size_percent: int
    interval_seconds: int
    max_surge_percent: int = 100

    @classmethod
    def of(cls, options: ClusterUpgradeOptions | None) -> UpgradeOptions | None:
        """None when the options validation requires are missing (the pass is then invalid)."""
        if options is None or options.step_size_percent is None:
            return None
        if options.interval_seconds is None:
            return None
        surge = 100 if options.max_surge_percent is None else options.max_surge_percent
        return cls(options.step_size_percent, options.interval_seconds, surge)


@dataclass(frozen=True)
class Side:
    """One cluster's incremental fields of ``active/pendingServiceStatus``.

    KubeRay's defaults when a field is unset: the active cluster has 100 % capacity and
    traffic, the pending one 0 %.
    """

    target_capacity: int
    traffic_routed_percent: int
    last_traffic_migrated_time: datetime | None = None


@dataclass(frozen=True)
class Progress:
    """Where an upgrade stands at the start of a pass."""

    active: Side
    pending: Side
    rolling_back: bool = False


@dataclass(frozen=True)
class CapacityChange:
    """PUT the Serve config to *role*'s cluster with ``target_capacity: goal``."""

    role: Role
    goal: int


@dataclass(frozen=True)
class Step:
    """What one pass does.

    ``capacity`` is the Serve ``target_capacity`` to set (None: none changes this pass);
    ``active_weight``/``pending_weight`` the traffic split from now on (they sum to 100);
    ``promote``: the upgrade is complete, the pending cluster becomes active;
    ``rollback_done``: the rollback is complete, the pending cluster is dropped.
    """

    capacity: CapacityChange | None
    active_weight: int
    pending_weight: int
    promote: bool = False
    rollback_done: bool = False


def next_capacity(progress: Progress, options: UpgradeOptions) -> CapacityChange | None:
    """KubeRay's reconcileServeTargetCapacity, for whichever cluster is due.

    Capacity moves only once traffic has caught up with it: upgrading, the pending
    cluster's share must equal its capacity; rolling back, the active cluster's. While the
    two capacities sum to more than 100 the cluster losing traffic gives up
    ``maxSurgePercent``; otherwise the one gaining it takes ``maxSurgePercent`` more.
    """
    active, pending = progress.active, progress.pending
    surge = options.max_surge_percent
    total = active.target_capacity + pending.target_capacity
    # Upgrading, the pending cluster gains and the active one loses; rolling back, the
    # other way round. The steps are the same.
    gaining: Role = "active" if progress.rolling_back else "pending"
    losing: Role = "pending" if progress.rolling_back else "active"
    gain, lose = (active, pending) if progress.rolling_back else (pending, active)
    if gain.target_capacity == 100 and lose.target_capacity == 0:
        return None
    if gain.target_capacity != gain.traffic_routed_percent:
        return None
    if total > 100:
        goal = max(0, lose.target_capacity - surge)
        return CapacityChange(losing, goal) if goal != lose.target_capacity else None
    goal = min(100, gain.target_capacity + surge)
    return CapacityChange(gaining, goal) if goal != gain.target_capacity else None


def next_weights(
    progress: Progress, options: UpgradeOptions, now: datetime, pending_ready: bool
) -> tuple[int, int]:
    """KubeRay's calculateTrafficRoutedPercent: (active weight, pending weight).

    One ``stepSizePercent`` every ``intervalSeconds`` (counted from the last move of the
    cluster gaining traffic), never past that cluster's capacity. An upgrade moves only
    while the pending cluster is ready; a rollback moves regardless.
    """
    active, pending = progress.active, progress.pending
    a, p = active.traffic_routed_percent, pending.traffic_routed_percent
    if progress.rolling_back:
        if a == active.target_capacity:
            return a, p
        last = active.last_traffic_migrated_time
    else:
        if p == pending.target_capacity:
            return a, p
        last = pending.last_traffic_migrated_time
    if last is not None and now - last < timedelta(seconds=options.interval_seconds):
        return a, p
    if progress.rolling_back:
        a = min(100, a + options.step_size_percent, active.target_capacity)
        return a, 100 - a
    if not pending_ready:
        return a, p
    p = min(100, p + options.step_size_percent, pending.target_capacity)
    return 100 - p, p


def upgrade_complete(progress: Progress) -> bool:
    """KubeRay's IsIncrementalUpgradeComplete: the old cluster has no capacity left and the
    new one all the traffic."""
    return (
        not progress.rolling_back
        and progress.active.target_capacity == 0
        and progress.pending.traffic_routed_percent == 100
    )


def rollback_complete(progress: Progress, pending_head_ready: bool) -> bool:
    """KubeRay's shouldCompleteIncrementalRollback: the old cluster is back at 100 % of
    capacity and traffic, and the new one is drained (or its head is gone, so it cannot
    be asked to scale down)."""
    active, pending = progress.active, progress.pending
    if not progress.rolling_back:
        return False
    if active.target_capacity != 100 or active.traffic_routed_percent != 100:
        return False
    drained = pending.target_capacity == 0 and pending.traffic_routed_percent == 0
    return drained or not pending_head_ready


def step(
    progress: Progress,
    options: UpgradeOptions,
    now: datetime,
    *,
    pending_ready: bool,
    pending_head_ready: bool = True,
) -> Step:
    """One pass: a capacity change if one is due, else a traffic move if one is due; then
    whether the upgrade (or rollback) is complete."""
    capacity = next_capacity(progress, options)
    if capacity is not None:
        a, p = progress.active.traffic_routed_percent, progress.pending.traffic_routed_percent
    else:
        a, p = next_weights(progress, options, now, pending_ready)
    after = Progress(
        active=Side(progress.active.target_capacity, a),
        pending=Side(progress.pending.target_capacity, p),
        rolling_back=progress.rolling_back,
    )
    if capacity is not None:
        side = Side(capacity.goal, a if capacity.role == "active" else p)
        after = (
            Progress(side, after.pending, after.rolling_back)
            if capacity.role == "active"
            else Progress(after.active, side, after.rolling_back)
        )
    return Step(
        capacity=capacity,
        active_weight=a,
        pending_weight=p,
        promote=upgrade_complete(after),
        rollback_done=rollback_complete(after, pending_head_ready),
    )
