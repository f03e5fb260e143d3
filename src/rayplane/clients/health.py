"""Ray node health over HTTP, the checks KubeRay's probes make (Ray >= 2.53).

The dashboard agent's unified `/api/healthz` answers 200 once the node's raylet is up and
it can reach the GCS, which is what "Ready" means for a Pod in KubeRay.
"""

from __future__ import annotations

import httpx

HEALTH_PATH = "/api/healthz"


DASHBOARD_HEALTH_PATH = "/api/gcs_healthz"  # public under token auth, as the probe needs


def dashboard_healthy(client: httpx.Client, host: str, port: int) -> tuple[bool, str]:
    """(answering, why) for a head's dashboard: KubeRay's head probe asks it too, and a
    head whose raylet is up before its dashboard would refuse `job submit` as "ready"."""
    try:
        response = client.get(f"http://{host}:{port}{DASHBOARD_HEALTH_PATH}")
    except httpx.HTTPError as exc:
        return False, f"dashboard not answering yet ({type(exc).__name__})"
    if response.status_code != 200:
        return False, f"dashboard: HTTP {response.status_code} on {DASHBOARD_HEALTH_PATH}"
    return True, "success"


def node_healthy(client: httpx.Client, host: str, agent_port: int) -> tuple[bool, str]:
    """(healthy, why) for the node whose dashboard agent listens on *agent_port*."""
    try:
        response = client.get(f"http://{host}:{agent_port}{HEALTH_PATH}")
    except httpx.HTTPError as exc:
        return False, f"agent not answering ({type(exc).__name__})"
    text = response.text.strip().replace("\n", "; ")
    return response.status_code == 200, text or f"HTTP {response.status_code}"
