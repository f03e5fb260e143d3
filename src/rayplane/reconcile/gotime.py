"""Go's times and durations, as KubeRay reads and prints them.

Status timestamps are RFC 3339 strings written by either runtime or by KubeRay; messages
quote times and durations in Go's formats, and users compare those messages with
KubeRay's. Every reconciler parses and prints them through here, so that one timestamp
reads the same in each of them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from rayplane.api.goduration import parse_duration


def utc(moment: datetime) -> datetime:
    """*moment* in UTC; a naive time is taken to be UTC already (as metav1.Time is)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 status time ("2024-01-02T03:04:05Z", any offset) in UTC, or None when it
    is unset or not a time (a hand-written status must not stop the reconciler)."""
    if not text:
        return None
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with whole seconds, as metav1.Time serialises ("2024-05-01T10:00:00Z").

    A naive datetime is taken to be UTC already, so callers may pass ``datetime.utcnow()``
    style values without shifting them by the local zone.
    """
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_ms(ms: int) -> datetime:
    """A Ray time (milliseconds since the epoch) in UTC."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def go_time(moment: datetime) -> str:
    """A time as Go's ``%v`` prints a metav1.Time in UTC."""
    return utc(moment).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def go_datetime(moment: datetime) -> str:
    """Go's ``time.DateTime`` layout."""
    return utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def parse_go_duration(text: str) -> timedelta | None:
    """A positive timeout as KubeRay reads the annotation: a Go duration, else whole seconds.

    None for anything else (validation reports it; KubeRay then ignores the annotation).
    """
    text = text.strip()
    span = parse_duration(text)
    if span is not None:
        return span if span > timedelta(0) else None
    if re.fullmatch(r"[+-]?[0-9]+", text) and int(text) > 0:
        return timedelta(seconds=int(text))
    return None


def format_go_duration(span: timedelta) -> str:
    """Go's time.Duration.String() (e.g. "5m0s", "1h0m0s", "2.5s", "300ms"), to microseconds."""
    nanos = (span.days * 86400 + span.seconds) * 10**9 + span.microseconds * 1000
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos == 0:
        return "0s"
    if nanos < 10**9:
        for unit, scale in (("ms", 10**6), ("\u00b5s", 10**3), ("ns", 1)):
            if nanos >= scale:
                return sign + _fraction(nanos, scale) + unit
    seconds, rest = divmod(nanos, 10**9)
    text = _fraction(seconds % 60 * 10**9 + rest, 10**9) + "s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes // 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _fraction(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")
