"""The controller's own time zone: what a RayCronJob without ``timeZone`` runs in.

KubeRay uses the operator process's local zone (Go's time.Local: $TZ, else /etc/localtime,
else UTC); both of rayplane's runtimes resolve it the same way, here, from the TZ value the
settings loader read.
"""

from __future__ import annotations

import logging
from datetime import UTC, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger("rayplane.settings")


def controller_zone(name: str | None, localtime: Path = Path("/etc/localtime")) -> tzinfo:
    """*name* ($TZ) if it names a zone, else the zone /etc/localtime is, else UTC (as Go's)."""
    if name is not None:
        name = name.lstrip(":")
        if name in ("", "UTC"):
            return UTC
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            log.warning("TZ=%r is not a time zone; RayCronJobs without timeZone use UTC", name)
            return UTC
    try:
        target = str(localtime.resolve())
        if "/zoneinfo/" in target:  # a link into the database: keep the zone's name
            return ZoneInfo(target.split("/zoneinfo/", 1)[1])
        if localtime.is_file():
            with localtime.open("rb") as handle:
                return ZoneInfo.from_file(handle, key="localtime")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    return UTC
