"""The local RayCronJob controller: RayJobs in the store as KubeRay creates them.

The controller's loop does not run here: each test calls its pass with a chosen `now`, so
the ticks are the test's and no test waits for a clock.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rayplane.api.validation import FeatureGates
from rayplane.local.controller import Controller
from rayplane.local.store import StoredResource
from rayplane.settings import LocalSettings

PATH = "/resources/RayCronJob/default/nightly"
CRON: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCronJob",
    "metadata": {"name": "nightly"},
    "spec": {
        "schedule": "*/1 * * * *",
        "jobTemplate": {
            "entrypoint": "python -c 'print(1)'",
            "shutdownAfterJobFinishes": True,
            "rayClusterSpec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {
                        "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray"}]}
                    },
                }
            },
        },
    },
}


def _controller(tmp_path: Path, gates: FeatureGates) -> Controller:
    return Controller(LocalSettings(home=tmp_path / "home", temp_root=tmp_path / "t"), gates)


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Controller]:
    controller = _controller(tmp_path, FeatureGates(RayCronJob=True))
    yield controller
    _close(controller)


def _close(controller: Controller) -> None:
    controller.clusters.close()
    controller.services.close()
    controller.launcher.close()
    controller.store.close()


def _apply(ctl: Controller, **spec: Any) -> StoredResource:
    doc = copy.deepcopy(CRON)
    doc["spec"].update(spec)
    code, body = ctl.handle("PUT", PATH, {}, doc)
    assert code == 200, body
    return _stored(ctl)


def _stored(ctl: Controller) -> StoredResource:
    found = ctl.store.get("RayCronJob", "default", "nightly")
    assert found is not None
    return found


def _pass(ctl: Controller, minutes: float) -> None:
    """One pass of the RayCronJob controller, *minutes* after the RayCronJob was created."""
    stored = _stored(ctl)
    created = datetime.fromtimestamp(stored.created, UTC)
    ctl.cronjobs.reconcile(stored, created + timedelta(minutes=minutes))


def _jobs(ctl: Controller) -> list[StoredResource]:
    return ctl.store.resources("RayJob")


def _minute_after(stored: StoredResource, n: int) -> datetime:
    created = datetime.fromtimestamp(stored.created, UTC).replace(second=0, microsecond=0)
    return created + timedelta(minutes=n)


def test_a_tick_creates_one_rayjob_owned_labelled_and_annotated_as_kuberay_does(
    ctl: Controller,
) -> None:
    cron = _apply(ctl)
    _pass(ctl, 0)
    assert _jobs(ctl) == []
    _pass(ctl, 1.01)
    (job,) = _jobs(ctl)
    tick = _minute_after(cron, 1)
    assert job.name == f"nightly-{int(tick.timestamp()) // 60}"
    meta = job.body["metadata"]
    assert meta["labels"] == {"ray.io/cronjob-name": "nightly"}
    assert meta["annotations"]["ray.io/cronjob-scheduled-timestamp"] == tick.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    (owner,) = meta["ownerReferences"]
    assert owner["kind"] == "RayCronJob" and owner["uid"] == cron.uid and owner["controller"]
    assert job.body["spec"] == CRON["spec"]["jobTemplate"]
    assert _stored(ctl).status == {"lastScheduleTime": tick.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_passes_within_the_same_minute_create_no_second_rayjob(ctl: Controller) -> None:
    tick = _minute_after(_apply(ctl), 1)
    for seconds in (0, 1, 20, 59):
        ctl.cronjobs.reconcile(_stored(ctl), tick + timedelta(seconds=seconds))
    assert len(_jobs(ctl)) == 1
    ctl.cronjobs.reconcile(_stored(ctl), tick + timedelta(seconds=60))
    assert len(_jobs(ctl)) == 2


def test_a_rayjob_already_there_for_the_tick_only_moves_the_status(ctl: Controller) -> None:
    # KubeRay's AlreadyExists path: a status write lost after the create.
    cron = _apply(ctl)
    _pass(ctl, 1.01)
    ctl.store.set_status(cron.uid, {})
    _pass(ctl, 1.5)
    assert len(_jobs(ctl)) == 1
    assert _stored(ctl).status == {
        "lastScheduleTime": _minute_after(cron, 1).strftime("%Y-%m-%dT%H:%M:%SZ")
    }


def test_suspended_makes_no_rayjobs_and_says_so_once(ctl: Controller) -> None:
    cron = _apply(ctl, suspend=True)
    for minutes in (1.01, 2.01, 3.01):
        _pass(ctl, minutes)
    assert _jobs(ctl) == []
    reasons = [e["reason"] for e in ctl.store.events(cron.uid)]
    assert reasons == ["SuspendedRayCronJob"]


def test_deleting_the_raycronjob_deletes_its_rayjobs_first(ctl: Controller) -> None:
    _apply(ctl)
    _pass(ctl, 1.01)
    _pass(ctl, 2.01)
    assert len(_jobs(ctl)) == 2
    code, _ = ctl.handle("DELETE", PATH, {}, None)
    assert code == 202
    _pass(ctl, 2.5)
    assert all(j.deleting is not None for j in _jobs(ctl))
    assert ctl.store.get("RayCronJob", "default", "nightly") is not None  # waits for them
    for job in _jobs(ctl):
        ctl.store.remove(job.uid)  # as the RayJob controller does once they are gone
    _pass(ctl, 2.6)
    assert ctl.store.get("RayCronJob", "default", "nightly") is None


def test_describe_shows_the_next_tick_and_the_rayjobs(ctl: Controller) -> None:
    cron = _apply(ctl)
    _pass(ctl, 1.01)
    code, detail = ctl.handle("GET", PATH, {}, None)
    assert code == 200
    shown = detail["local"]["cron"]
    assert shown["nextScheduleTime"] == _minute_after(cron, 2).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [j["name"] for j in shown["rayJobs"]] == [_jobs(ctl)[0].name]


def test_with_the_gate_off_it_is_refused_naming_the_gate(tmp_path: Path) -> None:
    ctl = _controller(tmp_path, FeatureGates())
    try:
        code, body = ctl.handle("PUT", PATH, {}, copy.deepcopy(CRON))
        assert code == 422
        (finding,) = body["findings"]
        assert "RAYPLANE_FEATURE_GATES=RayCronJob=true" in finding["message"]
    finally:
        _close(ctl)


def test_a_controller_with_the_gate_off_schedules_nothing(tmp_path: Path) -> None:
    on = _controller(tmp_path, FeatureGates(RayCronJob=True))
    _apply(on)
    _close(on)
    off = _controller(tmp_path, FeatureGates())
    try:
        for minutes in (1.01, 2.01):
            _pass(off, minutes)
        assert _jobs(off) == []
        assert [e["reason"] for e in off.store.events(_stored(off).uid)] == ["FeatureGateOff"]
    finally:
        _close(off)
