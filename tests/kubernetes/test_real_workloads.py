"""RayJob, RayService, the admission webhook and leader election on a real kube-apiserver.

Real: the API server (admission, RBAC, status subresource, Leases), kube-controller-manager
(the Job controller makes the submitter's Pod). Simulated: Pods' processes (no kubelet)
and Ray's answers (the Ray dashboard is an httpx MockTransport, as no Ray runs in a Pod).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from rayplane.kubernetes.leader import LEASE_NAME
from rayplane.kubernetes.testing.install import DEPLOY, OPERATOR_NS
from tests.kubernetes.real_api import (
    Cluster,
    Namespace,
    condition,
    example,
    operator,
    path_of,
    run,
)
from tests.support import free_port

pytestmark = pytest.mark.timeout(180)

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


def test_rayjob_submitter_job_gets_its_pod_from_the_job_controller(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("job")

    async def scenario() -> None:
        dashboard = httpx.MockTransport(lambda request: httpx.Response(404, text="not found"))
        async with operator(ns, dashboard_transport=dashboard):
            job = example("rayjob-data-pipeline.yaml")
            name = job["metadata"]["name"]
            ns.create(job)
            cluster_name = await ns.wait_for(
                lambda: ns.status("rayjobs", name).get("rayClusterName")
            )
            cluster = await ns.wait_for(lambda: ns.get("rayclusters", cluster_name))
            owner = cluster["metadata"]["ownerReferences"][0]
            assert (owner["kind"], owner["name"]) == ("RayJob", name)
            rayjob = ns.get("rayjobs", name)
            assert rayjob is not None
            assert "ray.io/rayjob-finalizer" in rayjob["metadata"]["finalizers"]

            await ns.wait_for(
                lambda: len(ns.objects("pods", f"ray.io/cluster={cluster_name}")) == 2
            )
            assert ns.get("jobs", name) is None
            await ns.ready_pods()
            submitter = await ns.wait_for(lambda: ns.get("jobs", name))
            container = submitter["spec"]["template"]["spec"]["containers"][0]
            text = " ".join([*container.get("command", []), *container.get("args", [])])
            assert text.index("ray job status") < text.index("ray job submit")
            # kube-controller-manager's Job controller creates the submitter's Pod.
            pod = await ns.wait_for(
                lambda: next(iter(ns.objects("pods", f"job-name={name}")), None)
            )
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
            await ns.ready_pods(f"job-name={name}")
            final = await ns.wait_for(
                lambda: (
                    ns.status("rayjobs", name).get("jobDeploymentStatus") == "Running"
                    and ns.status("rayjobs", name)
                )
            )
            assert final["dashboardURL"].startswith(
                f"{cluster_name}-head-svc.{ns.name}.svc.cluster.local"
            )
            # Deleting the RayJob: the finalizer is removed by the operator, the cluster
            # and the submitter Job go with their owner.
            ns.request("DELETE", path_of("rayjobs", ns.name, name))
            await ns.wait_for(lambda: ns.get("rayjobs", name) is None)
            await ns.wait_for(lambda: ns.get("rayclusters", cluster_name) is None)

    run(scenario)


def test_rayservice_switches_serve_service_selector_when_pending_cluster_is_ready(
    kube_cluster: Cluster,
) -> None:
    ns = kube_cluster.namespace("svc")

    async def scenario() -> None:
        dashboard = httpx.MockTransport(_serve_dashboard)
        async with operator(ns, dashboard_transport=dashboard):
            ns.create(_rayservice("rayproject/ray:2.60.0"))

            def serving() -> str | None:
                svc = ns.get("services", "svc-serve-svc")
                return (svc or {}).get("spec", {}).get("selector", {}).get("ray.io/cluster")

            def cluster_names() -> list[str]:
                return [c["metadata"]["name"] for c in ns.live("rayclusters")]

            first = (await ns.wait_for(cluster_names))[0]
            await ns.wait_for(lambda: len(ns.objects("pods")) == 2)
            await ns.ready_pods()
            assert await ns.wait_for(serving) == first

            def ready() -> bool:
                found = condition(ns.status("rayservices", "svc"), "Ready")
                return bool(found and found["status"] == "True")

            await ns.wait_for(ready)
            current = ns.get("rayservices", "svc")
            assert current is not None
            updated = copy.deepcopy(current)
            updated["spec"] = _rayservice("rayproject/ray:2.60.0-py311")["spec"]
            ns.request("PUT", path_of("rayservices", ns.name, "svc"), updated)
            pending = await ns.wait_for(
                lambda: next((n for n in cluster_names() if n != first), None)
            )
            assert await ns.wait_for(
                lambda: condition(ns.status("rayservices", "svc"), "UpgradeInProgress")
            )
            assert serving() == first
            selector = f"ray.io/cluster={pending}"
            await ns.wait_for(lambda: len(ns.objects("pods", selector)) == 2)
            await ns.ready_pods(selector)
            assert await ns.wait_for(lambda: serving() == pending and serving())
            head_svc = ns.get("services", "svc-head-svc")
            assert head_svc is not None
            assert head_svc["spec"]["selector"]["ray.io/cluster"] == pending
            await ns.wait_for(lambda: cluster_names() == [pending])
            # The old cluster's Pods go with it (garbage collector).
            await ns.wait_for(lambda: not ns.live("pods", f"ray.io/cluster={first}"))

    run(scenario)


def _register_webhook(cluster: Cluster, ns: Namespace, port: int) -> str:
    """deploy/'s ValidatingWebhookConfiguration, pointed at the operator on loopback by URL
    (no Service can reach a process on this host) and scoped to this test's namespace."""
    import yaml

    config: dict[str, Any] = yaml.safe_load(
        (DEPLOY / "overlays" / "eks" / "validating_webhook.yaml").read_text(encoding="utf-8")
    )
    name = f"rayplane-validating-webhook-{ns.name}"
    config["metadata"] = {"name": name}
    bundle = base64.b64encode(cluster.ca_pem).decode()
    for hook in config["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": bundle}
        hook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": ns.name}}
    cluster.apply(config)
    return name


