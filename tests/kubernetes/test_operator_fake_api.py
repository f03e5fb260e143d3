"""The fake Kubernetes API models what the operator relies on (over real HTTP)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from rayplane.kubernetes.testing import FakeKubernetes
from rayplane.kubernetes.testing.fake_api import label_selector

pytestmark = pytest.mark.timeout(30)

RC = "/apis/ray.io/v1/namespaces/default/rayclusters"


def _cluster(name: str = "c", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, **meta},
        "spec": {"x": 1},
        "status": {"state": "ignored"},
    }


def test_label_selectors() -> None:
    labels = {"ray.io/cluster": "a", "ray.io/node-type": "worker"}
    assert label_selector("ray.io/cluster=a,ray.io/node-type!=head")(labels)
    assert label_selector("ray.io/node-type in (head,worker)")(labels)
    assert not label_selector("ray.io/node-type notin (worker)")(labels)
    assert label_selector("ray.io/cluster")(labels)
    assert not label_selector("!ray.io/cluster")(labels)


def test_conflicts_status_subresource_finalizers_gc_and_patches() -> None:
    async def scenario() -> None:
        async with FakeKubernetes() as kube, httpx.AsyncClient(base_url=kube.url) as client:
            created = (await client.post(RC, json=_cluster())).json()
            assert "status" not in created  # status is ignored on the main resource
            rv = created["metadata"]["resourceVersion"]
            assert (await client.post(RC, json=_cluster())).status_code == 409

            created["spec"] = {"x": 2}
            updated = (await client.put(f"{RC}/c", json=created)).json()
            assert updated["metadata"]["generation"] == 2
            stale = dict(created, spec={"x": 3})
            stale["metadata"] = dict(created["metadata"], resourceVersion=rv)
            answer = await client.put(f"{RC}/c", json=stale)
            assert answer.status_code == 409 and answer.json()["reason"] == "Conflict"

            updated["status"] = {"state": "ready"}
            updated["spec"] = {"x": 99}
            after = (await client.put(f"{RC}/c/status", json=updated)).json()
            assert after["status"] == {"state": "ready"} and after["spec"] == {"x": 2}

            patch = [{"op": "test", "path": "/spec/x", "value": 1}]
            answer = await client.patch(
                f"{RC}/c", content=json.dumps(patch),
                headers={"Content-Type": "application/json-patch+json"},
            )  # fmt: skip
            assert answer.status_code == 422
            merged = await client.patch(
                f"{RC}/c",
                content=json.dumps({"metadata": {"finalizers": ["f"]}}),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert merged.json()["metadata"]["finalizers"] == ["f"]

            owner = kube.get("rayclusters", "default", "c")
            assert owner is not None
            ref = {
                "apiVersion": "ray.io/v1",
                "kind": "RayCluster",
                "name": "c",
                "uid": owner["metadata"]["uid"],
            }
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"generateName": "c-head-", "ownerReferences": [ref]},
                "spec": {"containers": [{"name": "ray", "image": "ray"}]},
            }
            made = (await client.post("/api/v1/namespaces/default/pods", json=pod)).json()
            assert made["metadata"]["name"].startswith("c-head-")
            assert made["status"]["phase"] == "Pending"

            await client.delete(f"{RC}/c")
            marked = kube.get("rayclusters", "default", "c")
            assert marked is not None and marked["metadata"]["deletionTimestamp"]
            assert kube.objects("pods") != []  # dependents stay while the owner is finalizing
            marked["metadata"]["finalizers"] = []
            await client.put(f"{RC}/c", json=marked)
            assert kube.get("rayclusters", "default", "c") is None
            assert kube.objects("pods") == []  # garbage-collected with their owner

    asyncio.run(scenario())


def test_watch_streams_events_and_resumes_from_resource_version() -> None:
    async def scenario() -> None:
        async with FakeKubernetes() as kube, httpx.AsyncClient(base_url=kube.url) as client:
            first = (await client.post(RC, json=_cluster("a"))).json()
            since = first["metadata"]["resourceVersion"]
            await client.post(RC, json=_cluster("b", labels={"keep": "yes"}))
            await client.delete(f"{RC}/a")
            params = {"watch": "true", "resourceVersion": since, "timeoutSeconds": "1"}
            async with client.stream("GET", RC, params=params) as stream:
                events = [json.loads(line) async for line in stream.aiter_lines() if line]
            assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
                ("ADDED", "b"),
                ("DELETED", "a"),
            ]
            params = {"watch": "true", "labelSelector": "keep=yes", "timeoutSeconds": "1"}
            async with client.stream("GET", RC, params=params) as stream:
                events = [json.loads(line) async for line in stream.aiter_lines() if line]
            assert [e["object"]["metadata"]["name"] for e in events] == ["b"]

    asyncio.run(scenario())
