"""The operator's RayCluster controller against the fake Kubernetes API (kopf + lightkube)."""

from __future__ import annotations

import copy

import httpx
import pytest

from rayplane.kubernetes.operator import Operator
from tests.kubernetes.operator_harness import (
    condition,
    example,
    fake_api,
    free_port,
    operator,
    run,
    status_of,
    user_edit,
)

pytestmark = pytest.mark.timeout(60)

NS = "raydata"
NAME = "raycluster-basic"


def _provisioned_in_metrics(op: Operator) -> bool:
    """Whether the operator's own metrics call the cluster provisioned.

    The pass that writes the ready status records its metrics only once the status write
    has returned (as KubeRay does: a write that fails leaves the metrics as they were), so
    a test that sees the status in the API server can be a moment ahead of the metrics.
    """
    facts = op.metrics.clusters.get((NS, NAME))
    return bool(facts and facts.provisioned)


def test_seed_raycluster_gets_kuberay_children_and_ready_status() -> None:
    async def scenario() -> None:
        async with fake_api() as kube, operator(kube) as op:
            kube.create(example("raycluster-basic.yaml"))
            await kube.wait_for(lambda: len(kube.objects("pods", NS)) == 3)
            cluster = kube.get("rayclusters", NS, NAME)
            assert cluster is not None
            uid = cluster["metadata"]["uid"]

            pods = kube.objects("pods", NS)
            heads = [p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head"]
            workers = [p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]
            assert len(heads) == 1 and len(workers) == 2
            head = heads[0]
            assert head["metadata"]["name"].startswith(f"{NAME}-head-")
            assert head["metadata"]["labels"] == {
                **head["metadata"]["labels"],
                "ray.io/is-ray-node": "yes",
                "ray.io/cluster": NAME,
                "ray.io/group": "headgroup",
                "ray.io/identifier": f"{NAME}-head",
                "app.kubernetes.io/name": "kuberay",
                "app.kubernetes.io/created-by": "kuberay-operator",
            }
            for worker in workers:
                meta = worker["metadata"]
                assert meta["name"].startswith(f"{NAME}-workers-worker-")
                assert meta["labels"]["ray.io/group"] == "workers"
                assert meta["ownerReferences"][0]["uid"] == uid
                assert meta["ownerReferences"][0]["controller"] is True
                init = worker["spec"]["initContainers"][0]
                assert init["name"] == "wait-gcs-ready"
            # The autoscaler sidecar and its RBAC (the seed enables in-tree autoscaling).
            names = [c["name"] for c in head["spec"]["containers"]]
            assert names == ["ray-head", "autoscaler"]
            assert [r["metadata"]["name"] for r in kube.objects("roles", NS)] == [NAME]
            assert [r["metadata"]["name"] for r in kube.objects("rolebindings", NS)] == [NAME]

            service = kube.get("services", NS, f"{NAME}-head-svc")
            assert service is not None
            assert service["spec"]["clusterIP"] == "None"
            assert service["spec"]["selector"] == {
                "ray.io/cluster": NAME,
                "ray.io/node-type": "head",
                "ray.io/identifier": f"{NAME}-head",
                "app.kubernetes.io/name": "kuberay",
                "app.kubernetes.io/created-by": "kuberay-operator",
            }

            head_ready = await kube.wait_for(
                lambda: condition(status_of(kube, "rayclusters", NS, NAME), "HeadPodReady")
            )
            assert head_ready["status"] == "False"
            assert status_of(kube, "rayclusters", NS, NAME).get("state") != "ready"

            kube.ready_pods(NS)
            await kube.wait_for(
                lambda: status_of(kube, "rayclusters", NS, NAME).get("state") == "ready"
            )
            status = status_of(kube, "rayclusters", NS, NAME)
            assert status["readyWorkerReplicas"] == 2
            assert status["desiredWorkerReplicas"] == 2
            assert status["head"]["podName"] == head["metadata"]["name"]
            assert status["head"]["serviceName"] == f"{NAME}-head-svc"
            assert status["endpoints"]["dashboard"] == "8265"
            provisioned = condition(status, "RayClusterProvisioned")
            assert provisioned is not None and provisioned["status"] == "True"
            assert provisioned["reason"] == "AllPodRunningAndReadyFirstTime"
            head_ready = condition(status, "HeadPodReady")
            assert head_ready is not None and head_ready["reason"] == "HeadPodRunningAndReady"

            # Status went through the status subresource; kopf wrote nothing into the object.
            writes = [r for r in kube.requests if r.path.endswith(f"/rayclusters/{NAME}/status")]
            assert writes and all(r.method == "PUT" for r in writes)
            cluster = kube.get("rayclusters", NS, NAME)
            assert cluster is not None
            assert not any("kopf" in k for k in cluster["metadata"].get("annotations") or {})
            assert set(cluster["status"]) <= set(status)
            await kube.wait_for(lambda: _provisioned_in_metrics(op))

    run(scenario)


def _autoscaled(replicas: int) -> dict[str, object]:
    doc = copy.deepcopy(example("raycluster-basic.yaml"))
    group = doc["spec"]["workerGroupSpecs"][0]
    group["replicas"] = replicas
    return doc


def test_autoscaler_json_patch_deletes_exactly_the_named_workers() -> None:
    async def scenario() -> None:
        async with fake_api() as kube, operator(kube):
            kube.create(_autoscaled(3))
            await kube.wait_for(lambda: len(kube.objects("pods", NS)) == 4)
            kube.ready_pods(NS)
            workers = sorted(
                p["metadata"]["name"] for p in kube.objects("pods", NS, "ray.io/node-type=worker")
            )
            doomed, kept = workers[:2], workers[2]
            patch = [
                {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 1},
                {
                    "op": "replace",
                    "path": "/spec/workerGroupSpecs/0/scaleStrategy",
                    "value": {"workersToDelete": doomed},
                },
            ]
            await user_edit(
                kube,
                "PATCH",
                f"/apis/ray.io/v1/namespaces/{NS}/rayclusters/{NAME}",
                patch,
                "application/json-patch+json",
            )
            await kube.wait_for(
                lambda: len(kube.objects("pods", NS, "ray.io/node-type=worker")) == 1
            )
            remaining = [
                p["metadata"]["name"] for p in kube.objects("pods", NS, "ray.io/node-type=worker")
            ]
            assert remaining == [kept]
            deleted = {
                r.path.rsplit("/", 1)[-1]
                for r in kube.requests
                if r.method == "DELETE" and "/pods/" in r.path
            }
            assert deleted == set(doomed)
            # Nothing is created to replace them: replicas is 1 now.
            created = [r for r in kube.requests if r.method == "POST" and r.path.endswith("/pods")]
            assert len(created) == 4

    run(scenario)


def test_status_write_conflict_is_retried_not_lost() -> None:
    async def scenario() -> None:
        async with fake_api() as kube:
            planned = kube.inject("PUT", "rayclusters", subresource="status", code=409)
            async with operator(kube):
                kube.create(example("raycluster-basic.yaml"))
                await kube.wait_for(
                    lambda: condition(status_of(kube, "rayclusters", NS, NAME), "HeadPodReady")
                )
            assert planned.hits == 1
            trail = [
                (r.method, r.status)
                for r in kube.requests
                if r.path.startswith(f"/apis/ray.io/v1/namespaces/{NS}/rayclusters/{NAME}")
            ]
            conflict = trail.index(("PUT", 409))
            # Re-read, then the same status put again and accepted.
            assert trail[conflict + 1] == ("GET", 200)
            assert trail[conflict + 2] == ("PUT", 200)

    run(scenario)


def test_failed_pod_creation_surfaces_as_replica_failure_and_event() -> None:
    async def scenario() -> None:
        async with fake_api() as kube, operator(kube):
            kube.inject("POST", "pods", code=500, times=100)
            kube.create(example("raycluster-basic.yaml"))

            def failing() -> object:
                return condition(status_of(kube, "rayclusters", NS, NAME), "ReplicaFailure")

            found = await kube.wait_for(failing)
            assert found["status"] == "True"
            assert found["reason"] == "FailedCreateHeadPod"
            events = kube.objects("events", NS)
            reasons = {e["reason"] for e in events if e["type"] == "Warning"}
            assert "FailedCreateHeadPod" in reasons

    run(scenario)


def _ft_cluster(timeout: str) -> dict[str, object]:
    doc = copy.deepcopy(example("raycluster-basic.yaml"))
    doc["metadata"]["annotations"] = {
        "ray.io/ft-enabled": "true",
        "ray.io/gcs-ft-deletion-timeout": timeout,
    }
    head = doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["env"] = [{"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}]
    return doc


def test_deleting_ft_cluster_runs_redis_cleanup_and_drops_finalizer_at_deadline() -> None:
    async def scenario() -> None:
        async with fake_api() as kube, operator(kube):
            # A far deadline while the cleanup is set going, so how soon the operator gets
            # to create the Job does not matter; it is brought near once the Job is there.
            kube.create(_ft_cluster("300"))
            finalizer = "ray.io/gcs-ft-redis-cleanup-finalizer"

            def has_finalizer() -> bool:
                obj = kube.get("rayclusters", NS, NAME)
                return bool(obj and finalizer in (obj["metadata"].get("finalizers") or []))

            await kube.wait_for(has_finalizer)
            await kube.wait_for(lambda: len(kube.objects("pods", NS)) == 3)
            kube.ready_pods(NS)
            kube.delete("rayclusters", NS, NAME)
            marked = kube.get("rayclusters", NS, NAME)
            assert marked is not None and marked["metadata"].get("deletionTimestamp")

            job_name = f"{NAME}-redis-cleanup"
            job = await kube.wait_for(lambda: kube.get("jobs", NS, job_name, group="batch"))
            assert job["metadata"]["labels"]["ray.io/node-type"] == "redis-cleanup"
            assert not kube.objects("pods", NS, "ray.io/node-type in (head,worker)")
            args = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
            assert "cleanup_redis_storage" in args
            assert kube.get("rayclusters", NS, NAME) is not None
            # The Job never finishes: with the deadline 1 s after the deletion (the
            # annotation is read on every pass), the finalizer goes anyway.
            patch = {"metadata": {"annotations": {"ray.io/gcs-ft-deletion-timeout": "1"}}}
            await user_edit(
                kube,
                "PATCH",
                f"/apis/ray.io/v1/namespaces/{NS}/rayclusters/{NAME}",
                patch,
                "application/merge-patch+json",
            )
            await kube.wait_for(lambda: kube.get("rayclusters", NS, NAME) is None)
            # The cleanup Job is garbage-collected with its owner.
            assert kube.get("jobs", NS, job_name, group="batch") is None
            reasons = {e["reason"] for e in kube.objects("events", NS)}
            assert "RedisCleanupTimeout" in reasons
            assert "RedisCleanupComplete" not in reasons

    run(scenario)


def test_deleting_ft_cluster_drops_finalizer_when_cleanup_job_completes() -> None:
    async def scenario() -> None:
        async with fake_api() as kube, operator(kube):
            kube.create(_ft_cluster("300"))
            await kube.wait_for(lambda: len(kube.objects("pods", NS)) == 3)
            kube.delete("rayclusters", NS, NAME)
            job_name = f"{NAME}-redis-cleanup"
            await kube.wait_for(lambda: kube.get("jobs", NS, job_name, group="batch"))
            kube.finish_job(NS, job_name)
            await kube.wait_for(lambda: kube.get("rayclusters", NS, NAME) is None)
            reasons = {e["reason"] for e in kube.objects("events", NS)}
            assert "RedisCleanupComplete" in reasons

    run(scenario)


def test_health_readiness_and_kuberay_metrics() -> None:
    async def scenario() -> None:
        health, metrics = free_port(), free_port()
        async with (
            fake_api() as kube,
            operator(
                kube,
                health_address=f"127.0.0.1:{health}",
                metrics_address=f"127.0.0.1:{metrics}",
            ) as op,
        ):
            kube.create(example("raycluster-basic.yaml"))
            await kube.wait_for(lambda: len(kube.objects("pods", NS)) == 3)
            kube.ready_pods(NS)
            await kube.wait_for(
                lambda: status_of(kube, "rayclusters", NS, NAME).get("state") == "ready"
            )
            await kube.wait_for(lambda: _provisioned_in_metrics(op))
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"http://127.0.0.1:{health}/healthz")).status_code == 200
                assert (await client.get(f"http://127.0.0.1:{health}/readyz")).status_code == 200
                text = (await client.get(f"http://127.0.0.1:{metrics}/metrics")).text
            assert (
                f'kuberay_cluster_info{{name="{NAME}",namespace="{NS}",owner_kind="None"}} 1.0'
                in text
            )
            assert (
                f'kuberay_cluster_condition_provisioned{{condition="true",name="{NAME}",'
                f'namespace="{NS}"}} 1.0' in text
            )
            assert f'kuberay_cluster_provisioned_duration_seconds{{name="{NAME}"' in text
            assert 'controller_runtime_reconcile_total{controller="raycluster"' in text

    run(scenario)


def test_watch_namespace_ignores_other_namespaces() -> None:
    async def scenario() -> None:
        async with fake_api() as kube, operator(kube, namespaces=("elsewhere",)):
            kube.create(example("raycluster-basic.yaml"))
            other = example("raycluster-basic.yaml")
            other["metadata"]["namespace"] = "elsewhere"
            kube.create(other)
            await kube.wait_for(lambda: len(kube.objects("pods", "elsewhere")) == 3)
            assert kube.objects("pods", NS) == []

    run(scenario)
