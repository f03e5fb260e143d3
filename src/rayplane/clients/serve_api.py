"""Ray Serve over the dashboard's REST API, the calls KubeRay's RayService controller makes.

* ``GET /api/serve/applications/?api_type=declarative``: the Serve instance (controller,
  proxies, applications with their deployments and replicas). ``declarative`` limits it to
  applications deployed from a config, which are the only ones a RayService owns.
* ``PUT /api/serve/applications/``: the whole serveConfigV2 as JSON; Serve converges to it
  (apps missing from it are deleted). 200 with an empty body on success, 400 with the
  validation error as text.
* ``DELETE /api/serve/applications/``: shut Serve down.
* ``GET <proxy>/-/healthz`` on a node's Serve proxy port (not the dashboard): 200 when the
  proxy actor is healthy. It decides whether a node is a serve endpoint.

Payload shapes are Ray 2.60's ``ServeInstanceDetails`` (python/ray/serve/schema.py). Fields
are read leniently, since other Ray versions add or omit some; a response that is not a
JSON object at all is an error. With token authentication on, the dashboard wants the token
in ``x-ray-authorization: Bearer <token>``, as KubeRay sends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from rayplane.clients.auth import auth_header
from rayplane.errors import RayplaneError

APPLICATIONS_PATH = "/api/serve/applications/"
PROXY_HEALTH_PATH = "/-/healthz"
# KubeRay's dashboard and proxy clients time out after 2 s; a pass must not hang on one node.
DEFAULT_TIMEOUT_S = 2.0


class ServeClientError(RayplaneError):
    """A Serve call failed: no answer, a non-2xx status, or a body that is not the schema.

    ``status_code`` is None when there was no HTTP answer; ``body`` is the answer's text
    (for a rejected PUT, Serve's validation error, which is what a user needs to see).
    """

    def __init__(self, message: str, *, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


@dataclass(frozen=True)
class ReplicaInfo:
    """One replica of a deployment (ReplicaDetails); ``state`` is RUNNING, STARTING, ..."""

    replica_id: str
    state: str
    node_id: str | None = None
    node_ip: str | None = None
    actor_id: str | None = None
    pid: int | None = None
    start_time_s: float | None = None


@dataclass(frozen=True)
class DeploymentInfo:
    """One deployment (DeploymentDetails); ``status`` is UPDATING, HEALTHY, UNHEALTHY, ..."""

    name: str
    status: str
    message: str = ""
    status_trigger: str | None = None
    target_num_replicas: int | None = None
    replicas: tuple[ReplicaInfo, ...] = ()


@dataclass(frozen=True)
class ApplicationInfo:
    """One application (ApplicationDetails); ``status`` is NOT_STARTED, DEPLOYING, RUNNING, ...

    ``status``, ``message`` and ``deployments`` are what the RayService reconciler reads;
    the object can be handed to it as is.
    """

    name: str
    status: str
    message: str = ""
    route_prefix: str | None = None
    last_deployed_time_s: float | None = None
    source: str | None = None
    deployed_app_config: Mapping[str, Any] | None = None
    deployments: Mapping[str, DeploymentInfo] = field(default_factory=dict)


@dataclass(frozen=True)
class ProxyInfo:
    """One Serve proxy (ProxyDetails), keyed by node id; ``status`` HEALTHY, STARTING, ..."""

    node_id: str
    status: str
    node_ip: str | None = None
    actor_id: str | None = None


@dataclass(frozen=True)
class ServeState:
    """The Serve instance of a cluster. An instance with no controller has empty maps."""

    controller_info: Mapping[str, Any] = field(default_factory=dict)
    proxy_location: str | None = None
    http_options: Mapping[str, Any] = field(default_factory=dict)
    proxies: Mapping[str, ProxyInfo] = field(default_factory=dict)
    applications: Mapping[str, ApplicationInfo] = field(default_factory=dict)
    target_capacity: float | None = None

    @property
    def running(self) -> bool:
        """Serve has been started on the cluster (its controller actor exists)."""
        return bool(self.controller_info)


class ServeClient:
    """A synchronous client for the Serve REST API of any number of clusters.

    *transport* is injectable (``httpx.MockTransport`` in tests); *token* is the cluster's
    auth token when the dashboard enforces token authentication.
    """

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        token: str | None = None,
    ) -> None:
        self._http = httpx.Client(transport=transport, timeout=timeout, headers=auth_header(token))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def get_applications(self, dashboard_url: str, *, token: str | None = None) -> ServeState:
        """The declaratively deployed Serve applications of the cluster at *dashboard_url*.

        *token* (here and below) is that cluster's auth token, for a client that serves
        several clusters; it replaces the client's own."""
        url = _base(dashboard_url) + APPLICATIONS_PATH
        response = self._send("GET", url, token, params={"api_type": "declarative"})
        try:
            payload = response.json()
        except ValueError as exc:
            raise ServeClientError(
                f"GET {url}: the answer is not JSON",
                status_code=response.status_code,
                body=response.text,
            ) from exc
        if not isinstance(payload, dict):
            raise ServeClientError(
                f"GET {url}: expected a JSON object, got {type(payload).__name__}",
                status_code=response.status_code,
                body=response.text,
            )
        return parse_serve_state(payload)

    def put_config(
        self, dashboard_url: str, config: Mapping[str, Any], *, token: str | None = None
    ) -> None:
        """Deploy *config* (serveConfigV2 as a JSON object); raises with Serve's error text."""
        url = _base(dashboard_url) + APPLICATIONS_PATH
        self._send("PUT", url, token, json=dict(config))

    def delete(self, dashboard_url: str, *, token: str | None = None) -> None:
        """Shut Serve down on the cluster (all applications, proxies and the controller)."""
        self._send("DELETE", _base(dashboard_url) + APPLICATIONS_PATH, token)

    def proxy_healthy(self, url: str) -> bool:
        """Whether the Serve proxy at *url* (``http://host:8000``) answers its health check."""
        try:
            response = self._http.get(_base(url) + PROXY_HEALTH_PATH)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _send(self, method: str, url: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = auth_header(token)
        try:
            response = self._http.request(method, url, headers=headers or None, **kwargs)
        except httpx.HTTPError as exc:
            raise ServeClientError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            body = response.text
            detail = f": {body.strip()}" if body.strip() else ""
            raise ServeClientError(
                f"{method} {url} answered {response.status_code}{detail}",
                status_code=response.status_code,
                body=body,
            )
        return response


def parse_serve_state(payload: Mapping[str, Any]) -> ServeState:
    """``ServeInstanceDetails`` JSON as a ServeState; unknown fields are ignored."""
    proxies: dict[str, ProxyInfo] = {}
    for node_id, proxy in _dict(payload.get("proxies")).items():
        proxy = _dict(proxy)
        proxies[node_id] = ProxyInfo(
            node_id=str(proxy.get("node_id") or node_id),
            status=str(proxy.get("status") or ""),
            node_ip=_str(proxy.get("node_ip")),
            actor_id=_str(proxy.get("actor_id")),
        )
    applications = {
        name: _application(name, _dict(app))
        for name, app in _dict(payload.get("applications")).items()
    }
    capacity = payload.get("target_capacity")
    return ServeState(
        controller_info=_dict(payload.get("controller_info")),
        proxy_location=_str(payload.get("proxy_location")),
        http_options=_dict(payload.get("http_options")),
        proxies=proxies,
        applications=applications,
        target_capacity=float(capacity) if isinstance(capacity, int | float) else None,
    )


def _application(name: str, app: Mapping[str, Any]) -> ApplicationInfo:
    deployments = {
        dep_name: _deployment(dep_name, _dict(dep))
        for dep_name, dep in _dict(app.get("deployments")).items()
    }
    config = app.get("deployed_app_config")
    return ApplicationInfo(
        name=str(app.get("name") or name),
        status=str(app.get("status") or ""),
        message=str(app.get("message") or ""),
        route_prefix=_str(app.get("route_prefix")),
        last_deployed_time_s=_float(app.get("last_deployed_time_s")),
        source=_str(app.get("source")),
        deployed_app_config=config if isinstance(config, dict) else None,
        deployments=deployments,
    )


def _deployment(name: str, dep: Mapping[str, Any]) -> DeploymentInfo:
    replicas = tuple(
        ReplicaInfo(
            replica_id=str(replica.get("replica_id") or ""),
            state=str(replica.get("state") or ""),
            node_id=_str(replica.get("node_id")),
            node_ip=_str(replica.get("node_ip")),
            actor_id=_str(replica.get("actor_id")),
            pid=replica.get("pid") if isinstance(replica.get("pid"), int) else None,
            start_time_s=_float(replica.get("start_time_s")),
        )
        for replica in (_dict(r) for r in _list(dep.get("replicas")))
    )
    target = dep.get("target_num_replicas")
    return DeploymentInfo(
        name=str(dep.get("name") or name),
        status=str(dep.get("status") or ""),
        message=str(dep.get("message") or ""),
        status_trigger=_str(dep.get("status_trigger")),
        target_num_replicas=target if isinstance(target, int) else None,
        replicas=replicas,
    )


def _base(url: str) -> str:
    """*url* with a scheme and without a trailing slash (KubeRay passes bare host:port)."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