def complete_structure(seed: dict[str, Any]) -> None:
    """Give the pod-identity seed RayJob what KubeRay's CRD requires (containers, a group
    name), so that only the webhook's rules (its missing entrypoint) refuse it."""
    cluster_spec = seed["spec"]["rayClusterSpec"]
    image = "rayproject/ray:2.60.0"
    cluster_spec["headGroupSpec"]["template"]["spec"]["containers"] = [
        {"name": "ray-head", "image": image}
    ]
    worker = cluster_spec["workerGroupSpecs"][0]
    worker["groupName"] = "workers"
    worker["template"]["spec"]["containers"] = [{"name": "ray-worker", "image": image}]
    seed["spec"]["submitterPodTemplate"]["spec"]["containers"] = [
        {"name": "submitter", "image": image}
    ]


def test_api_server_calls_the_webhook_and_denies_the_seed_rayjob(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("webhook")
    if kube_cluster.webhook_cert is None:
        pytest.skip("the API server under test cannot call a webhook on this machine's loopback")
    port = free_port()
    cert, key = kube_cluster.webhook_cert
    name = _register_webhook(kube_cluster, ns, port)

    async def scenario() -> None:
        async with operator(
            ns,
            webhook_port=port,
            webhook_host="127.0.0.1",
            webhook_cert=str(cert),
            webhook_key=str(key),
        ):
            seed = example("rayjob-pod-identity.yaml")
            seed["metadata"]["namespace"] = ns.name
            # As written, the seed lacks what KubeRay's CRD requires (containers, groupName):
            # the API server's schema refuses it before any webhook is called.
            refused = kube_cluster.admin.post(path_of("rayjobs", ns.name), json=seed)
            assert refused.status_code == 422, refused.text
            assert (
                "spec.rayClusterSpec.headGroupSpec.template.spec.containers: Required"
                in (refused.json()["message"])
            )
            # Complete its structure: only the rules remain, and the webhook applies them.
            complete_structure(seed)

            def attempt() -> httpx.Response | None:
                answer = kube_cluster.admin.post(path_of("rayjobs", ns.name), json=seed)
                # Until the webhook server listens, the API server says it failed calling it.
                return None if "failed calling webhook" in answer.text else answer

            denied = await ns.wait_for(attempt)
            assert denied.status_code == 422, denied.text
            message = denied.json()["message"]
            assert 'admission webhook "vrayjob.ray.io" denied the request' in message
            assert "spec.entrypoint" in message
            assert ns.get("rayjobs", seed["metadata"]["name"]) is None
            # A valid resource passes the same webhook.
            cluster = example("raycluster-basic.yaml")
            cluster["metadata"]["namespace"] = ns.name
            # Off the event loop: the API server now calls the webhook, served on this loop.
            created = await asyncio.to_thread(
                kube_cluster.admin.post, path_of("rayclusters", ns.name), json=cluster
            )
            assert created.status_code == 201, created.text

    try:
        run(scenario)
    finally:
        kube_cluster.admin.delete(path_of("validatingwebhookconfigurations", None, name))


def test_two_operators_one_leader_by_a_real_lease(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("leader")
    lease = f"ray-operator-leader-{ns.name}"

    def holder() -> str | None:
        found = ns.get("leases", lease, namespace=OPERATOR_NS)
        return (found or {}).get("spec", {}).get("holderIdentity")

    async def scenario() -> None:
        # Short retries so b takes the Lease a released soon; a lease and renew deadline
        # long enough that a busy machine never makes a miss a renewal.
        timings: dict[str, Any] = {
            "leader_election": True,
            "lease_name": lease,
            "lease_duration": 15.0,
            "renew_deadline": 10.0,
            "retry_period": 0.2,
        }
        async with operator(ns, field_manager="op-a", identity="a", **timings) as a:
            await ns.wait_for(lambda: a.leading)
            async with operator(ns, field_manager="op-b", identity="b", **timings) as b:
                ns.create(
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "raydata"}}
                )
                ns.create(example("raycluster-basic.yaml"))
                await ns.wait_for(lambda: len(ns.objects("pods")) == 3)
                assert holder() == "a" and not b.leading
                writers = {
                    r.query.get("fieldManager")
                    for r in ns.requests()
                    if r.method in ("POST", "PUT", "PATCH") and r.resource != "leases"
                }
                assert "op-a" in writers and "op-b" not in writers
                a.stop()
                await ns.wait_for(lambda: b.leading)
                assert holder() == "b"
                second = example("raycluster-basic.yaml")
                second["metadata"]["name"] = "second"
                ns.create(second)
                await ns.wait_for(lambda: len(ns.objects("pods", "ray.io/cluster=second")) == 3)
                second_writers = {
                    r.query.get("fieldManager")
                    for r in ns.requests()
                    if r.method == "POST" and r.resource == "pods" and "second" in r.name + r.path
                }
                assert second_writers <= {"op-b", None}

    run(scenario)


