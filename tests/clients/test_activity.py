"""The activity probe reads Ray's answers the way Ray 2.60's dashboard writes them."""

from __future__ import annotations

import json
from typing import Any

import httpx

from rayplane.clients.activity import probe_activity

BASE = "http://127.0.0.1:8265"


def _client(activities: Any, jobs: Any, status: int = 200) -> httpx.Client:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/component_activities":
            return httpx.Response(status, text=json.dumps(activities))
        if request.url.path == "/api/jobs/":
            return httpx.Response(200, text=json.dumps(jobs))
        return httpx.Response(404)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    client.seen = seen  # type: ignore[attr-defined]
    return client


def test_an_idle_cluster_reports_no_drivers_and_its_last_activity() -> None:
    activities = {
        "driver": {
            "is_active": "INACTIVE",
            "reason": None,
            "timestamp": 1769360527.9,
            "last_activity_at": 1769360515.9,
        }
    }
    jobs = [{"status": "SUCCEEDED", "end_time": 1769360520000}]
    found = probe_activity(_client(activities, jobs), BASE)
    assert (found.drivers, found.jobs, found.error) == (0, 0, None)
    # The later of the driver's end and the job's end (ms in the Jobs API).
    assert found.last_activity_at == 1769360520.0


def test_drivers_and_pending_or_running_jobs_are_counted() -> None:
    activities = {
        "driver": {"is_active": "ACTIVE", "reason": "Number of active drivers: 2", "timestamp": 1}
    }
    jobs = [{"status": "RUNNING"}, {"status": "PENDING"}, {"status": "FAILED", "end_time": 5}]
    found = probe_activity(_client(activities, jobs), BASE)
    assert (found.drivers, found.jobs, found.error) == (2, 2, None)


def test_ray_saying_error_is_an_error_not_idleness() -> None:
    activities = {"driver": {"is_active": "ERROR", "reason": "GCS timeout", "timestamp": 1}}
    found = probe_activity(_client(activities, []), BASE)
    assert found.error is not None and "GCS timeout" in found.error


def test_an_http_failure_is_an_error_naming_the_url_and_status() -> None:
    found = probe_activity(_client({}, [], status=401), BASE)
    assert found.error is not None
    assert "401" in found.error and "/api/component_activities" in found.error


def test_an_unreachable_dashboard_is_an_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    found = probe_activity(client, BASE)
    assert found.error is not None and "not answering" in found.error


def test_the_token_goes_in_rays_header() -> None:
    client = _client({"driver": {"is_active": "INACTIVE"}}, [])
    probe_activity(client, BASE, token="s3cret")
    seen: list[httpx.Request] = client.seen  # type: ignore[attr-defined]
    assert seen and all(r.headers["x-ray-authorization"] == "Bearer s3cret" for r in seen)
