"""The Serve REST client against an in-memory transport with Ray 2.60-shaped payloads."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from rayplane.clients.serve_api import (
    ApplicationInfo,
    ServeClient,
    ServeClientError,
    ServeState,
    parse_serve_state,
)

DASHBOARD = "http://127.0.0.1:8265"
NODE = "5f0c2a7e1b9d4c3f8a6e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e"

# GET /api/serve/applications/?api_type=declarative from Ray 2.60 (ServeInstanceDetails),
# one app RUNNING and one DEPLOYING, trimmed only of long log paths.
SERVE_DETAILS: dict[str, Any] = {
    "controller_info": {
        "node_id": NODE,
        "node_ip": "127.0.0.1",
        "node_instance_id": "demo-abcde-head",
        "actor_id": "b9e7c3d1a1f5c2e4a6d8f0b201000000",
        "actor_name": "SERVE_CONTROLLER_ACTOR",
        "worker_id": "3c0f6b1e",
        "log_file_path": "/serve/controller_1234.log",
    },
    "proxy_location": "EveryNode",
    "http_options": {
        "host": "0.0.0.0",
        "port": 8000,
        "root_path": "",
        "request_timeout_s": None,
        "keep_alive_timeout_s": 90,
    },
    "grpc_options": {"port": 9000, "grpc_servicer_functions": []},
    "proxies": {
        NODE: {
            "node_id": NODE,
            "node_ip": "127.0.0.1",
            "node_instance_id": "demo-abcde-head",
            "actor_id": "e1d2c3b4a5f6e7d8c9b0a1f201000000",
            "actor_name": "SERVE_CONTROLLER_ACTOR:SERVE_PROXY_ACTOR-" + NODE,
            "worker_id": "7a8b9c0d",
            "log_file_path": "/serve/proxy_127.0.0.1.log",
            "status": "HEALTHY",
        }
    },
    "applications": {
        "fruit": {
            "name": "fruit",
            "route_prefix": "/fruit",
            "docs_path": None,
            "status": "RUNNING",
            "message": "",
            "last_deployed_time_s": 1740830400.123,
            "deployed_app_config": {
                "name": "fruit",
                "route_prefix": "/fruit",
                "import_path": "fruit.app:deployment_graph",
            },
            "source": "declarative",
            "deployments": {
                "MangoStand": {
                    "name": "MangoStand",
                    "status": "HEALTHY",
                    "status_trigger": "CONFIG_UPDATE_COMPLETED",
                    "message": "",
                    "deployment_config": {"name": "MangoStand", "num_replicas": 1},
                    "target_num_replicas": 1,
                    "required_resources": {"CPU": 1},
                    "replicas": [
                        {
                            "node_id": NODE,
                            "node_ip": "127.0.0.1",
                            "node_instance_id": "demo-abcde-head",
                            "actor_id": "aa11bb22cc33dd44ee55ff6601000000",
                            "actor_name": "SERVE_REPLICA::fruit#MangoStand#x1y2z3",
                            "worker_id": "11223344",
                            "log_file_path": "/serve/replica_fruit_MangoStand_x1y2z3.log",
                            "replica_id": "x1y2z3",
                            "state": "RUNNING",
                            "pid": 4242,
                            "start_time_s": 1740830401.5,
                        }
                    ],
                }
            },
            "external_scaler_enabled": False,
        },
        "math": {
            "name": "math",
            "route_prefix": "/calc",
            "docs_path": None,
            "status": "DEPLOYING",
            "message": "Deploying app 'math'.",
            "last_deployed_time_s": 1740830400.2,
            "deployed_app_config": None,
            "source": "declarative",
            "deployments": {
                "Adder": {
                    "name": "Adder",
                    "status": "UPDATING",
                    "status_trigger": "CONFIG_UPDATE_STARTED",
                    "message": "Deployment 'Adder' in application 'math' has 0 replicas "
                    "running, 1 target.",
                    "target_num_replicas": 1,
                    "replicas": [],
                }
            },
            "external_scaler_enabled": False,
        },
    },
    "target_capacity": None,
    "target_groups": [],
}
EMPTY_INSTANCE: dict[str, Any] = {
    "controller_info": {},
    "proxies": {},
    "applications": {},
    "target_capacity": None,
}

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **kw: Any) -> tuple[ServeClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return ServeClient(transport=httpx.MockTransport(record), **kw), seen


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


# -- GET ---------------------------------------------------------------------------------------


def test_get_applications_parses_the_serve_instance() -> None:
    c, seen = client(lambda r: httpx.Response(200, json=SERVE_DETAILS))
    state = c.get_applications(DASHBOARD)
    (request,) = seen
    assert request.method == "GET"
    assert request.url.path == "/api/serve/applications/"
    assert request.url.params["api_type"] == "declarative"
    assert "x-ray-authorization" not in request.headers

    assert state.running
    assert state.proxy_location == "EveryNode"
    assert state.http_options["port"] == 8000
    assert state.target_capacity is None
    proxy = state.proxies[NODE]
    assert (proxy.status, proxy.node_ip) == ("HEALTHY", "127.0.0.1")

    fruit = state.applications["fruit"]
    assert (fruit.status, fruit.message, fruit.route_prefix) == ("RUNNING", "", "/fruit")
    assert fruit.source == "declarative"
    assert fruit.last_deployed_time_s == 1740830400.123
    assert fruit.deployed_app_config is not None
    assert fruit.deployed_app_config["import_path"] == "fruit.app:deployment_graph"
    mango = fruit.deployments["MangoStand"]
    assert (mango.status, mango.status_trigger, mango.target_num_replicas) == (
        "HEALTHY",
        "CONFIG_UPDATE_COMPLETED",
        1,
    )
    (replica,) = mango.replicas
    assert (replica.replica_id, replica.state, replica.pid, replica.node_id) == (
        "x1y2z3",
        "RUNNING",
        4242,
        NODE,
    )

    math = state.applications["math"]
    assert math.status == "DEPLOYING"
    assert math.deployed_app_config is None
    adder = math.deployments["Adder"]
    assert adder.status == "UPDATING" and "0 replicas" in adder.message
    assert adder.replicas == ()


def test_empty_instance_means_serve_not_started() -> None:
    c, _ = client(lambda r: httpx.Response(200, json=EMPTY_INSTANCE))
    state = c.get_applications(DASHBOARD)
    assert state == ServeState()
    assert not state.running


def test_token_is_sent_as_kuberay_sends_it() -> None:
    c, seen = client(lambda r: httpx.Response(200, json=EMPTY_INSTANCE), token="s3cret")
    c.get_applications(DASHBOARD)
    assert seen[0].headers["x-ray-authorization"] == "Bearer s3cret"


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8265", "http://127.0.0.1:8265/", " http://127.0.0.1:8265 "]
)
def test_dashboard_url_forms(url: str) -> None:
    c, seen = client(lambda r: httpx.Response(200, json=EMPTY_INSTANCE))
    c.get_applications(url)
    assert str(seen[0].url) == DASHBOARD + "/api/serve/applications/?api_type=declarative"


def test_gcs_down_is_an_error_with_the_body() -> None:
    text = "Failed to get a response from the controller. The GCS may be down, please retry later"
    c, _ = client(lambda r: httpx.Response(503, text=text))
    with pytest.raises(ServeClientError) as info:
        c.get_applications(DASHBOARD)
    assert info.value.status_code == 503
    assert info.value.body == text
    assert "503" in str(info.value) and "GCS may be down" in str(info.value)


def test_unauthorized_is_an_error() -> None:
    c, _ = client(lambda r: httpx.Response(401, text="Unauthorized"))
    with pytest.raises(ServeClientError) as info:
        c.get_applications(DASHBOARD)
    assert info.value.status_code == 401


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>dashboard</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
    ],
)
def test_answer_that_is_not_the_schema_is_an_error(response: httpx.Response) -> None:
    c, _ = client(lambda r: response)
    with pytest.raises(ServeClientError) as info:
        c.get_applications(DASHBOARD)
    assert info.value.status_code == 200


def test_no_answer_is_an_error_without_status() -> None:
    c, _ = client(refuse)
    with pytest.raises(ServeClientError) as info:
        c.get_applications(DASHBOARD)
    assert info.value.status_code is None
    assert "ConnectError" in str(info.value)


def test_parsing_is_lenient_about_missing_and_odd_fields() -> None:
    state = parse_serve_state(
        {
            "controller_info": None,
            "proxies": {"n1": {"status": "STARTING"}},
            "applications": {
                "": {"status": "NOT_STARTED", "deployments": {"D": {"replicas": None}}},
                "x": "garbage",
            },
            "target_capacity": 50,
        }
    )
    assert not state.running
    assert state.proxies["n1"].node_id == "n1"
    assert state.applications[""].name == ""
    assert state.applications[""].deployments["D"].status == ""
    assert state.applications["x"] == ApplicationInfo(name="x", status="")
    assert state.target_capacity == 50.0


# -- PUT / DELETE --------------------------------------------------------------------------------


def test_put_config_sends_the_config_as_json() -> None:
    config = {
        "applications": [
            {"name": "fruit", "route_prefix": "/fruit", "import_path": "fruit.app:graph"}
        ]
    }
    c, seen = client(lambda r: httpx.Response(200))
    c.put_config(DASHBOARD, config)
    (request,) = seen
    assert request.method == "PUT"
    assert request.url.path == "/api/serve/applications/"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == config


def test_put_rejected_by_serve_raises_with_its_validation_error() -> None:
    body = (
        "1 validation error for ServeDeploySchema\napplications.0.import_path\n"
        "  Field required [type=missing, input_value={'name': 'fruit'}, input_type=dict]"
    )
    c, _ = client(lambda r: httpx.Response(400, text=body))
    with pytest.raises(ServeClientError) as info:
        c.put_config(DASHBOARD, {"applications": [{"name": "fruit"}]})
    assert info.value.status_code == 400
    assert info.value.body == body
    assert "import_path" in str(info.value)


def test_put_without_answer_raises() -> None:
    c, _ = client(refuse)
    with pytest.raises(ServeClientError):
        c.put_config(DASHBOARD, {"applications": []})


def test_delete_shuts_serve_down() -> None:
    c, seen = client(lambda r: httpx.Response(200))
    c.delete(DASHBOARD)
    assert [(r.method, r.url.path) for r in seen] == [("DELETE", "/api/serve/applications/")]


def test_delete_failure_raises() -> None:
    c, _ = client(lambda r: httpx.Response(500, text="boom"))
    with pytest.raises(ServeClientError) as info:
        c.delete(DASHBOARD)
    assert info.value.body == "boom"


# -- proxy health --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "healthy"),
    [
        (httpx.Response(200, text="success"), True),
        (httpx.Response(503, text="This node is being drained."), False),
        (httpx.Response(404, text="Not Found"), False),
    ],
)
def test_proxy_health(response: httpx.Response, healthy: bool) -> None:
    c, seen = client(lambda r: response)
    assert c.proxy_healthy("http://127.0.0.1:8000") is healthy
    assert str(seen[0].url) == "http://127.0.0.1:8000/-/healthz"


def test_proxy_not_answering_is_unhealthy() -> None:
    c, _ = client(refuse)
    assert c.proxy_healthy("127.0.0.1:8000") is False


def test_client_is_a_context_manager() -> None:
    with ServeClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c:
        assert c.proxy_healthy("127.0.0.1:8000")
