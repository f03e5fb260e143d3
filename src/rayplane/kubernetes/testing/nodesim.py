"""A node simulator: what a kubelet would write, for a control plane that has no kubelet.

The test control plane runs the real API server and controller manager, but no kubelet and
no container runtime, so no Pod would ever leave Pending. This registers one Node
(``rayplane-sim-node``) and, for every Pod, does what the scheduler and the kubelet would
report: bind it to that Node, then write a Running status with a Pod IP and every
condition (and container) Ready. A Pod being deleted is removed at once, as a kubelet does
once its containers have stopped. Nothing runs inside these Pods: their processes are
simulated, their API objects are real.

A namespace labelled ``sim.rayplane.io/pods: manual`` is left alone, for tests that move
Pods themselves (:func:`start_pods`, :func:`finish_pod`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import httpx
import yaml

Obj = dict[str, Any]
NODE = "rayplane-sim-node"
NODE_IP = "10.0.0.10"
MANUAL_LABEL = "sim.rayplane.io/pods"
MANUAL = "manual"
MERGE = {"Content-Type": "application/merge-patch+json"}
log = logging.getLogger("rayplane.nodesim")
_ips = itertools.count(1)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod_ip() -> str:
    n = next(_ips)
    return f"10.244.{(n // 250) % 250}.{n % 250 + 1}"


def client_from_kubeconfig(path: Path, **kwargs: Any) -> httpx.AsyncClient:
    """An async client from a kubeconfig of client-certificate or token users."""
    conf = yaml.safe_load(path.read_text(encoding="utf-8"))
    cluster = conf["clusters"][0]["cluster"]
    user = conf["users"][0]["user"]
    context = ssl.create_default_context(cafile=cluster["certificate-authority"])
    headers = {}
    if "client-certificate" in user:
        context.load_cert_chain(user["client-certificate"], user["client-key"])
    if "token" in user:
        headers["Authorization"] = f"Bearer {user['token']}"
    return httpx.AsyncClient(base_url=cluster["server"], verify=context, headers=headers, **kwargs)


async def ensure_node(client: httpx.AsyncClient) -> None:
    """Register the simulated Node (Ready, large enough for any test) if it is missing."""
    capacity = {"cpu": "1000", "memory": "4Ti", "pods": "100000", "ephemeral-storage": "10Ti"}
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE, "type": "sim"}},
    }
    answer = await client.post("/api/v1/nodes", json=node)
    if answer.status_code not in (201, 409):
        answer.raise_for_status()
    status = {
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": NODE_IP}],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "simulated by rayplane's node simulator (no kubelet)",
                    "lastHeartbeatTime": _now(),
                    "lastTransitionTime": _now(),
                }
            ],
        }
    }
    answer = await client.patch(f"/api/v1/nodes/{NODE}/status", json=status, headers=MERGE)
    answer.raise_for_status()


def running_status(pod: Obj, ip: str) -> Obj:
    """The status a kubelet reports for *pod* once every container runs and is ready."""
    now = _now()
    spec = pod.get("spec") or {}

    def cond(kind: str) -> Obj:
        return {"type": kind, "status": "True", "lastTransitionTime": now}

    return {
        "phase": "Running",
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "conditions": [
            cond(k) for k in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "initContainerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": now,
                        "finishedAt": now,
                    }
                },
            }
            for c in spec.get("initContainers") or ()
        ],
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "containerID": f"sim://{pod['metadata'].get('uid', '')}/{c['name']}",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in spec.get("containers") or ()
        ],
    }


async def bind(client: httpx.AsyncClient, pod: Obj) -> None:
    """Schedule *pod* onto the simulated Node (what kube-scheduler would do)."""
    meta = pod["metadata"]
    if (pod.get("spec") or {}).get("nodeName"):
        return
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": meta["name"]},
        "target": {"apiVersion": "v1", "kind": "Node", "name": NODE},
    }
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding"
    answer = await client.post(path, json=binding)
    if answer.status_code not in (201, 409, 404):
        answer.raise_for_status()


async def start_pod(client: httpx.AsyncClient, pod: Obj) -> None:
    """Bind *pod* and report it Running and Ready, with a Pod IP."""
    meta = pod["metadata"]
    await bind(client, pod)
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
    answer = await client.patch(
        path, json={"status": running_status(pod, _pod_ip())}, headers=MERGE
    )
    if answer.status_code != 404:
        answer.raise_for_status()


async def finish_pod(
    client: httpx.AsyncClient, pod: Obj, exit_code: int = 0, message: str = ""
) -> None:
    """Report *pod*'s containers as exited with *exit_code* (Succeeded when 0, else Failed)."""
    meta = pod["metadata"]
    await bind(client, pod)
    now = _now()
    status = running_status(pod, _pod_ip())
    status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
    for cond in status["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"] = "False"
            cond["reason"] = "PodCompleted" if exit_code == 0 else "PodFailed"
    for container in status["containerStatuses"]:
        container["ready"] = False
        container["started"] = False
        container["state"] = {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "message": message,
                "startedAt": now,
                "finishedAt": now,
            }
        }
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
    answer = await client.patch(path, json={"status": status}, headers=MERGE)
    answer.raise_for_status()


