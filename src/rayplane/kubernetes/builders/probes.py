"""Liveness and readiness probes of the Ray container (initLivenessAndReadinessProbe).

KubeRay's values (ray-operator/controllers/ray/utils/constant.go and common/pod.go at
feeaf72), injected only where the user set no probe of that kind:

- Ray >= 2.53 (``rayVersion``, Kubernetes' generic version parsing): ``httpGet`` on the
  dashboard agent's ``/api/healthz``.
- Older or unparseable versions: ``bash -c "wget ... | grep success"`` against the agent's
  ``api/local_raylet_healthz``; the head also checks the dashboard's ``api/gcs_healthz``.
- Readiness: delay 10 s, period 5 s, success 1, failure 10; timeout 5 s on the head
  (two endpoints), 2 s on workers.
- Liveness: delay 30 s, period 5 s, success 1, failure 120; same timeouts.
- RayService workers: readiness also checks the Serve proxy's ``-/healthz`` on the
  ``serve`` port (an exec probe even on new Ray) with failureThreshold 1, so a worker
  whose proxy is down leaves the serve Service at once.

The wget timeouts reproduce KubeRay's argument order, which passes the readiness failure
threshold (10) as the GCS check's timeout and the initial delay (10) as the Serve check's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

DASHBOARD_AGENT_PORT = 52365
DASHBOARD_PORT = 8265
SERVE_PORT = 8000

HEALTH_PATH = "/api/healthz"
RAYLET_HEALTH_PATH = "api/local_raylet_healthz"
GCS_HEALTH_PATH = "api/gcs_healthz"
SERVE_HEALTH_PATH = "-/healthz"

READINESS_DELAY = 10
READINESS_PERIOD = 5
READINESS_FAILURES = 10
SERVE_READINESS_FAILURES = 1
LIVENESS_DELAY = 30
LIVENESS_PERIOD = 5
LIVENESS_FAILURES = 120
WORKER_TIMEOUT = 2
HEAD_TIMEOUT = 5
SUCCESS_THRESHOLD = 1

UNIFIED_HEALTH_CHECK_VERSION = (2, 53, 0)

_GENERIC_VERSION = re.compile(r"^\s*v?([0-9]+(?:\.[0-9]+)*)(.*)$")
_INT32_MAX = 2**31 - 1
_INT = re.compile(r"[+-]?[0-9]+")


def parse_generic_version(text: str | None) -> tuple[int, ...] | None:
    """k8s.io/apimachinery's ParseGeneric: two or more numeric components, rest ignored."""
    match = _GENERIC_VERSION.match(text or "")
    if match is None:
        return None
    parts = match.group(1).split(".")
    if len(parts) < 2 or (parts[0].startswith("0") and parts[0] != "0"):
        return None
    return tuple(int(part) for part in parts)


def supports_unified_health_check(ray_version: str | None) -> bool:
    """Ray >= 2.53 serves one HTTP health endpoint (version.AtLeast, missing parts = 0)."""
    version = parse_generic_version(ray_version)
    if version is None:
        return False
    width = max(len(version), len(UNIFIED_HEALTH_CHECK_VERSION))
    pad = (0,) * width
    return (version + pad)[:width] >= (UNIFIED_HEALTH_CHECK_VERSION + pad)[:width]


def wget_check(timeout: int, port: int, path: str) -> str:
    """KubeRay's BaseWgetHealthCommand."""
    return f"wget --tries 1 -T {timeout} -q -O- http://localhost:{port}/{path} | grep success"


def _port(params: Mapping[str, str], key: str, default: int) -> int:
    """A port from rayStartParams if it parses as an int32 (Go's ParseInt), else *default*."""
    text = params.get(key)
    if text is None or _INT.fullmatch(text) is None:
        return default
    value = int(text)
    return value if -_INT32_MAX - 1 <= value <= _INT32_MAX else default


def _named_port(container: Mapping[str, Any], name: str, default: int) -> int:
    for port in container.get("ports") or ():
        if port.get("name") == name:
            return int(port["containerPort"])
    return default


def add_probes(
    container: dict[str, Any],
    *,
    head: bool,
    serve_worker: bool,
    params: Mapping[str, str],
    ray_version: str | None,
) -> None:
    """Give the Ray container KubeRay's probes where it has none (in place).

    *params* are the final rayStartParams; *serve_worker* is a worker of a RayService
    cluster.
    """
    agent_port = _port(params, "dashboard-agent-listen-port", DASHBOARD_AGENT_PORT)
    http = supports_unified_health_check(ray_version)
    commands = [wget_check(WORKER_TIMEOUT, agent_port, RAYLET_HEALTH_PATH)]
    if head:
        dashboard_port = _port(params, "dashboard-port", DASHBOARD_PORT)
        commands.append(wget_check(READINESS_FAILURES, dashboard_port, GCS_HEALTH_PATH))
    timeout = HEAD_TIMEOUT if head else WORKER_TIMEOUT

    def action() -> dict[str, Any]:
        if http:
            return {"httpGet": {"path": HEALTH_PATH, "port": agent_port}}
        return {"exec": {"command": ["bash", "-c", " && ".join(commands)]}}

    if container.get("livenessProbe") is None:
        container["livenessProbe"] = {
            **action(),
            "initialDelaySeconds": LIVENESS_DELAY,
            "timeoutSeconds": timeout,
            "periodSeconds": LIVENESS_PERIOD,
            "successThreshold": SUCCESS_THRESHOLD,
            "failureThreshold": LIVENESS_FAILURES,
        }
    if container.get("readinessProbe") is None:
        readiness: dict[str, Any] = {
            **action(),
            "initialDelaySeconds": READINESS_DELAY,
            "timeoutSeconds": timeout,
            "periodSeconds": READINESS_PERIOD,
            "successThreshold": SUCCESS_THRESHOLD,
            "failureThreshold": READINESS_FAILURES,
        }
        if serve_worker and not head:
            serve_port = _named_port(container, "serve", SERVE_PORT)
            serve = wget_check(READINESS_DELAY, serve_port, SERVE_HEALTH_PATH)
            readiness.pop("httpGet", None)
            readiness["exec"] = {"command": ["bash", "-c", " && ".join([*commands, serve])]}
            readiness["failureThreshold"] = SERVE_READINESS_FAILURES
        container["readinessProbe"] = readiness
