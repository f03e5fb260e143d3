"""When a RayCronJob fires: robfig/cron v3's ``Next`` in a time zone, Go's DST rules included.

KubeRay computes each tick as ``schedule.Next(last)`` with robfig/cron in ``timeZone``
(or the operator's local zone). Users compare our RayJobs with KubeRay's, and the child's
name is derived from the tick, so the tick must be the same instant in both, also across
daylight-saving changes. robfig walks the wall clock field by field, adding absolute
hours and minutes; Go's ``time.Date`` resolves a wall time that does not exist or exists
twice in its own way. Both are reproduced here rather than approximated with Python's
wall-clock arithmetic, which differs exactly on DST days:

* spring forward (02:00 -> 03:00): "30 2 * * *" does not fire that day;
* fall back (02:00 -> 01:00): "30 1 * * *" fires twice, once per 01:30.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from rayplane.api.cron import STAR_BIT, CronSpec, Every, Schedule

_SECOND: Final = timedelta(seconds=1)
_MINUTE: Final = timedelta(minutes=1)
_HOUR: Final = timedelta(hours=1)


def next_tick(schedule: Schedule, after: datetime, zone: tzinfo) -> datetime | None:
    """The first tick strictly after *after* (aware), in UTC; None when robfig finds none
    within five years (a day that never comes, like "0 0 30 2 *")."""
    if isinstance(schedule, Every):
        start = after.astimezone(UTC)
        return start + schedule.delay - timedelta(microseconds=start.microsecond)
    return _next_spec(schedule, after, zone)


def _next_spec(s: CronSpec, after: datetime, zone: tzinfo) -> datetime | None:
    # Absolute time as UTC; every wall-clock reading goes through _wall.
    t = after.astimezone(UTC).replace(microsecond=0) + _SECOND
    added = False
    year_limit = _wall(t, zone).year + 5
    while True:  # robfig's WRAP label
        w = _wall(t, zone)
        if w.year > year_limit:
            return None
        wrapped = False
        while not (1 << w.month) & s.month:
            if not added:
                added = True
                t = go_date(w.year, w.month, 1, 0, 0, zone)
            t = _add_date(t, zone, months=1)
            w = _wall(t, zone)
            if w.month == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not _day_matches(s, w):
            if not added:
                added = True
                t = go_date(w.year, w.month, w.day, 0, 0, zone)
            t = _add_date(t, zone, days=1)
            w = _wall(t, zone)
            # robfig: a day that does not start at midnight (DST) is moved to midnight.
            if w.hour != 0:
                t += _HOUR * (24 - w.hour) if w.hour > 12 else -_HOUR * w.hour
                w = _wall(t, zone)
            if w.day == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not (1 << w.hour) & s.hour:
            if not added:
                added = True
                t = go_date(w.year, w.month, w.day, w.hour, 0, zone)
            t += _HOUR
            w = _wall(t, zone)
            if w.hour == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while not (1 << w.minute) & s.minute:
            if not added:
                added = True
                t = t.replace(second=0)  # Truncate(time.Minute): zones are whole minutes
            t += _MINUTE
            w = _wall(t, zone)
            if w.minute == 0:
                wrapped = True
                break
        if wrapped:
            continue
        if w.second != 0:  # the standard parser's seconds field is "0"
            if not added:
                added = True
            t += _SECOND * (60 - w.second)
            continue
        return t


def _day_matches(s: CronSpec, w: datetime) -> bool:
    """robfig's rule: both day fields must match when either was * or ?, else either."""
    dom = bool((1 << w.day) & s.dom)
    dow = bool((1 << _go_weekday(w)) & s.dow)
    if s.dom & STAR_BIT or s.dow & STAR_BIT:
        return dom and dow
    return dom or dow


def _go_weekday(w: datetime) -> int:
    return (w.weekday() + 1) % 7  # Go: Sunday == 0


def _wall(t: datetime, zone: tzinfo) -> datetime:
    return t.astimezone(zone)


def _add_date(t: datetime, zone: tzinfo, *, months: int = 0, days: int = 0) -> datetime:
    """Go's ``t.AddDate``: the wall date moved, the wall time kept, normalised by Date."""
    w = _wall(t, zone)
    month0 = w.month - 1 + months
    year, month = w.year + month0 // 12, month0 % 12 + 1
    return go_date(year, month, w.day, w.hour, w.minute, zone, extra_days=days, second=w.second)


def go_date(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    zone: tzinfo,
    *,
    extra_days: int = 0,
    second: int = 0,
) -> datetime:
    """Go's ``time.Date`` (as UTC): out-of-range days roll over, and a wall time that a DST
    change skips or repeats gets the offset Go's lookup picks (which is not always the one
    Python's ``fold=0`` picks)."""
    # Days past the month's end roll over, as Go normalises them.
    base = datetime(year, month, 1, tzinfo=UTC) + timedelta(days=day - 1 + extra_days)
    wall_as_utc = base.replace(hour=hour, minute=minute, second=second)
    offset = _offset_at(wall_as_utc, zone)
    guess = wall_as_utc - offset
    # Go: if the guess is not in the zone period the offset came from, look it up again.
    second_offset = _offset_at(guess, zone)
    if second_offset != offset:
        return wall_as_utc - second_offset
    return guess


def _offset_at(instant: datetime, zone: tzinfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    return offset if offset is not None else timedelta(0)


def ticks_between(
    schedule: Schedule, after: datetime, until: datetime, zone: tzinfo, limit: int = 1000
) -> list[datetime]:
    """Ticks in (after, until], at most *limit* of them: how many runs are behind."""
    found: list[datetime] = []
    t: datetime | None = after
    while len(found) < limit:
        t = next_tick(schedule, t, zone) if t is not None else None
        if t is None or t > until:
            break
        found.append(t)
    return found
