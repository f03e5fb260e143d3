"""A RayService upgrade under load: blue/green (NewCluster) beside incremental, vs the floor.

One head-only RayService (two replicas of rayplane.demo.text_app) behind rayplane's stable
endpoint. Each phase sends 20 requests/s to loopback and reports requests sent, the
success rate and p50/p99 latency; the floor is the same load sent straight to the active
cluster's own Serve proxy, measured in the same run, so the ratio is what the endpoint adds.
Then the cluster is upgraded twice under load: blue/green (a new cluster, one switch), and
NewClusterWithIncrementalUpgrade (stepSizePercent 25, intervalSeconds 3), for which the
share of responses from the new cluster per 5 s window is printed too.

Run: python bench/serve_upgrade.py   (about 5-10 minutes on 2 cores)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import yaml
from _common import controller, wait

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.load import Load, LoadResult

RATE = 20


def service(greeting: str, incremental: bool) -> dict[str, Any]:
    container = {
        "name": "ray-head",
        "image": "rayproject/ray:2.60.0",
        "env": [{"name": "GREETING", "value": greeting}],
        "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
    }
    strategy: dict[str, Any] = {"type": "NewCluster"}
    if incremental:
        strategy = {
            "type": "NewClusterWithIncrementalUpgrade",
            "clusterUpgradeOptions": {
                "maxSurgePercent": 100,
                "stepSizePercent": 25,
                "intervalSeconds": 3,
                "gatewayClassName": "unused-locally",
            },
        }
    serve = {
        "applications": [
            {
                "name": "text",
                "route_prefix": "/",
                "import_path": "rayplane.demo.text_app:app",
                "deployments": [{"name": "TextTransform", "num_replicas": 2}],
            }
        ]
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "rayClusterDeletionDelaySeconds": 5,
            "upgradeStrategy": strategy,
            "serveConfigV2": yaml.safe_dump(serve),
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


def row(label: str, result: LoadResult, floor_p50: float) -> str:
    rate = 100.0 * result.ok / max(1, result.total)
    p50, p99 = result.percentile(0.5) * 1000, result.percentile(0.99) * 1000
    ratio = p50 / (floor_p50 * 1000) if floor_p50 else float("nan")
    return (
        f"{label:<26} {result.total:>6} {len(result.failures):>7} {rate:>8.2f}% "
        f"{p50:>8.1f} {p99:>8.1f} {ratio:>9.2f}"
    )


def main() -> None:
    with controller() as client:

        def status() -> dict[str, Any]:
            return dict((client.get("RayService", "default", "bench") or {}).get("status") or {})

        def active() -> str | None:
            return (status().get("activeServiceStatus") or {}).get("rayClusterName")

        def upgrade(greeting: str, incremental: bool) -> LoadResult:
            before = active()
            load = Load(endpoint, RATE, 900).start()
            time.sleep(2)
            client.apply(service(greeting, incremental))
            wait(lambda: active() not in (None, before), 900, poll=1)
            wait(lambda: client.get("RayCluster", "default", before) is None, 300, poll=1)
            return load.stop()

        client.apply(service("v1", incremental=False))

        def ready() -> dict[str, Any] | None:
            found = client.get("RayService", "default", "bench") or {}
            ok = any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (found.get("status") or {}).get("conditions") or []
            )
            return found if ok and (found.get("local") or {}).get("endpoint") else None

        detail = wait(ready, 900, poll=1)
        endpoint = detail["local"]["endpoint"] + "/"
        head_serve = _head_serve_port(
            client, detail["status"]["activeServiceStatus"]["rayClusterName"]
        )
        floor = Load(f"http://127.0.0.1:{head_serve}/", RATE, 20).start().wait()
        steady = Load(endpoint, RATE, 20).start().wait()
        blue_green = upgrade("v2", incremental=False)
        gradual = upgrade("v3", incremental=True)

        print(
            f"{'phase':<26} {'sent':>6} {'failed':>7} {'success':>9} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'p50/floor':>9}"
        )
        base = floor.percentile(0.5)
        for label, result in (
            ("floor (head Serve proxy)", floor),
            ("steady (endpoint)", steady),
            ("blue/green upgrade", blue_green),
            ("incremental upgrade", gradual),
        ):
            print(row(label, result, base))
        greetings = [b["greeting"] for b in gradual.bodies]
        window = RATE * 5
        shares = [
            round(100 * greetings[i : i + window].count("v3") / len(greetings[i : i + window]))
            for i in range(0, len(greetings), window)
        ]
        print(f"incremental: % of responses from the new cluster per 5 s window: {shares}")
        for label, result in (("blue/green", blue_green), ("incremental", gradual)):
            if result.failures:
                print(f"{label}: first failure: {result.failures[0]}")


def _head_serve_port(client: Any, cluster: str) -> int:
    """The Serve port of the cluster's head (its proxy holds the replicas)."""
    from rayplane.local.store import Store

    store = Store(client.settings.home / "state.db")
    try:
        found = store.get("RayCluster", "default", cluster)
        assert found is not None
        return next(int(n.ports["serve"]) for n in store.nodes(found.uid) if n.kind == "head")
    finally:
        store.close()


if __name__ == "__main__":
    main()
