"""Serve through rayplane's endpoint: steady state, a head crash, an upgrade, vs the floor.

One RayService with GCS fault tolerance on a real Redis (started here on loopback, stopped
by PID). Each phase sends 20 requests/s to loopback and reports the success rate and
p50/p99 latency; the floor is the same load sent straight to one worker's Serve proxy of
the same cluster, so the ratio is what the endpoint (and the control plane) adds.

Run: python bench/serve_failover.py   (needs redis-server; about 5 minutes)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from _common import controller, wait

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.load import Load, LoadResult

ROOT = Path(__file__).resolve().parents[1]


def service(name: str, redis_port: int, greeting: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "rayservice-text.yaml").read_text())
    doc["metadata"]["name"] = name
    spec = doc["spec"]["rayClusterConfig"]
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["env"] = [
        {"name": "RAY_REDIS_ADDRESS", "value": f"127.0.0.1:{redis_port}"},
        {"name": "GREETING", "value": greeting},
    ]
    spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "GREETING", "value": greeting}
    ]
    return doc


def row(label: str, result: LoadResult, floor_p50: float) -> str:
    rate = 100.0 * result.ok / max(1, result.total)
    p50, p99 = result.percentile(0.5) * 1000, result.percentile(0.99) * 1000
    ratio = p50 / (floor_p50 * 1000) if floor_p50 else float("nan")
    return f"{label:<22} {result.total:>6} {rate:>8.2f}% {p50:>8.1f} {p99:>8.1f} {ratio:>9.2f}"


def main() -> None:
    server = shutil.which("redis-server")
    assert server, "redis-server is missing (scripts/install-test-services)"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        with controller() as client:
            client.apply(service("bench", port, "v1"))

            def ready() -> dict[str, Any] | None:
                found = client.get("RayService", "default", "bench") or {}
                ok = any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in (found.get("status") or {}).get("conditions") or []
                )
                return found if ok and (found.get("local") or {}).get("endpoint") else None

            detail = wait(ready, 600, poll=1)
            endpoint = detail["local"]["endpoint"] + "/"
            cluster = detail["status"]["activeServiceStatus"]["rayClusterName"]
            nodes = (client.get("RayCluster", "default", cluster) or {})["local"]["nodes"]
            head = next(n for n in nodes if n["kind"] == "head")
            worker_proxy = _worker_proxy(client, cluster)
            floor = Load(f"http://127.0.0.1:{worker_proxy}/", 20, 20).start().wait()
            steady = Load(endpoint, 20, 20).start().wait()
            crash = Load(endpoint, 20, 40).start()
            time.sleep(5)
            os.killpg(int(head["pid"]), signal.SIGKILL)
            crashed = crash.wait()
            upgrade = Load(endpoint, 20, 90).start()
            threading.Timer(1, lambda: client.apply(service("bench", port, "v2"))).start()
            upgraded = upgrade.wait()
            print(
                f"{'phase':<22} {'sent':>6} {'success':>9} {'p50 ms':>8} {'p99 ms':>8} "
                f"{'p50/floor':>9}"
            )
            base = floor.percentile(0.5)
            for label, result in (
                ("floor (worker proxy)", floor),
                ("steady", steady),
                ("head SIGKILL", crashed),
                ("cluster upgrade", upgraded),
            ):
                print(row(label, result, base))
            for label, result in (("floor", floor), ("head SIGKILL", crashed)):
                if result.failures:
                    print(f"{label}: first failure: {result.failures[0]}")
    finally:
        redis.terminate()
        redis.wait(timeout=20)


def _worker_proxy(client: Any, cluster: str) -> int:
    """The Serve port of a worker whose proxy answers /-/healthz.

    Serve runs proxies only on nodes that hold a replica, so a worker without one has no
    proxy to measure; the endpoint forwards only to healthy proxies, and so does the floor.
    """
    import httpx

    from rayplane.local.store import Store

    store = Store(client.settings.home / "state.db")
    try:
        found = store.get("RayCluster", "default", cluster)
        assert found is not None
        ports = [int(n.ports["serve"]) for n in store.nodes(found.uid) if n.kind == "worker"]
    finally:
        store.close()

    def healthy() -> int | None:
        for port in ports:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/healthz", timeout=2).status_code == 200:
                    return port
            except httpx.HTTPError:
                continue
        return None

    return int(wait(healthy, 120, poll=1))


if __name__ == "__main__":
    main()