def test_leader_killed_hands_over(kube_cluster: Cluster, tmp_path: Path) -> None:
    """`rayplane operator` as a process holds the Lease and is SIGKILLed (nothing releases
    the Lease): the standby takes it once it expires on the API server and reconciles."""
    ns = kube_cluster.namespace("handover")
    token_file = tmp_path / "token"
    token_file.write_text(kube_cluster.operator_token)
    leader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rayplane.kubernetes",
            f"--server={kube_cluster.server}",
            f"--token-file={token_file}",
            f"--certificate-authority={kube_cluster.ca_file}",
            f"--watch-namespace={ns.name}",
            f"--leader-election-namespace={OPERATOR_NS}",
            "--metrics-addr=0",
            "--health-probe-bind-address=0",
        ],
        stdout=(tmp_path / "leader.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def holder() -> str | None:
        found = ns.get("leases", LEASE_NAME, namespace=OPERATOR_NS)
        return (found or {}).get("spec", {}).get("holderIdentity")

    async def scenario() -> None:
        first = await ns.wait_for(holder, timeout=90)
        async with operator(ns, identity="standby", leader_election=True) as standby:
            await asyncio.sleep(1.0)
            assert not standby.leading and holder() == first
            os.killpg(leader.pid, signal.SIGKILL)
            leader.wait()
            await ns.wait_for(lambda: standby.leading, timeout=90)
            assert holder() == "standby"
            ns.create(
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "raydata"}}
            )
            ns.create(example("raycluster-basic.yaml"))
            await ns.wait_for(lambda: len(ns.objects("pods")) == 3)

    try:
        run(scenario)
    finally:
        if leader.poll() is None:
            os.killpg(leader.pid, signal.SIGKILL)
            leader.wait()


def test_admission_message_is_json_serialisable_for_all_examples() -> None:
    from rayplane.kubernetes.webhook import admission_problems

    message, _ = admission_problems(example("rayjob-pod-identity.yaml"))
    assert message is not None
    json.dumps(message)
    assert admission_problems(example("raycluster-basic.yaml"))[0] is None
