"""`describe rayservice` shows which cluster serves and each deployment's replicas.

KubeRay's status carries app and deployment statuses only; the user's question during an
upgrade is "how many replicas run on which cluster", so describe answers it from the
Serve API's replica details (clients.serve_api -> local.rayservice_controller.serve_snapshot).
"""

from __future__ import annotations

from typing import Any

from rayplane.cli import describe
from rayplane.cli.output import out
from rayplane.clients.serve_api import parse_serve_state
from rayplane.local.rayservice_controller import serve_snapshot


def _serve_payload(replicas: list[str], target: int) -> dict[str, Any]:
    return {
        "controller_info": {"node_id": "n1"},
        "applications": {
            "text": {
                "name": "text",
                "status": "RUNNING",
                "route_prefix": "/",
                "deployments": {
                    "Transform": {
                        "name": "Transform",
                        "status": "UPDATING",
                        "message": "scaling up",
                        "target_num_replicas": target,
                        "replicas": [
                            {"replica_id": f"r{i}", "state": state}
                            for i, state in enumerate(replicas)
                        ],
                    }
                },
            }
        },
    }


def test_snapshot_counts_replicas_by_state() -> None:
    apps = parse_serve_state(_serve_payload(["RUNNING", "RUNNING", "STARTING"], 3)).applications
    snap = serve_snapshot(apps)
    dep = snap["text"]["deployments"]["Transform"]
    assert dep == {
        "status": "UPDATING",
        "message": "scaling up",
        "targetReplicas": 3,
        "replicas": {"RUNNING": 2, "STARTING": 1},
    }
    assert snap["text"]["routePrefix"] == "/"


def test_describe_shows_active_and_pending_replicas() -> None:
    active = serve_snapshot(parse_serve_state(_serve_payload(["RUNNING"] * 2, 2)).applications)
    pending = serve_snapshot(parse_serve_state(_serve_payload(["STARTING"], 2)).applications)
    detail = {
        "kind": "RayService",
        "metadata": {"name": "text", "namespace": "default"},
        "status": {},
        "spec": {},
        "local": {
            "endpoint": "http://127.0.0.1:8123",
            "serve": {
                "active": {"cluster": "text-raycluster-aaaaa", "applications": active},
                "pending": {"cluster": "text-raycluster-bbbbb", "applications": pending},
            },
        },
    }
    with out.capture() as captured:
        describe.render(detail)
    text = captured.get()
    section = text[text.index("Serve") :]
    assert "endpoint: http://127.0.0.1:8123" in section
    active_at = section.index("active cluster: text-raycluster-aaaaa")
    pending_at = section.index("pending cluster: text-raycluster-bbbbb")
    assert active_at < pending_at
    active_part, pending_part = section[active_at:pending_at], section[pending_at:]
    assert "Transform" in active_part and "2/2" in active_part and "RUNNING 2" in active_part
    assert "1/2" not in active_part
    assert "0/2" in pending_part and "STARTING 1" in pending_part


def test_describe_says_when_no_apps_were_read() -> None:
    detail = {
        "kind": "RayService",
        "metadata": {"name": "text", "namespace": "default"},
        "status": {},
        "spec": {},
        "local": {"serve": {"active": {"cluster": "c1", "applications": {}}}},
    }
    with out.capture() as captured:
        describe.render(detail)
    assert "no Serve applications read yet" in captured.get()