async def start_pods(client: httpx.AsyncClient, namespace: str, selector: str = "") -> int:
    """Start every Pod of *namespace* (matching *selector*) that is not running yet."""
    params = {"labelSelector": selector} if selector else {}
    answer = await client.get(f"/api/v1/namespaces/{namespace}/pods", params=params)
    answer.raise_for_status()
    started = 0
    for pod in answer.json()["items"]:
        if (pod.get("status") or {}).get("phase") in (None, "Pending") and not pod["metadata"].get(
            "deletionTimestamp"
        ):
            await start_pod(client, pod)
            started += 1
    return started


async def remove(client: httpx.AsyncClient, pod: Obj) -> None:
    """Delete a terminating Pod for good (its containers "stopped" at once)."""
    meta = pod["metadata"]
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
    body = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": meta["uid"]},
    }
    answer = await client.request("DELETE", path, json=body)
    if answer.status_code not in (200, 404, 409):
        answer.raise_for_status()


class NodeSimulator:
    """Watches every Pod and acts as the scheduler and kubelet would report."""

    def __init__(self, client: httpx.AsyncClient, concurrency: int = 16) -> None:
        self.client = client
        self.concurrency = concurrency
        self._queue: asyncio.Queue[Obj] = asyncio.Queue()
        self._manual: dict[str, bool] = {}

    async def run(self) -> None:
        await ensure_node(self.client)
        workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]
        try:
            while True:
                try:
                    await self._list_and_watch()
                except (httpx.HTTPError, json.JSONDecodeError) as exc:
                    log.warning("pod watch ended (%s); listing again", exc)
                    await asyncio.sleep(1.0)
        finally:
            for task in workers:
                task.cancel()

    async def _list_and_watch(self) -> None:
        answer = await self.client.get("/api/v1/pods")
        answer.raise_for_status()
        listing = answer.json()
        for pod in listing["items"]:
            self._queue.put_nowait(pod)
        version = listing["metadata"]["resourceVersion"]
        params = {
            "watch": "1",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "300",
        }
        async with self.client.stream("GET", "/api/v1/pods", params=params) as stream:
            async for line in stream.aiter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if event["type"] == "ERROR":
                    return  # 410 Gone and friends: list again
                if event["type"] in ("ADDED", "MODIFIED"):
                    self._queue.put_nowait(event["object"])

    async def _is_manual(self, namespace: str) -> bool:
        if namespace not in self._manual:
            answer = await self.client.get(f"/api/v1/namespaces/{namespace}")
            labels = answer.json().get("metadata", {}).get("labels") or {}
            self._manual[namespace] = labels.get(MANUAL_LABEL) == MANUAL
        return self._manual[namespace]

    async def _work(self) -> None:
        while True:
            pod = await self._queue.get()
            try:
                await self._handle(pod)
            except httpx.HTTPError as exc:
                log.warning("pod %s: %s", pod["metadata"].get("name"), exc)

    async def _handle(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            await remove(self.client, pod)
            return
        if await self._is_manual(meta["namespace"]):
            return
        if (pod.get("status") or {}).get("phase") in (None, "Pending"):
            await start_pod(self.client, pod)


async def _main(kubeconfig: Path, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with client_from_kubeconfig(kubeconfig, timeout=None, limits=limits) as client:
        await NodeSimulator(client, concurrency).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rayplane.kubernetes.testing.nodesim")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.kubeconfig, args.concurrency))


if __name__ == "__main__":
    main()
