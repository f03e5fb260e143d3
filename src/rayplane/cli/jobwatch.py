"""Following a RayJob from the CLI: its lifecycle on stderr, its Ray logs on stdout.

`apply` of a RayJob ends when the job does, with the job's outcome as the exit code, the
way `ray job submit` (without --no-wait) behaves, so scripts and CI can use it directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rayplane.cli.output import err, out, safe
from rayplane.cli.resources import detail_token
from rayplane.clients.jobs_api import JobsClient, JobsClientError

TERMINAL = {"Complete", "Failed", "ValidationFailed"}


def _phase_line(detail: dict[str, Any]) -> str:
    status = detail.get("status") or {}
    phase = status.get("jobDeploymentStatus") or "New"
    parts = [phase]
    if status.get("jobStatus"):
        parts.append(f"job {status['jobStatus']}")
    cluster = status.get("rayClusterName")
    if cluster and phase in ("Initializing", "New", "Retrying"):
        nodes = (detail.get("local") or {}).get("nodes", [])
        ready = sum(1 for n in nodes if n["state"] == "ready")
        parts.append(f"cluster {cluster}: {ready}/{len(nodes)} nodes ready")
    if status.get("failed"):
        parts.append(f"failed attempts {status['failed']}")
    if status.get("reason"):
        parts.append(f"{status['reason']}: {status.get('message', '')}".strip())
    return " - ".join(parts)


def follow(
    fetch: Callable[[], dict[str, Any] | None],
    label: str,
    timeout_s: float | None,
    stream_logs: bool = True,
) -> int:
    """Poll until the RayJob is terminal; return the exit code (0 only for SUCCEEDED)."""
    start = time.monotonic()
    last_line = ""
    printed = 0
    token: str | None = None
    while True:
        detail = fetch()
        if detail is None:
            err.print(f"{label} was deleted while waiting")
            return 1
        line = _phase_line(detail)
        if line != last_line:
            err.print(f"[{time.monotonic() - start:5.1f}s] {label}: {safe(line)}")
            last_line = line
        status = detail.get("status") or {}
        if stream_logs:
            if token is None and status.get("dashboardURL"):
                token = detail_token(detail)
            printed = _print_new_logs(status, printed, token)
        phase = status.get("jobDeploymentStatus")
        if phase in TERMINAL:
            if status.get("jobStatus") == "SUCCEEDED" and phase == "Complete":
                err.print(f"[green]{label} succeeded[/green]")
                return 0
            why = f"{status.get('reason') or phase}: {status.get('message') or ''}".strip(": ")
            err.print(
                f"[red]{label} did not succeed[/red] (jobStatus "
                f"{safe(status.get('jobStatus') or 'none')}): {safe(why)}"
            )
            return 1
        stuck = (detail.get("local") or {}).get("clusterFailure")
        if stuck:
            err.print(
                f"[red]{label} cannot run[/red]: {safe(stuck)}. The RayJob stays as it is and "
                "goes on once that is fixed; `rayplane describe` shows it."
            )
            return 1
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            err.print(
                f"{label}: stopped waiting after {timeout_s:.0f}s; the job keeps running "
                f"(phase {phase}). Follow it with: rayplane logs rayjob/NAME -f"
            )
            return 1
        time.sleep(0.5)


def _print_new_logs(status: dict[str, Any], printed: int, token: str | None) -> int:
    url, job_id = status.get("dashboardURL"), status.get("jobId")
    if not url or not job_id or status.get("jobStatus") in (None, "", "PENDING"):
        return printed
    try:
        with JobsClient(url, timeout=3, token=token) as client:
            text = client.logs(job_id)
    except JobsClientError:
        return printed  # the cluster may be going away after the job; status says the end
    if len(text) > printed:
        out.print(text[printed:], end="", markup=False, highlight=False)
    return max(printed, len(text))


def job_logs(detail: dict[str, Any]) -> str:
    """The driver log of a RayJob's Ray job (*detail* as `describe` gets it)."""
    status = detail.get("status") or {}
    url, job_id = status.get("dashboardURL"), status.get("jobId")
    if not url or not job_id:
        raise JobsClientError("the job has not been submitted to a cluster yet")
    with JobsClient(url, timeout=5, token=detail_token(detail)) as client:
        return client.logs(job_id)
