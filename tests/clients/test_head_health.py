"""A head is ready when its raylet is registered *and* its dashboard answers: a head whose
dashboard was still starting took `job submit` with "connection refused" (seen after a
head restart)."""

from __future__ import annotations

import httpx

from rayplane.clients.health import dashboard_healthy
from rayplane.local.node_launcher import ProcessLauncher


def _launcher(answers: dict[int, int | None]) -> ProcessLauncher:
    """A launcher whose HTTP goes to a mock: port -> status code, or None (refused)."""

    def handler(request: httpx.Request) -> httpx.Response:
        code = answers.get(request.url.port or 0)
        if code is None:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(code, text="success")

    launcher = ProcessLauncher()
    launcher._http = httpx.Client(transport=httpx.MockTransport(handler))
    return launcher


def test_a_head_whose_dashboard_is_not_up_yet_is_not_ready_and_says_why() -> None:
    launcher = _launcher({52365: 200, 8265: None})
    assert launcher.healthy(52365) == (True, "success")  # a worker: the agent is enough
    ready, why = launcher.healthy(52365, dashboard_port=8265)
    assert not ready and why == "dashboard not answering yet (ConnectError)"
    assert _launcher({52365: 200, 8265: 200}).healthy(52365, dashboard_port=8265) == (
        True,
        "success",
    )


def test_a_dashboard_answering_an_error_is_named_with_the_path() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    assert dashboard_healthy(client, "127.0.0.1", 8265) == (
        False,
        "dashboard: HTTP 503 on /api/gcs_healthz",
    )
