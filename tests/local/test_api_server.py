"""The controller's socket holds requests to the API server's limits and keeps serving.

Every test speaks raw HTTP over the real Unix socket, the way any local process can.
"""

from __future__ import annotations

import json
from typing import Any

from rayplane.local.controller import Controller

from .apisocket import answer, connect, raw, request, serving


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def put_head(url: str, length: str) -> bytes:
    return f"PUT {url} HTTP/1.1\r\nHost: rayplane\r\nContent-Length: {length}\r\n\r\n".encode()


def test_malformed_requests_get_400_with_the_reason_and_the_server_goes_on(
    controller: Controller,
) -> None:
    url = "/resources/ConfigMap/default/cm"
    with serving(controller.handle) as sock:
        code, body = raw(sock, put_head(url, "many"))
        assert code == 400 and "Content-Length 'many'" in body["message"]
        code, body = raw(sock, put_head(url, "2") + b"\xff\xfe")
        assert code == 400 and "not UTF-8" in body["message"]
        code, body = raw(sock, put_head(url, "9") + b'{"kind": ')
        assert code == 400 and "not JSON" in body["message"]
        code, body = raw(sock, put_head(url, "2") + b"[]")
        assert code == 400 and "JSON object" in body["message"]
        code, body = raw(sock, b"GET /healthz HTTP/9\r\n\r\n")
        assert code == 400
        code, body = request(sock, "GET", "/healthz")
        assert code == 200 and body["home"] == str(controller.settings.home)
    assert controller.store.resources() == []


def test_a_client_that_stops_sending_is_cut_off(controller: Controller) -> None:
    with serving(controller.handle, timeout_s=0.5) as sock:
        with connect(sock) as slow:
            slow.settimeout(20)  # only so a failing test ends; the server closes far earlier
            slow.sendall(put_head("/resources/ConfigMap/default/cm", "100") + b'{"kind"')
            assert slow.recv(1024) == b""  # closed by the server, no answer owed
        with connect(sock) as idle:  # a connection that never sends a request
            idle.settimeout(20)
            assert idle.recv(1024) == b""
        assert request(sock, "GET", "/healthz")[0] == 200
    assert controller.store.resources() == []


def test_a_request_over_3_mib_is_refused_unread_and_not_stored(controller: Controller) -> None:
    doc = json.dumps(configmap("big", {"blob": "x" * (4 * 1024 * 1024)})).encode()
    with serving(controller.handle) as sock, connect(sock) as client:
        client.sendall(put_head("/resources/ConfigMap/default/big", str(len(doc))))
        code, body = answer(client)
        assert code == 413
        assert "3145728 bytes" in body["message"]
    assert controller.store.get("ConfigMap", "default", "big") is None


def test_a_configmap_over_1_mib_is_invalid_as_on_kubernetes(controller: Controller) -> None:
    with serving(controller.handle) as sock:
        code, body = request(
            sock,
            "PUT",
            "/resources/ConfigMap/default/big",
            configmap("big", {"blob": "x" * (2 * 1024 * 1024)}),
        )
        assert code == 422
        [finding] = body["findings"]
        assert finding["path"] == "data"
        assert "Too long: must have at most 1048576 bytes" in finding["message"]
        # The same data within the limit is stored.
        ok = configmap("big", {"blob": "x" * 1024})
        assert request(sock, "PUT", "/resources/ConfigMap/default/big", ok)[0] == 200


def test_an_error_answer_does_not_echo_a_huge_value(controller: Controller) -> None:
    pod = {"spec": {"containers": [{"name": "ray", "image": "rayproject/ray"}]}}
    huge = "9" * 500_000 + "x"  # not a whole number
    doc = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "c"},
        "spec": {
            "headGroupSpec": {"rayStartParams": {}, "template": pod},
            "workerGroupSpecs": [
                {"groupName": "w", "replicas": huge, "rayStartParams": {}, "template": pod}
            ],
        },
    }
    with serving(controller.handle) as sock:
        code, body = request(sock, "PUT", "/resources/RayCluster/default/c", doc)
    assert code == 422
    [finding] = [f for f in body["findings"] if f["path"] == "spec.workerGroupSpecs[0].replicas"]
    assert finding["value"].startswith("9999") and finding["value"].endswith("more characters)")
    assert len(json.dumps(body)) < 20_000
