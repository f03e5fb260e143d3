"""Issue 15, item 3: NewClusterWithIncrementalUpgrade on the local runtime, with real Ray.

A head-only RayService (the smallest shape Serve runs on) answers a bounded loopback load
while its cluster is upgraded incrementally (stepSizePercent 25): no request fails, and
the share of responses from the new cluster ("greeting": "v2") moves up in steps, window
by window, from none to all, while status reports each step's trafficRoutedPercent.
Ordering is asserted, not times; the waits' deadlines are safety nets.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Local
from tests.e2e.load import Load
from tests.support import wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(1200)]

NAME = "gradual"
RATE = 20  # requests per second; one window is one second of load


def service_yaml(greeting: str) -> str:
    container = {
        "name": "ray-head",
        "image": "rayproject/ray:2.60.0",
        "env": [{"name": "GREETING", "value": greeting}],
        "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
    }
    doc: dict[str, Any] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": NAME},
        "spec": {
            "rayClusterDeletionDelaySeconds": 5,
            "upgradeStrategy": {
                "type": "NewClusterWithIncrementalUpgrade",
                "clusterUpgradeOptions": {
                    "maxSurgePercent": 100,
                    "stepSizePercent": 25,
                    "intervalSeconds": 3,
                    "gatewayClassName": "unused-locally",
                },
            },
            "serveConfigV2": yaml.safe_dump(
                {
                    "applications": [
                        {
                            "name": "text",
                            "route_prefix": "/",
                            "import_path": "rayplane.demo.text_app:app",
                            "deployments": [{"name": "TextTransform", "num_replicas": 2}],
                        }
                    ]
                }
            ),
            "rayClusterConfig": {
                "rayVersion": "2.60.0",
                "enableInTreeAutoscaling": True,
                "headGroupSpec": {
                    "rayStartParams": {"num-cpus": "1"},
                    "template": {"spec": {"containers": [container]}},
                },
            },
        },
    }
    return yaml.safe_dump(doc)


def service_status(local: Local) -> dict[str, Any]:
    return dict(local.get(NAME, "rayservice").get("status") or {})


def events(local: Local) -> list[dict[str, Any]]:
    """The service's events, oldest first (``describe`` shows the last 20 only)."""
    from rayplane.local.store import Store

    store = Store(local.home / "state.db")
    try:
        found = store.get("RayService", "default", NAME)
        assert found is not None
        return store.events(found.uid, limit=200)
    finally:
        store.close()


def test_incremental_upgrade_moves_traffic_in_steps_without_failures(local: Local) -> None:
    applied = local.run("apply", "-f", "-", "--timeout", "400", input=service_yaml("v1"))
    endpoint = applied.stdout.split("Endpoint: ")[1].split()[0]
    before = service_status(local)["activeServiceStatus"]
    assert before["targetCapacity"] == 100 and before["trafficRoutedPercent"] == 100
    old = before["rayClusterName"]

    load = Load(endpoint, rate=RATE, seconds=900).start()
    try:
        local.run("apply", "-f", "-", "--no-wait", input=service_yaml("v2"))
        new = wait_for(
            lambda: (lambda a: a if a != old else None)(
                service_status(local)["activeServiceStatus"]["rayClusterName"]
            ),
            600,
            "the new cluster to be promoted",
        )
        wait_for(
            lambda: local.run("get", "raycluster", old, check=False).returncode == 1,
            120,
            "the old cluster to be deleted after rayClusterDeletionDelaySeconds",
        )
    finally:
        result = load.stop()

    assert result.failures == [], result.failures[:5]
    greetings = [body["greeting"] for body in result.bodies]
    windows = [greetings[i : i + RATE] for i in range(0, len(greetings) - RATE + 1, RATE)]
    fractions = [window.count("v2") / len(window) for window in windows]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    # Up in steps: never back by more than one response's worth of reordering, and the
    # intermediate shares of stepSizePercent 25 were each served for a while.
    assert all(b >= a - 0.1 for a, b in itertools.pairwise(fractions)), fractions
    for step in (0.25, 0.5, 0.75):
        assert any(abs(f - step) <= 0.05 for f in fractions), (step, fractions)
    # The endpoint's split moved the same way, one stepSizePercent at a time (its events).
    splits = [e["message"] for e in events(local) if e["reason"] == "TrafficSplit"]
    shares: list[int] = []
    for message in splits:
        if f"{new} " in message:
            share = int(message.split(f"{new} ")[1].split("%")[0])
            if not shares or shares[-1] != share:
                shares.append(share)
    assert shares == [0, 25, 50, 75, 100], splits
    after = service_status(local)
    assert after["activeServiceStatus"]["rayClusterName"] == new
    assert after["activeServiceStatus"]["targetCapacity"] == 100
    assert after["activeServiceStatus"]["trafficRoutedPercent"] == 100
    assert not (after.get("pendingServiceStatus") or {}).get("rayClusterName")
    local.run("delete", "rayservice", NAME, timeout=300)
