"""The one parser of status times, where the RayJob and RayService copies used to differ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rayplane.reconcile.gotime import format_go_duration, go_time, parse_go_duration, parse_time


def test_an_offset_time_is_read_as_the_same_instant_in_utc() -> None:
    # The RayJob copy converted to UTC; the RayService copy kept +02:00 (and, before
    # Python 3.11's fromisoformat, only it read "Z"), so one status time was two values.
    parsed = parse_time("2024-01-02T05:04:05+02:00")
    assert parsed == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parsed is not None and parsed.tzinfo is UTC and parsed.hour == 3
    assert go_time(parsed) == "2024-01-02 03:04:05 +0000 UTC"


def test_zulu_naive_and_bad_times() -> None:
    assert parse_time("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("2024-01-02T03:04:05") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("") is None
    assert parse_time(None) is None
    assert parse_time("yesterday") is None


def test_go_durations_round_trip() -> None:
    assert parse_go_duration("1h30m") == timedelta(minutes=90)
    assert parse_go_duration("45") == timedelta(seconds=45)
    assert parse_go_duration("-5s") is None
    assert format_go_duration(timedelta(minutes=5)) == "5m0s"
