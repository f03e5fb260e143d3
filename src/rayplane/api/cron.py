"""Cron lines as KubeRay reads them: robfig/cron v3's ``ParseStandard``.

KubeRay validates ``spec.schedule`` and computes every tick with that Go library, so a
line it accepts must be accepted here and mean the same times, and a line it refuses must
be refused with the same reason. Hence not a general cron library: five fields (minute,
hour, day of month, month, day of week, no seconds), names for months and days, ``*``
and ``?``, ranges, steps, lists, and the descriptors (@yearly, @annually, @monthly,
@weekly, @daily, @midnight, @hourly, @every <Go duration>).

This module only parses (the API layer's validation needs it); the tick arithmetic, which
needs time zones and Go's DST rules, is in :mod:`rayplane.reconcile.cronjob.schedule`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rayplane.api.goduration import parse_duration
from rayplane.errors import RayplaneError

# robfig marks a field written as * or ? (and not stepped): the day-of-month/day-of-week
# rule below depends on it.
STAR_BIT: Final = 1 << 63


class CronError(RayplaneError, ValueError):
    """A schedule robfig/cron refuses; the message is robfig's."""


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    names: dict[str, int] | None = None


_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
MINUTE: Final = _Bounds(0, 59)
HOUR: Final = _Bounds(0, 23)
DOM: Final = _Bounds(1, 31)
MONTH: Final = _Bounds(1, 12, _MONTHS)
DOW: Final = _Bounds(0, 6, _DAYS)


@dataclass(frozen=True)
class CronSpec:
    """A parsed five-field line: one bit per allowed value, plus STAR_BIT (robfig's
    SpecSchedule, seconds fixed at 0)."""

    minute: int
    hour: int
    dom: int
    month: int
    dow: int


@dataclass(frozen=True)
class Every:
    """``@every <duration>``: a fixed delay (whole seconds, at least one), not wall-clock."""

    delay: timedelta


Schedule = CronSpec | Every


def _bits(low: int, high: int, step: int) -> int:
    out = 0
    for value in range(low, high + 1, step):
        out |= 1 << value
    return out


def _all(bounds: _Bounds) -> int:
    return _bits(bounds.low, bounds.high, 1) | STAR_BIT


_DESCRIPTORS: Final = {
    "@yearly": CronSpec(1, 1, 1 << 1, 1 << 1, _all(DOW)),
    "@annually": CronSpec(1, 1, 1 << 1, 1 << 1, _all(DOW)),
    "@monthly": CronSpec(1, 1, 1 << 1, _all(MONTH), _all(DOW)),
    "@weekly": CronSpec(1, 1, _all(DOM), _all(MONTH), 1),
    "@daily": CronSpec(1, 1, _all(DOM), _all(MONTH), _all(DOW)),
    "@midnight": CronSpec(1, 1, _all(DOM), _all(MONTH), _all(DOW)),
    "@hourly": CronSpec(1, _all(HOUR), _all(DOM), _all(MONTH), _all(DOW)),
}


def parse(line: str) -> Schedule:
    """Parse *line* as robfig's ``ParseStandard`` does (without its TZ= prefix, which
    KubeRay refuses in ``schedule``: the zone goes in ``timeZone``)."""
    if not line:
        raise CronError("empty spec string")
    if line.startswith("@"):
        return _descriptor(line)
    fields = line.split()
    if len(fields) != 5:
        shown = "[" + " ".join(fields) + "]"
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: {shown}")
    bounds = (MINUTE, HOUR, DOM, MONTH, DOW)
    minute, hour, dom, month, dow = (_field(f, b) for f, b in zip(fields, bounds, strict=True))
    return CronSpec(minute, hour, dom, month, dow)


def _descriptor(line: str) -> Schedule:
    found = _DESCRIPTORS.get(line)
    if found is not None:
        return found
    if line.startswith("@every "):
        text = line[len("@every ") :]
        delay = parse_duration(text)
        if delay is None:
            raise CronError(f'failed to parse duration {line}: time: invalid duration "{text}"')
        # robfig rounds down to whole seconds, with one second at least.
        return Every(timedelta(seconds=max(1, int(delay.total_seconds()))))
    raise CronError(f"unrecognized descriptor: {line}")


def _field(text: str, bounds: _Bounds) -> int:
    bits = 0
    for part in filter(None, text.split(",")):
        bits |= _range(part, bounds)
    return bits


def _range(expr: str, bounds: _Bounds) -> int:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    extra = 0
    if low_and_high[0] in ("*", "?"):
        start, end, extra = bounds.low, bounds.high, STAR_BIT
    else:
        start = _int_or_name(low_and_high[0], bounds.names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], bounds.names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if len(low_and_high) == 1:  # "N/step" means "N-max/step"
            end = bounds.high
        if step > 1:
            extra = 0
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise CronError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise CronError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return _bits(start, end, step) | extra


def _int_or_name(text: str, names: dict[str, int] | None) -> int:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    return _int(text)


_GO_INT: Final = re.compile(r"[+-]?[0-9]+")


def _int(text: str) -> int:
    """strconv.Atoi, then robfig's refusal of negatives."""
    if not _GO_INT.fullmatch(text):
        raise CronError(
            f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    value = int(text)
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {text}")
    return value


def load_zone(name: str | None) -> tzinfo | None:
    """Go's ``time.LoadLocation`` for ``timeZone``: None (unset, or "Local") is the
    controller's own zone, which the caller supplies; "" and "UTC" are UTC; else the IANA
    database (the tzdata package when the system has none, as KubeRay embeds time/tzdata)."""
    if name is None or name == "Local":
        return None
    if name in ("", "UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise CronError(f"unknown time zone {name}") from exc
