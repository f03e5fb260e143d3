"""The Kubernetes operator at scale, against the fake API server: N RayClusters of 4 Pods.

Starts the fake Kubernetes API (rayplane.kubernetes.testing.fake_api, which plays the
kubelet: every new Pod turns Running and Ready after --pod-ready seconds) and the operator
(`python -m rayplane.kubernetes`), each in its own process, creates N RayClusters of one
head and 3 workers, and measures the time until every one has status.state "ready", and
the operator's resident memory (peak and at the end). The figures are printed beside
KubeRay's published ones (contract section 7).

THIS IS A FAKE-API MEASUREMENT: no scheduler, no kubelet, no image pulls, no etcd, one
machine. It measures the operator's own throughput and memory, not how fast a real cluster
starts Pods; KubeRay's 258 s for 1,000 clusters was measured on GKE with real Pods.

Run: python bench/operator_scale.py [--clusters 1000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

TOKEN = "bench"
NAMESPACE = "bench"

# KubeRay's published figures (kuberay benchmark/, see the contract section 7).
KUBERAY_READY_SECONDS = {100: 83, 1000: 258, 5000: 1213, 10000: 1515}
KUBERAY_MEMORY_MB = [
    ("150 one-head clusters", "20.7 -> 36.2 MB"),
    ("one cluster growing to 150 pods", "24.5 -> 40.4 MB"),
    ("30 five-pod clusters", "19.8 -> 41.6 MB"),
]


def cluster_doc(name: str, workers: int) -> dict[str, Any]:
    container = {
        "name": "ray",
        "image": "rayproject/ray:2.60.0",
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [container]}},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": workers,
                    "minReplicas": 0,
                    "maxReplicas": workers,
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [container]}},
                }
            ],
        },
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake(pod_ready: float) -> tuple[subprocess.Popen[bytes], str]:
    folder = Path(tempfile.mkdtemp(prefix="rp-fake-"))
    port_file = folder / "url"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "rayplane.kubernetes.testing",
            "--token", TOKEN, "--auto-ready-pods", str(pod_ready), "--port-file", str(port_file),
            "--history", "2000000",
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the fake API server did not start")
        time.sleep(0.05)
    return proc, port_file.read_text().split()[0]


def start_operator(url: str, concurrency: int, health: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, LOG_LEVEL="WARNING")
    return subprocess.Popen(
        [
            sys.executable, "-m", "rayplane.kubernetes",
            "--server", url, "--token", TOKEN, "--enable-leader-election=false",
            "--metrics-addr=0", f"--health-probe-bind-address=127.0.0.1:{health}",
            f"--reconcile-concurrency={concurrency}", f"--watch-namespace={NAMESPACE}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    fake, url = start_fake(args.pod_ready)
    health = free_port()
    operator = start_operator(url, args.concurrency, health)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    proc = psutil.Process(operator.pid)
    peak = 0
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            async with httpx.AsyncClient() as probe:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if (
                            await probe.get(f"http://127.0.0.1:{health}/readyz")
                        ).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or operator.poll() is not None:
                        raise RuntimeError("the operator did not become ready")
                    await asyncio.sleep(0.2)
            idle_rss = proc.memory_info().rss
            started = time.monotonic()
            path = f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayclusters"
            gate = asyncio.Semaphore(32)

            async def create(i: int) -> None:
                async with gate:
                    answer = await client.post(path, json=cluster_doc(f"c{i:05d}", args.workers))
                    answer.raise_for_status()

            await asyncio.gather(*(create(i) for i in range(args.clusters)))
            created = time.monotonic() - started
            ready = 0
            while True:
                peak = max(peak, proc.memory_info().rss)
                listing = (await client.get(path)).json()["items"]
                ready = sum(1 for c in listing if (c.get("status") or {}).get("state") == "ready")
                if ready >= args.clusters:
                    break
                if time.monotonic() - started > args.timeout:
                    break
                await asyncio.sleep(1.0)
            elapsed = time.monotonic() - started
            pods = len((await client.get(f"/api/v1/namespaces/{NAMESPACE}/pods")).json()["items"])
            final_rss = proc.memory_info().rss
            peak = max(peak, final_rss)
    finally:
        for child in (operator, fake):
            child.terminate()
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
    return {
        "clusters": args.clusters,
        "ready": ready,
        "pods": pods,
        "created_s": created,
        "elapsed_s": elapsed,
        "idle_rss_mb": idle_rss / 2**20,
        "peak_rss_mb": peak / 2**20,
        "final_rss_mb": final_rss / 2**20,
    }


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    n = result["clusters"]
    print("rayplane operator at scale -- FAKE-API MEASUREMENT (in-process fake Kubernetes API,")
    print(
        "no scheduler/kubelet/image pulls; pods turn Ready after "
        f"{args.pod_ready:g}s; one 2-core machine)"
    )
    print()
    print(f"  RayClusters             {n} x (1 head + {args.workers} workers)")
    print(f"  reconcile concurrency   {args.concurrency}")
    print(f"  all created (API)       {result['created_s']:.1f} s")
    print(f"  ready                   {result['ready']}/{n} ({result['pods']} pods)")
    print(f"  time to all ready       {result['elapsed_s']:.1f} s")
    print(
        f"  operator RSS            idle {result['idle_rss_mb']:.0f} MB, "
        f"peak {result['peak_rss_mb']:.0f} MB, end {result['final_rss_mb']:.0f} MB"
    )
    print()
    print("KubeRay's published figures (real GKE clusters, clusterloader2 at 100 qps, v1.1.1):")
    for count, seconds in KUBERAY_READY_SECONDS.items():
        marker = "   <- same count" if count == n else ""
        print(f"  {count:>6} RayClusters of 4 pods: all ready in {seconds} s{marker}")
    print("KubeRay operator memory (v0.6.0, GKE):")
    for what, figure in KUBERAY_MEMORY_MB:
        print(f"  {what:<34} {figure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pod-ready", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    report(asyncio.run(run(args)), args)


if __name__ == "__main__":
    main()
