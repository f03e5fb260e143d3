"""Idle termination: when a cluster nobody uses is suspended or deleted, and what it says.

The decision (reconcile/cluster/idle.py), the RayCluster reconciler's handling of
``spec.idleSuspend``, and the validation of ``spec.idleTerminationOptions``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rayplane.api.raycluster import RayCluster
from rayplane.api.validation import validate
from rayplane.reconcile.cluster.idle import (
    IDLE_REASON_ANNOTATION,
    Act,
    Activity,
    Busy,
    Disabled,
    IdleSetting,
    Keep,
    Unknown,
    decide_idle,
    idle_setting,
    idle_since,
    summary,
)
from rayplane.reconcile.conditions import find_condition
from tests.reconcile.test_cluster_reconciler import FakeRuntime, cluster, condition

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
TEN_MINUTES = IdleSetting(600)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- the decision ---------------------------------------------------------------------------


def test_idle_cluster_counts_down_then_is_suspended() -> None:
    idle = Activity()
    keep = decide_idle(TEN_MINUTES, T0, at(190), idle)
    assert keep == Keep(190.0, 410.0, "Suspend")
    assert summary(keep) == "idle for 3m10s, suspends in 6m50s"
    act = decide_idle(TEN_MINUTES, T0, at(600), idle)
    assert isinstance(act, Act) and act.policy == "Suspend"
    assert "timeoutSeconds=600" in act.reason and "10m0s" in act.reason


def test_a_running_driver_or_job_keeps_the_cluster_however_long() -> None:
    for activity in (Activity(drivers=1), Activity(jobs=2)):
        decision = decide_idle(TEN_MINUTES, T0, at(86400), activity)
        assert isinstance(decision, Busy)
    assert summary(decide_idle(TEN_MINUTES, T0, at(1), Activity(drivers=2, jobs=1))) == (
        "busy: 2 drivers, 1 job running"
    )


def test_a_failed_probe_keeps_the_cluster() -> None:
    """Fail closed: a dashboard that does not answer is no proof of idleness."""
    decision = decide_idle(TEN_MINUTES, T0, at(86400), Activity(error="dashboard down"))
    assert decision == Unknown("dashboard down")
    assert "kept" in summary(decision)


def test_nothing_is_decided_without_a_setting_a_head_or_a_probe() -> None:
    assert isinstance(decide_idle(None, T0, at(86400), Activity()), Disabled)
    assert isinstance(decide_idle(TEN_MINUTES, None, at(86400), Activity()), Disabled)
    assert isinstance(decide_idle(TEN_MINUTES, T0, at(86400), None), Disabled)


def test_delete_policy_says_deleted() -> None:
    setting = IdleSetting(60, "Delete")
    assert summary(decide_idle(setting, T0, at(15), Activity())) == (
        "idle for 15s, is deleted in 45s"
    )
    decision = decide_idle(setting, T0, at(61), Activity())
    assert isinstance(decision, Act) and decision.policy == "Delete"


def test_the_clock_starts_at_the_latest_sign_of_life() -> None:
    """A job that ended, or a busy probe, after the head came up restarts the count."""
    head = T0
    ended = at(300)
    assert idle_since(head, Activity(), None) == head
    assert idle_since(head, Activity(last_activity_at=ended), None) == ended
    assert idle_since(head, Activity(last_activity_at=ended), at(400)) == at(400)
    # A job end older than the head (a resumed cluster) does not shorten the count.
    assert idle_since(at(500), Activity(last_activity_at=ended), None) == at(500)
    decision = decide_idle(
        TEN_MINUTES,
        idle_since(head, Activity(last_activity_at=ended), None),
        at(700),
        Activity(last_activity_at=ended),
    )
    assert decision == Keep(400.0, 200.0, "Suspend")


def _cluster(options: dict[str, Any] | None, owner: str | None = None) -> RayCluster:
    c = cluster(idleTerminationOptions=options) if options is not None else cluster()
    if owner is not None:
        meta = c.metadata.model_copy(
            update={"owner_references": [{"kind": owner, "name": "x", "uid": "u"}]}
        )
        c = c.model_copy(update={"metadata": meta})
    return c


def test_setting_defaults_to_suspend_and_skips_owned_clusters() -> None:
    assert idle_setting(_cluster(None)) is None
    assert idle_setting(_cluster({"timeoutSeconds": 30})) == IdleSetting(30, "Suspend")
    assert idle_setting(_cluster({"timeoutSeconds": 30, "policy": "Delete"})) == IdleSetting(
        30, "Delete"
    )
    # A RayJob's or RayService's cluster goes when its owner says, not when it idles.
    assert idle_setting(_cluster({"timeoutSeconds": 30}, owner="RayJob")) is None
    assert idle_setting(_cluster({"timeoutSeconds": 30}, owner="RayService")) is None


# -- spec.idleSuspend in the RayCluster reconciler -------------------------------------------


def test_idle_suspend_stops_every_node_and_the_condition_says_why() -> None:
    rt = FakeRuntime(cluster())
    rt.step()
    rt.all_ready()
    rt.step()
    assert len(rt.nodes) == 3

    rt.edit(idleSuspend=True)
    meta = rt.cluster.metadata.model_copy(
        update={"annotations": {IDLE_REASON_ANNOTATION: "no driver or job ran for 30s"}}
    )
    rt.cluster = rt.cluster.model_copy(update={"metadata": meta})
    p = rt.step()
    assert condition(p, "RayClusterSuspending") == ("True", "RayClusterSuspending")
    for _ in range(3):
        p = rt.step()
    assert not rt.nodes
    assert p.status.state == "suspended"
    suspended = find_condition(p.status.conditions, "RayClusterSuspended")
    assert suspended is not None and suspended.status == "True"
    assert suspended.message == "spec.idleSuspend is true: no driver or job ran for 30s"

    rt.edit(idleSuspend=False)
    rt.step()
    p = rt.step()
    assert {a.kind for a in p.actions} == {"head", "worker"}  # type: ignore[union-attr]


def test_user_suspend_keeps_kuberays_empty_message() -> None:
    rt = FakeRuntime(cluster())
    rt.step()
    rt.edit(suspend=True, idleSuspend=True)
    p = rt.step()
    suspending = find_condition(p.status.conditions, "RayClusterSuspending")
    assert suspending is not None and suspending.status == "True" and suspending.message == ""


# -- validation ------------------------------------------------------------------------------


def _doc(spec_extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "idle"},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "r"}]}},
            },
            **spec_extra,
        },
    }


@pytest.mark.parametrize("seconds", [0, -5, None])
def test_a_timeout_that_cannot_run_out_is_refused_with_path_value_and_fix(
    seconds: int | None,
) -> None:
    options: dict[str, Any] = {"policy": "Suspend"}
    if seconds is not None:
        options["timeoutSeconds"] = seconds
    report = validate(_doc({"idleTerminationOptions": options}))
    errors = [f for f in report.errors if f.path == "spec.idleTerminationOptions.timeoutSeconds"]
    assert errors, [str(f) for f in report.errors]
    text = str(errors[0])
    assert "at least 1" in text and "1800" in text
    assert errors[0].value == seconds


def test_an_unknown_policy_is_refused() -> None:
    report = validate(_doc({"idleTerminationOptions": {"timeoutSeconds": 60, "policy": "Stop"}}))
    assert any("idleTerminationOptions" in f.path for f in report.errors)


def test_a_good_setting_validates() -> None:
    report = validate(_doc({"idleTerminationOptions": {"timeoutSeconds": 1800}}))
    assert report.ok, [str(f) for f in report.errors]


def test_a_rayjobs_cluster_spec_is_warned_that_the_setting_is_ignored() -> None:
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "job"},
        "spec": {
            "entrypoint": "python -c pass",
            "rayClusterSpec": _doc({"idleTerminationOptions": {"timeoutSeconds": 60}})["spec"],
        },
    }
    report = validate(job)
    assert report.ok, [str(f) for f in report.errors]
    warned = [f for f in report.warnings if f.path == "spec.rayClusterSpec.idleTerminationOptions"]
    assert warned and "RayJob or RayService decides" in warned[0].message
