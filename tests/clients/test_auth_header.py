"""One header carries the Ray auth token, on every dashboard call that needs it."""

from __future__ import annotations

import httpx

from rayplane.clients.auth import AUTH_HEADER, auth_header
from rayplane.clients.jobs_api import JobsClient
from rayplane.clients.serve_api import ServeClient


def test_the_header_is_kuberays_and_absent_without_a_token() -> None:
    assert auth_header("t0k") == {"x-ray-authorization": "Bearer t0k"}
    assert auth_header(None) == {} and auth_header("") == {}


def test_the_serve_client_sends_each_clusters_own_token() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get(AUTH_HEADER))
        if request.method == "GET":
            return httpx.Response(200, json={"applications": {}})
        return httpx.Response(200)

    with ServeClient(transport=httpx.MockTransport(answer)) as client:
        client.get_applications("http://127.0.0.1:1", token="one")
        client.put_config("http://127.0.0.1:2", {"applications": []}, token="two")
        client.delete("http://127.0.0.1:3")
    assert seen == ["Bearer one", "Bearer two", None]


def test_a_refused_job_call_says_token_auth() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text="Unauthorized: Missing authentication token")

    with JobsClient("127.0.0.1:1", transport=httpx.MockTransport(refuse)) as client:
        try:
            client.list()
        except Exception as exc:  # JobsClientError
            assert "HTTP 401" in str(exc) and "auth token" in str(exc)
        else:
            raise AssertionError("a 401 must raise")
