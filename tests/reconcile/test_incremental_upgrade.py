"""The incremental upgrade's arithmetic: KubeRay's capacity and traffic steps, pass by pass."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rayplane.reconcile.service.incremental import (
    CapacityChange,
    Progress,
    Side,
    UpgradeOptions,
    next_weights,
    step,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(
    options: UpgradeOptions,
    progress: Progress,
    *,
    seconds_per_pass: float = 1.0,
    passes: int = 200,
    ready: bool = True,
) -> tuple[list[tuple[int, int, int, int]], Progress, str]:
    """Apply steps the way a runtime does (status written back each pass); returns the
    distinct (active cap, pending cap, active weight, pending weight) states, the final
    progress and how it ended."""
    now = T0
    seen = [_row(progress)]
    for _ in range(passes):
        out = step(progress, options, now, pending_ready=ready)
        active, pending = progress.active, progress.pending
        if out.capacity is not None:
            if out.capacity.role == "active":
                active = replace(active, target_capacity=out.capacity.goal)
            else:
                pending = replace(pending, target_capacity=out.capacity.goal)
        if out.active_weight != active.traffic_routed_percent:
            active = Side(active.target_capacity, out.active_weight, now)
        if out.pending_weight != pending.traffic_routed_percent:
            pending = Side(pending.target_capacity, out.pending_weight, now)
        progress = Progress(active, pending, progress.rolling_back)
        if _row(progress) != seen[-1]:
            seen.append(_row(progress))
        if out.promote:
            return seen, progress, "promoted"
        if out.rollback_done:
            return seen, progress, "rolled back"
        now += timedelta(seconds=seconds_per_pass)
    return seen, progress, "stuck"


def _row(p: Progress) -> tuple[int, int, int, int]:
    return (
        p.active.target_capacity,
        p.pending.target_capacity,
        p.active.traffic_routed_percent,
        p.pending.traffic_routed_percent,
    )


START = Progress(Side(100, 100), Side(0, 0))


def test_full_surge_raises_the_new_cluster_then_moves_traffic_in_steps() -> None:
    seen, _, end = run(UpgradeOptions(step_size_percent=25, interval_seconds=1), START)
    assert end == "promoted"
    assert seen == [
        (100, 0, 100, 0),
        (100, 100, 100, 0),  # the new cluster is scaled to full capacity first
        (100, 100, 75, 25),
        (100, 100, 50, 50),
        (100, 100, 25, 75),
        (100, 100, 0, 100),
        (0, 100, 0, 100),  # the old one gives its capacity up last
    ]


def test_max_surge_bounds_the_extra_capacity_at_any_time() -> None:
    options = UpgradeOptions(step_size_percent=25, interval_seconds=1, max_surge_percent=50)
    seen, _, end = run(options, START)
    assert end == "promoted"
    assert seen == [
        (100, 0, 100, 0),
        (100, 50, 100, 0),
        (100, 50, 75, 25),
        (100, 50, 50, 50),
        (50, 50, 50, 50),
        (50, 100, 50, 50),
        (50, 100, 25, 75),
        (50, 100, 0, 100),
        (0, 100, 0, 100),
    ]
    assert all(a + p <= 150 for a, p, _, _ in seen)
    # traffic never goes to more of a cluster than its capacity
    assert all(wa <= a and wp <= p for a, p, wa, wp in seen)


def test_traffic_waits_for_the_interval() -> None:
    options = UpgradeOptions(step_size_percent=10, interval_seconds=30)
    progress = Progress(Side(100, 90), Side(100, 10, T0))
    assert next_weights(progress, options, T0 + timedelta(seconds=29), True) == (90, 10)
    assert next_weights(progress, options, T0 + timedelta(seconds=30), True) == (80, 20)


def test_traffic_never_moves_to_a_pending_cluster_that_is_not_ready() -> None:
    seen, _, end = run(UpgradeOptions(step_size_percent=50, interval_seconds=1), START, ready=False)
    assert end == "stuck"
    assert seen[-1] == (100, 100, 100, 0)


def test_traffic_does_not_move_in_the_pass_that_changes_capacity() -> None:
    out = step(
        START, UpgradeOptions(step_size_percent=50, interval_seconds=1), T0, pending_ready=True
    )
    assert out.capacity == CapacityChange("pending", 100)
    assert (out.active_weight, out.pending_weight) == (100, 0)
    assert not out.promote


def test_a_step_larger_than_what_is_left_stops_at_the_capacity() -> None:
    options = UpgradeOptions(step_size_percent=40, interval_seconds=1)
    seen, _, end = run(options, START)
    assert end == "promoted"
    assert [row[3] for row in seen] == [0, 0, 40, 80, 100, 100]


def test_rollback_moves_traffic_back_and_drains_the_new_cluster() -> None:
    # Half-way through (maxSurge 50): the spec is reverted.
    options = UpgradeOptions(step_size_percent=25, interval_seconds=1, max_surge_percent=50)
    midway = Progress(Side(50, 50, T0), Side(100, 50, T0), rolling_back=True)
    seen, final, end = run(options, midway)
    assert end == "rolled back"
    assert seen[0] == (50, 100, 50, 50)
    assert seen[-1] == (100, 0, 100, 0)
    # the old cluster's traffic only grows, and never beyond its capacity
    shares = [row[2] for row in seen]
    assert shares == sorted(shares)
    assert all(wa <= a for a, _, wa, _ in seen)
    assert final.active.traffic_routed_percent == 100


def test_rollback_is_done_at_once_when_the_new_head_is_gone() -> None:
    options = UpgradeOptions(step_size_percent=25, interval_seconds=1)
    progress = Progress(Side(100, 100), Side(100, 0), rolling_back=True)
    out = step(progress, options, T0, pending_ready=False, pending_head_ready=False)
    assert out.rollback_done
    # with its head up, the new cluster is first asked to give its capacity up
    drained = step(progress, options, T0, pending_ready=False)
    assert drained.capacity == CapacityChange("pending", 0)


def test_a_finished_upgrade_promotes_even_when_the_last_step_is_a_capacity_change() -> None:
    options = UpgradeOptions(step_size_percent=25, interval_seconds=1)
    out = step(Progress(Side(100, 0), Side(100, 100)), options, T0, pending_ready=True)
    assert out.capacity == CapacityChange("active", 0)
    assert out.promote
