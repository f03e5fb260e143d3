"""Go's ``time.ParseDuration``, the one parser for the durations KubeRay reads.

KubeRay reads Go durations in two places rayplane follows: a RayCronJob's ``@every``
schedule (robfig/cron, validated in the API layer) and the RayService initializing-timeout
annotation (read by its reconciler). Both must accept and refuse exactly what Go does, so
both go through here; it sits in the API layer because validation needs it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

_PART: Final = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> timedelta | None:
    """The signed duration *text* means to Go (``1h30m``, ``-1.5s``, ``0``), or None
    where Go's ``time.ParseDuration`` returns an error (no unit, an unknown unit, empty)."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in ("-", "+") else text
    if body == "0":
        return timedelta(0)
    pos, seconds = 0, 0.0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            return None
        seconds += float(match.group(1)) * _SECONDS[match.group(2)]
        pos = match.end()
    return timedelta(seconds=sign * seconds) if body else None
