"""RayJob, RayService, the admission webhook and leader election, against the fake API."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
import pytest

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


def test_rayjob_k8sjobmode_creates_cluster_then_submitter_checking_status_first() -> None:
    async def scenario() -> None:
        dashboard = httpx.MockTransport(lambda request: httpx.Response(404, text="not found"))
        async with fake_api() as kube, operator(kube, dashboard_transport=dashboard):
            job = example("rayjob-data-pipeline.yaml")
            kube.create(job)
            name = job["metadata"]["name"]
            status = await kube.wait_for(
                lambda: status_of(kube, "rayjobs", "default", name).get("rayClusterName")
            )
            cluster = await kube.wait_for(lambda: kube.get("rayclusters", "default", status))
            owner = cluster["metadata"]["ownerReferences"][0]
            assert owner["kind"] == "RayJob" and owner["name"] == name
            labels = cluster["metadata"]["labels"]
            assert labels["ray.io/originated-from-crd"] == "RayJob"
            assert labels["ray.io/job-submission-mode"] == "K8sJobMode"
            rayjob = kube.get("rayjobs", "default", name)
            assert rayjob is not None
            assert "ray.io/rayjob-finalizer" in rayjob["metadata"]["finalizers"]
            assert kube.get("jobs", "default", name, group="batch") is None

            await kube.wait_for(lambda: len(kube.objects("pods", "default")) == 2)
            kube.ready_pods("default")
            submitter = await kube.wait_for(
                lambda: kube.get("jobs", "default", name, group="batch")
            )
            container = submitter["spec"]["template"]["spec"]["containers"][0]
            script = (
                container["command"][-1] if not container.get("args") else container["args"][-1]
            )
            text = " ".join([*container.get("command", []), *container.get("args", [])])
            assert "ray job status" in text and "ray job submit" in text
            assert text.index("ray job status") < text.index("ray job submit")
            assert script
            assert submitter["metadata"]["ownerReferences"][0]["name"] == name
            env = {e["name"] for e in container["env"]}
            assert {"RAY_DASHBOARD_ADDRESS", "RAY_JOB_SUBMISSION_ID", "PYTHONUNBUFFERED"} <= env
            final = await kube.wait_for(
                lambda: (
                    status_of(kube, "rayjobs", "default", name).get("jobDeploymentStatus")
                    == "Running"
                    and status_of(kube, "rayjobs", "default", name)
                )
            )
            assert final["dashboardURL"].startswith(f"{status}-head-svc.default.svc.cluster.local")
            head_svc = await kube.wait_for(
                lambda: kube.get("services", "default", f"{name}-head-svc")
            )
            assert head_svc["spec"]["selector"]["ray.io/cluster"] == status

    run(scenario)


SERVE_CONFIG = """
applications:
- name: app
  import_path: app:deployment
  route_prefix: /
