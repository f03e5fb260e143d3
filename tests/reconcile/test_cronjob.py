"""RayCronJob ticks and the RayCronJob reconciler, against robfig/cron and KubeRay.

The tick table was produced by robfig/cron v3.0.1 itself (the version KubeRay's go.mod
pins), so these tests hold our arithmetic to the Go library's answers, DST days included,
not to our reading of it. The Go program, run with `go run .` in a module that requires
github.com/robfig/cron/v3 v3.0.1::

    s, _ := cron.ParseStandard("TZ=" + zone + " " + line)
    t, _ := time.Parse(time.RFC3339, after)
    for i := 0; i < 4; i++ { t = s.Next(t); fmt.Println(t.UTC().Format(time.RFC3339)) }
    _, err := cron.ParseStandard(bad); fmt.Println(err)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rayplane.api.cron import CronError, load_zone, parse
from rayplane.api.raycronjob import RayCronJob
from rayplane.reconcile.cronjob import child_name, next_tick, reconcile_cronjob, ticks_between
from rayplane.reconcile.gotime import format_time, parse_time

# robfig/cron v3.0.1 (what KubeRay links), run in Go 1.26: ParseStandard("TZ=<zone> <line>")
# then Next() four times from <after>. Regenerate with the Go program in this file's docstring.
ROBFIG_TICKS: list[tuple[str, str, str, list[str]]] = [
    (
        "30 2 * * *",
        "America/New_York",
        "2024-03-09T12:00:00Z",
        [
            "2024-03-11T06:30:00Z",
            "2024-03-12T06:30:00Z",
            "2024-03-13T06:30:00Z",
            "2024-03-14T06:30:00Z",
        ],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        "2024-11-02T12:00:00Z",
        [
            "2024-11-03T05:30:00Z",
            "2024-11-03T06:30:00Z",
            "2024-11-04T06:30:00Z",
            "2024-11-05T06:30:00Z",
        ],
    ),
    (
        "0 * * * *",
        "America/New_York",
        "2024-11-03T04:30:00Z",
        [
            "2024-11-03T05:00:00Z",
            "2024-11-03T06:00:00Z",
            "2024-11-03T07:00:00Z",
            "2024-11-03T08:00:00Z",
        ],
    ),
    (
        "*/1 * * * *",
        "UTC",
        "2024-01-01T00:00:30Z",
        [
            "2024-01-01T00:01:00Z",
            "2024-01-01T00:02:00Z",
            "2024-01-01T00:03:00Z",
            "2024-01-01T00:04:00Z",
        ],
    ),
    (
        "45 21 * * *",
        "Asia/Taipei",
        "2024-01-01T00:00:00Z",
        [
            "2024-01-01T13:45:00Z",
            "2024-01-02T13:45:00Z",
            "2024-01-03T13:45:00Z",
            "2024-01-04T13:45:00Z",
        ],
    ),
    (
        "0 0 29 2 *",
        "UTC",
        "2024-03-01T00:00:00Z",
        [
            "2028-02-29T00:00:00Z",
            "2032-02-29T00:00:00Z",
            "2036-02-29T00:00:00Z",
            "2040-02-29T00:00:00Z",
        ],
    ),
    (
        "0 9 1 * mon",
        "UTC",
        "2024-01-01T00:00:00Z",
        [
            "2024-01-01T09:00:00Z",
            "2024-01-08T09:00:00Z",
            "2024-01-15T09:00:00Z",
            "2024-01-22T09:00:00Z",
        ],
    ),
    (
        "0 9 1-7 * 1",
        "UTC",
        "2024-01-01T00:00:00Z",
        [
            "2024-01-01T09:00:00Z",
            "2024-01-02T09:00:00Z",
            "2024-01-03T09:00:00Z",
            "2024-01-04T09:00:00Z",
        ],
    ),
    (
        "0 9 */2 * *",
        "UTC",
        "2024-01-30T00:00:00Z",
        [
            "2024-01-31T09:00:00Z",
            "2024-02-01T09:00:00Z",
            "2024-02-03T09:00:00Z",
            "2024-02-05T09:00:00Z",
        ],
    ),
    (
        "@every 90s",
        "UTC",
        "2024-01-01T00:00:00Z",
        [
            "2024-01-01T00:01:30Z",
            "2024-01-01T00:03:00Z",
            "2024-01-01T00:04:30Z",
            "2024-01-01T00:06:00Z",
        ],
    ),
    (
        "@weekly",
        "UTC",
        "2024-01-01T00:00:00Z",
        [
            "2024-01-07T00:00:00Z",
            "2024-01-14T00:00:00Z",
            "2024-01-21T00:00:00Z",
            "2024-01-28T00:00:00Z",
        ],
    ),
    (
        "@monthly",
        "Europe/Berlin",
        "2024-01-31T23:30:00Z",
        [
            "2024-02-29T23:00:00Z",
            "2024-03-31T22:00:00Z",
            "2024-04-30T22:00:00Z",
            "2024-05-31T22:00:00Z",
        ],
    ),
    (
        "0 0 * * *",
        "America/Santiago",
        "2024-09-06T12:00:00Z",
        [
            "2024-09-07T04:00:00Z",
            "2024-09-09T03:00:00Z",
            "2024-09-10T03:00:00Z",
            "2024-09-11T03:00:00Z",
        ],
    ),
    (
        "0 0 * * *",
        "America/Santiago",
        "2024-04-05T12:00:00Z",
        [
            "2024-04-06T03:00:00Z",
            "2024-04-07T04:00:00Z",
            "2024-04-08T04:00:00Z",
            "2024-04-09T04:00:00Z",
        ],
    ),
    (
        "30 2 * * *",
        "Europe/Berlin",
        "2024-03-30T12:00:00Z",
        [
            "2024-04-01T00:30:00Z",
            "2024-04-02T00:30:00Z",
            "2024-04-03T00:30:00Z",
            "2024-04-04T00:30:00Z",
        ],
    ),
    (
        "15 2 * * sun",
        "Europe/Berlin",
        "2024-10-26T12:00:00Z",
        [
            "2024-10-27T00:15:00Z",
            "2024-10-27T01:15:00Z",
            "2024-11-03T01:15:00Z",
            "2024-11-10T01:15:00Z",
        ],
    ),
    (
        "0 0 31 * *",
        "UTC",
        "2024-01-31T00:00:00Z",
        [
            "2024-03-31T00:00:00Z",
            "2024-05-31T00:00:00Z",
            "2024-07-31T00:00:00Z",
            "2024-08-31T00:00:00Z",
        ],
    ),
    (
        "5 4 * jan-mar,dec sat",
        "Australia/Lord_Howe",
        "2024-03-01T00:00:00Z",
        [
            "2024-03-01T17:05:00Z",
            "2024-03-08T17:05:00Z",
            "2024-03-15T17:05:00Z",
            "2024-03-22T17:05:00Z",
        ],
    ),
    (
        "0 12 * * *",
        "Pacific/Apia",
        "2011-12-28T00:00:00Z",
        [
            "2011-12-28T22:00:00Z",
            "2011-12-29T22:00:00Z",
            "2011-12-30T22:00:00Z",
            "2011-12-31T22:00:00Z",
        ],
    ),
    # Asuncion's DST begins at midnight: Go's time.Date puts the missing 00:00 an hour
    # back, Python's fold=0 an hour on; robfig's month and day walks start there.
    (
        "30 23 31 9 mon-fri",
        "America/Asuncion",
        "2023-09-30T11:38:24Z",
        ["2024-09-03T03:30:00Z", "2024-09-04T03:30:00Z", "2024-09-05T03:30:00Z"],
    ),
    (
        "30 3 1 10-11 sun",
        "America/Asuncion",
        "2023-05-09T17:12:15Z",
        ["2023-11-01T06:30:00Z", "2023-11-05T06:30:00Z", "2023-11-12T06:30:00Z"],
    ),
]
# robfig's error for each line ParseStandard refuses.
ROBFIG_REFUSES: list[tuple[str, str]] = [
    ("", "empty spec string"),
    ("x", "expected exactly 5 fields, found 1: [x]"),
    ("1 2 3", "expected exactly 5 fields, found 3: [1 2 3]"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("5-2 * * * *", "beginning of range (5) beyond end of range (2): 5-2"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
    ("-1 * * * *", 'failed to parse int from : strconv.Atoi: parsing "": invalid syntax'),
    ("@every x", 'failed to parse duration @every x: time: invalid duration "x"'),
    ("@foo", "unrecognized descriptor: @foo"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * 13 *", "end of range (13) above maximum (12): 13"),
    ("MON * * * *", 'failed to parse int from MON: strconv.Atoi: parsing "MON": invalid syntax'),
]
ROBFIG_ACCEPTS = ["@every 500ms", "+5 * * * *", "05 * * * *", "1,,2 * * * *", "* * * * MON-fri"]


@pytest.mark.parametrize(("line", "zone", "after", "expected"), ROBFIG_TICKS)
def test_ticks_are_robfigs(line: str, zone: str, after: str, expected: list[str]) -> None:
    schedule, tz = parse(line), load_zone(zone)
    assert tz is not None
    moment: datetime | None = parse_time(after)
    got = []
    for _ in expected:
        assert moment is not None
        moment = next_tick(schedule, moment, tz)
        got.append(format_time(moment) if moment else None)
    assert got == expected


def test_a_new_york_day_that_skips_two_thirty_skips_the_run() -> None:
    # Spring forward on 2024-03-10: 02:30 does not exist there, and robfig does not run.
    ny = ZoneInfo("America/New_York")
    first = next_tick(parse("30 2 * * *"), datetime(2024, 3, 9, 12, tzinfo=UTC), ny)
    assert first is not None
    assert first.astimezone(ny).date().isoformat() == "2024-03-11"


def test_a_new_york_day_that_repeats_one_thirty_runs_twice() -> None:
    ny = ZoneInfo("America/New_York")
    runs = ticks_between(
        parse("30 1 * * *"),
        datetime(2024, 11, 2, 12, tzinfo=UTC),
        datetime(2024, 11, 3, 12, tzinfo=UTC),
        ny,
    )
    assert [r.astimezone(ny).strftime("%H:%M %Z") for r in runs] == ["01:30 EDT", "01:30 EST"]


@pytest.mark.parametrize(("line", "message"), ROBFIG_REFUSES)
def test_refused_lines_get_robfigs_reason(line: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        parse(line)
    assert str(caught.value) == message


@pytest.mark.parametrize("line", ROBFIG_ACCEPTS)
def test_lines_robfig_accepts_are_accepted(line: str) -> None:
    parse(line)


def test_every_minute_fires_on_each_minute_boundary() -> None:
    start = datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC)
    runs = ticks_between(parse("*/1 * * * *"), start, start + timedelta(minutes=3), UTC)
    assert [r.strftime("%H:%M:%S") for r in runs] == ["00:01:00", "00:02:00", "00:03:00"]


def test_a_schedule_that_never_fires_has_no_tick() -> None:
    assert next_tick(parse("0 0 30 2 *"), datetime(2024, 1, 1, tzinfo=UTC), UTC) is None


def test_unknown_zone_is_go_s_error() -> None:
    with pytest.raises(CronError, match="unknown time zone Mars/Olympus"):
        load_zone("Mars/Olympus")
    assert load_zone("UTC") is UTC
    assert load_zone(None) is None  # the controller's own zone


# --- the reconciler ---------------------------------------------------------------------------

CREATED = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)


def _cron(schedule: str = "*/5 * * * *", **spec: object) -> RayCronJob:
    return RayCronJob.model_validate(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCronJob",
            "metadata": {"name": "test-cronjob", "namespace": "default"},
            "spec": {
                "schedule": schedule,
                "jobTemplate": {
                    "entrypoint": "python test.py",
                    "rayClusterSpec": {
                        "headGroupSpec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {"name": "ray-head", "image": "rayproject/ray:2.52.0"}
                                    ]
                                }
                            }
                        }
                    },
                },
                **spec,
            },
        }
    )


def _with_last(cron: RayCronJob, last: datetime) -> RayCronJob:
    doc = cron.wire()
    doc["status"] = {"lastScheduleTime": format_time(last)}
    return RayCronJob.model_validate(doc)


def test_first_tick_after_creation_creates_the_rayjob_and_sets_last_schedule_time() -> None:
    # KubeRay's TestRayCronJobReconcile_FirstSchedule: created 00:00, now 00:05:30.
    now = CREATED + timedelta(minutes=5, seconds=30)
    plan = reconcile_cronjob(_cron(), CREATED, now, UTC)
    tick = CREATED + timedelta(minutes=5)
    assert plan.create is not None
    assert plan.create.name == f"test-cronjob-{int(tick.timestamp()) // 60}"
    assert plan.create.labels == {"ray.io/cronjob-name": "test-cronjob"}
    assert plan.create.annotations == {"ray.io/cronjob-scheduled-timestamp": "2024-01-01T00:05:00Z"}
    assert plan.create.spec.entrypoint == "python test.py"
    assert plan.status is not None and plan.status.wire() == {
        "lastScheduleTime": "2024-01-01T00:05:00Z"
    }
    # Woken at the next tick, 00:10: Next(scheduleTime) - now.
    assert plan.wake_after == timedelta(minutes=4, seconds=30)
    assert plan.behind == 0


def test_before_the_tick_nothing_happens_but_a_wake_up() -> None:
    plan = reconcile_cronjob(_cron(), CREATED, CREATED + timedelta(minutes=2), UTC)
    assert plan.create is None and plan.status is None
    assert plan.wake_after == timedelta(minutes=3)


def test_the_tick_after_last_schedule_time_is_next() -> None:
    cron = _with_last(_cron(), CREATED + timedelta(minutes=5))
    plan = reconcile_cronjob(cron, CREATED, CREATED + timedelta(minutes=10, seconds=1), UTC)
    assert plan.create is not None
    assert plan.create.annotations["ray.io/cronjob-scheduled-timestamp"] == "2024-01-01T00:10:00Z"


def test_missed_ticks_are_caught_up_one_per_pass_oldest_first() -> None:
    # KubeRay has no startingDeadlineSeconds: every missed tick gets its RayJob, in order.
    cron = _cron("*/1 * * * *")
    now = CREATED + timedelta(minutes=3, seconds=10)
    names = []
    for _ in range(5):
        plan = reconcile_cronjob(cron, CREATED, now, UTC)
        if plan.create is None:
            break
        names.append(plan.create.annotations["ray.io/cronjob-scheduled-timestamp"])
        assert plan.status is not None
        cron = _with_last(cron, parse_time(plan.status.last_schedule_time) or CREATED)
    assert names == ["2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z", "2024-01-01T00:03:00Z"]


def test_behind_counts_the_ticks_still_due() -> None:
    plan = reconcile_cronjob(_cron("*/1 * * * *"), CREATED, CREATED + timedelta(minutes=3), UTC)
    assert plan.behind == 2
    assert plan.wake_after == timedelta(0)


def test_suspended_creates_nothing_and_says_so() -> None:
    plan = reconcile_cronjob(_cron(suspend=True), CREATED, CREATED + timedelta(hours=1), UTC)
    assert plan.create is None and plan.status is None and plan.wake_after is None
    assert [(e.type, e.reason, e.message) for e in plan.events] == [
        ("Normal", "SuspendedRayCronJob", "RayCronJob suspended, no new RayJobs will be created")
    ]


def test_resumed_after_suspension_catches_up_from_last_schedule_time() -> None:
    cron = _with_last(_cron("*/1 * * * *", suspend=False), CREATED)
    plan = reconcile_cronjob(cron, CREATED, CREATED + timedelta(minutes=10, seconds=5), UTC)
    assert plan.create is not None
    assert plan.create.annotations["ray.io/cronjob-scheduled-timestamp"] == "2024-01-01T00:01:00Z"
    assert plan.behind == 9


def test_time_zone_moves_the_tick() -> None:
    cron = _cron("45 21 * * *", timeZone="Asia/Taipei")
    plan = reconcile_cronjob(cron, CREATED, CREATED + timedelta(hours=14), UTC)
    assert plan.create is not None
    assert plan.create.tick == datetime(2024, 1, 1, 13, 45, tzinfo=UTC)  # 21:45 +08:00


def test_without_time_zone_the_controllers_zone_counts() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    plan = reconcile_cronjob(_cron("0 9 * * *"), CREATED, CREATED, berlin)
    assert plan.next_tick == datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


def test_an_invalid_spec_is_a_warning_and_nothing_else() -> None:
    plan = reconcile_cronjob(_cron("invalid cron string"), CREATED, CREATED, UTC)
    assert plan.create is None and plan.wake_after is None
    assert [e.reason for e in plan.events] == ["InvalidRayCronJobSpec"]
    assert "invalid cron schedule" in plan.events[0].message


def test_a_schedule_that_never_fires_creates_nothing() -> None:
    plan = reconcile_cronjob(_cron("0 0 30 2 *"), CREATED, CREATED + timedelta(days=400), UTC)
    assert plan.create is None
    assert [e.reason for e in plan.events] == ["ScheduleNeverFires"]


def test_child_name_is_the_ticks_unix_minute() -> None:
    tick = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert child_name("test-cronjob", tick) == "test-cronjob-28401125"
    assert child_name("test-cronjob", tick + timedelta(minutes=5)) != child_name(
        "test-cronjob", tick
    )
    # The longest name KubeRay allows (36) plus the suffix is still a valid RayJob name (47).
    assert len(child_name("a" * 36, datetime(2200, 1, 1, tzinfo=UTC))) <= 47
