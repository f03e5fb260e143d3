"""Is anyone using this Ray cluster? Two dashboard calls answer it.

* ``GET /api/component_activities``: Ray's own idleness report, the one KubeRay PR #4400
  read. Its ``driver`` entry counts live drivers outside Ray's ``_ray_internal_``
  namespaces (``reason``: "Number of active drivers: N") and gives ``last_activity_at``,
  when the last driver ended (seconds since the epoch). Components added through
  ``RAY_CLUSTER_ACTIVITY_HOOK`` appear beside it; an ACTIVE one counts as a driver would.
* ``GET /api/jobs/``: Jobs API submissions. One PENDING or RUNNING has an entrypoint that
  may never call ``ray.init`` (so no driver), yet the cluster is in use; its ``end_time``
  (ms) is activity too.

Both are a GCS table read on the head, no task is scheduled: cheap enough to run every few
seconds. Any failure is reported in ``error``, never guessed around.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from rayplane.clients.auth import auth_header
from rayplane.errors import RayplaneError

ACTIVITIES_PATH = "/api/component_activities"
JOBS_PATH = "/api/jobs/"
RUNNING_JOB_STATES = frozenset({"PENDING", "RUNNING"})
_DRIVERS = re.compile(r"Number of active drivers: (\d+)")


@dataclass(frozen=True)
class DashboardActivity:
    """What the head's dashboard says is running; times in seconds since the epoch."""

    drivers: int = 0
    jobs: int = 0
    last_activity_at: float | None = None
    error: str | None = None


def probe_activity(
    client: httpx.Client, base_url: str, token: str | None = None
) -> DashboardActivity:
    """Ask the dashboard at *base_url* (``http://host:port``) what runs there now."""
    headers = auth_header(token)
    try:
        activities = _get_json(client, base_url + ACTIVITIES_PATH, headers)
        jobs = _get_json(client, base_url + JOBS_PATH, headers)
    except _ProbeError as exc:
        return DashboardActivity(error=str(exc))
    if not isinstance(activities, dict) or not isinstance(jobs, list):
        return DashboardActivity(error="the dashboard answered in an unexpected shape")

    drivers = 0
    latest: float | None = None
    for name, component in activities.items():
        if not isinstance(component, dict):
            continue
        state = component.get("is_active")
        if state == "ERROR":
            return DashboardActivity(
                error=f"Ray could not tell whether {name} is active: {component.get('reason')}"
            )
        if state == "ACTIVE":
            found = _DRIVERS.search(str(component.get("reason") or ""))
            drivers += int(found.group(1)) if found else 1
        latest = _later(latest, component.get("last_activity_at"))

    running = 0
    for job in jobs:
        if not isinstance(job, dict):
            continue
        if job.get("status") in RUNNING_JOB_STATES:
            running += 1
        end = job.get("end_time")
        if isinstance(end, (int, float)) and end > 0:
            latest = _later(latest, end / 1000.0)
    return DashboardActivity(drivers=drivers, jobs=running, last_activity_at=latest)


class _ProbeError(RayplaneError):
    pass


def _get_json(client: httpx.Client, url: str, headers: dict[str, str]) -> Any:
    try:
        response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise _ProbeError(f"dashboard not answering at {url} ({type(exc).__name__})") from exc
    if response.status_code != 200:
        text = response.text.strip()[:200]
        raise _ProbeError(f"GET {url} answered HTTP {response.status_code}: {text}")
    try:
        return response.json()
    except ValueError as exc:
        raise _ProbeError(f"GET {url} answered something that is not JSON") from exc


def _later(current: float | None, value: Any) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        return current
    return float(value) if current is None or value > current else current