"""


def _rayservice(image: str) -> dict[str, Any]:
    head_ports = [
        {"containerPort": 6379, "name": "gcs-server"},
        {"containerPort": 8265, "name": "dashboard"},
        {"containerPort": 10001, "name": "client"},
        {"containerPort": 8000, "name": "serve"},
    ]
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "svc", "namespace": "default"},
        "spec": {
            "serveConfigV2": SERVE_CONFIG,
            "rayClusterDeletionDelaySeconds": 0,
            "rayClusterConfig": {
                "rayVersion": "2.60.0",
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "ray-head", "image": image, "ports": head_ports}
                            ]
                        }
                    },
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "workers",
                        "replicas": 1,
                        "minReplicas": 1,
                        "maxReplicas": 1,
                        "rayStartParams": {},
                        "template": {
                            "spec": {"containers": [{"name": "ray-worker", "image": image}]}
                        },
                    }
                ],
            },
        },
    }


def _serve_dashboard(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/-/healthz":
        return httpx.Response(200, text="success")
    if request.method == "PUT":
        return httpx.Response(200, json={})
    apps = {"app": {"name": "app", "status": "RUNNING", "message": "", "deployments": {}}}
    return httpx.Response(200, json={"applications": apps, "controller_info": {"node_id": "x"}})


def test_rayservice_switches_serve_service_selector_when_pending_cluster_is_ready() -> None:
    async def scenario() -> None:
        dashboard = httpx.MockTransport(_serve_dashboard)
        async with fake_api() as kube, operator(kube, dashboard_transport=dashboard):
            kube.create(_rayservice("rayproject/ray:2.60.0"))

            def serving() -> str | None:
                svc = kube.get("services", "default", "svc-serve-svc")
                return (svc or {}).get("spec", {}).get("selector", {}).get("ray.io/cluster")

            def cluster_names() -> list[str]:
                return [c["metadata"]["name"] for c in kube.objects("rayclusters", "default")]

            first = (await kube.wait_for(cluster_names))[0]
            await kube.wait_for(lambda: len(kube.objects("pods", "default")) == 2)
            kube.ready_pods("default")
            assert await kube.wait_for(serving) == first

            def ready() -> bool:
                found = condition(status_of(kube, "rayservices", "default", "svc"), "Ready")
                return bool(found and found["status"] == "True")

            await kube.wait_for(ready)
            head_svc = kube.get("services", "default", "svc-head-svc")
            assert head_svc is not None
            assert head_svc["spec"]["selector"]["ray.io/cluster"] == first

            # A new image: a pending cluster is built; traffic moves only once it serves.
            current = kube.get("rayservices", "default", "svc")
            assert current is not None
            updated = copy.deepcopy(current)
            updated["spec"] = _rayservice("rayproject/ray:2.60.0-py311")["spec"]
            await user_edit(
                kube, "PUT", "/apis/ray.io/v1/namespaces/default/rayservices/svc", updated
            )
            pending = await kube.wait_for(
                lambda: next((n for n in cluster_names() if n != first), None)
            )
            upgrading = await kube.wait_for(
                lambda: condition(
                    status_of(kube, "rayservices", "default", "svc"), "UpgradeInProgress"
                )
            )
            assert upgrading is not None
            assert serving() == first
            await kube.wait_for(
                lambda: len(kube.objects("pods", "default", f"ray.io/cluster={pending}")) == 2
            )
            kube.ready_pods("default", f"ray.io/cluster={pending}")
            assert await kube.wait_for(lambda: serving() == pending and serving())
            head_svc = kube.get("services", "default", "svc-head-svc")
            assert head_svc is not None
            assert head_svc["spec"]["selector"]["ray.io/cluster"] == pending
            # The old cluster goes (rayClusterDeletionDelaySeconds: 0).
            await kube.wait_for(lambda: cluster_names() == [pending])
            await kube.wait_for(
                lambda: (
                    status_of(kube, "rayservices", "default", "svc")
                    .get("activeServiceStatus", {})
                    .get("rayClusterName")
                    == pending
                )
            )

    run(scenario)


def test_webhook_denies_incomplete_seed_rayjob_with_field_paths() -> None:
    async def scenario() -> None:
        port = free_port()
        async with (
            fake_api() as kube,
            operator(kube, webhook_port=port, webhook_insecure=True, webhook_host="127.0.0.1"),
        ):
            incomplete = example("rayjob-pod-identity.yaml")
            review = {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": "1",
                    "kind": {"group": "ray.io", "version": "v1", "kind": "RayJob"},
                    "resource": {"group": "ray.io", "version": "v1", "resource": "rayjobs"},
                    "operation": "CREATE",
                    "userInfo": {"username": "someone"},
                    "object": incomplete,
                    "namespace": "raydata",
                    "name": "my-ray-job",
                },
            }
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(100):  # the webhook server starts beside the watches
                    try:
                        answer = await client.post("/validate-ray-io-v1-rayjob", json=review)
                        break
                    except httpx.ConnectError:
                        await asyncio.sleep(0.05)
                assert answer.status_code == 200, answer.text
                response = answer.json()["response"]
                assert response["allowed"] is False
                message = response["status"]["message"]
                assert "spec.rayClusterSpec.headGroupSpec.template.spec.containers" in message
                assert "spec.entrypoint" in message or "entrypoint" in message

                good = copy.deepcopy(review)
                good["request"]["object"] = example("raycluster-basic.yaml")
                good["request"]["kind"]["kind"] = "RayCluster"
                good["request"]["resource"]["resource"] = "rayclusters"
                answer = await client.post("/validate-ray-io-v1-raycluster", json=good)
                assert answer.json()["response"]["allowed"] is True

    run(scenario)


def _writes_by(kube: Any, manager: str) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in kube.requests
        if r.method in ("POST", "PUT", "PATCH", "DELETE")
        and r.query.get("fieldManager") == manager
        and "/leases" not in r.path
    ]


def test_two_operators_with_leader_election_only_one_reconciles() -> None:
    async def scenario() -> None:
        # Short retries, so b takes the Lease a released soon; a lease and renew deadline
        # long enough that a busy machine never makes a miss a renewal and lose it.
        timings: dict[str, Any] = {
            "leader_election": True,
            "lease_duration": 15.0,
            "renew_deadline": 10.0,
            "retry_period": 0.2,
        }
        async with (
            fake_api() as kube,
            operator(kube, field_manager="op-a", identity="a", **timings) as a,
        ):
            await kube.wait_for(lambda: a.leading)
            async with operator(kube, field_manager="op-b", identity="b", **timings) as b:
                kube.create(example("raycluster-basic.yaml"))
                await kube.wait_for(lambda: len(kube.objects("pods", "raydata")) == 3)
                kube.ready_pods("raydata")
                await kube.wait_for(
                    lambda: (
                        status_of(kube, "rayclusters", "raydata", "raycluster-basic").get("state")
                        == "ready"
                    )
                )
                assert not b.leading
                assert _writes_by(kube, "op-a")
                assert _writes_by(kube, "op-b") == []
                lease = kube.get("leases", "default", "ray-operator-leader")
                assert lease is not None and lease["spec"]["holderIdentity"] == "a"
                # a stops and releases the Lease: b takes over and acts.
                a.stop()
                await kube.wait_for(lambda: b.leading)
                second = example("raycluster-basic.yaml")
                second["metadata"]["name"] = "second"
                kube.create(second)
                await kube.wait_for(
                    lambda: len(kube.objects("pods", "raydata", "ray.io/cluster=second")) == 3
                )
                assert _writes_by(kube, "op-b")
                lease = kube.get("leases", "default", "ray-operator-leader")
                assert lease is not None and lease["spec"]["holderIdentity"] == "b"

    run(scenario)


def test_admission_message_is_json_serialisable_for_all_examples() -> None:
    from rayplane.kubernetes.webhook import admission_problems

    message, _ = admission_problems(example("rayjob-pod-identity.yaml"))
    assert message is not None
    json.dumps(message)
    assert admission_problems(example("raycluster-basic.yaml"))[0] is None
