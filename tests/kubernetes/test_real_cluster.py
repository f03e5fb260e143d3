"""RayCluster on a real kube-apiserver: CRDs, RBAC, status subresource, garbage collection.

The API server, etcd and kube-controller-manager are real (built from source); Pods'
processes are simulated (no kubelet): ``ready_pods`` writes what a kubelet would report.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from rayplane.kubernetes.testing.install import DEPLOY, OPERATOR_USER
from rayplane.kubernetes.testing.kuberay import KubeRayOperator
from tests.kubernetes.conftest import api_client
from tests.kubernetes.real_api import (
    Cluster,
    Namespace,
    condition,
    example,
    operator,
    path_of,
    run,
)

pytestmark = pytest.mark.timeout(180)

NAME = "raycluster-basic"
GC_USER = "system:serviceaccount:kube-system:generic-garbage-collector"


def seed_cluster(ns: Namespace) -> dict[str, Any]:
    """The seed RayCluster; its Pods run as the ServiceAccount `raydata`, which the user
    creates (the ServiceAccount admission plugin refuses Pods naming a missing one)."""
    ns.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "raydata"}})
    return example("raycluster-basic.yaml")


def test_crds_are_structural_and_unknown_fields_are_pruned_or_rejected(
    kube_cluster: Cluster,
) -> None:
    ns = kube_cluster.namespace("crd")
    for plural in ("rayclusters", "rayjobs", "rayservices"):
        crd = ns.get("customresourcedefinitions", f"{plural}.ray.io")
        assert crd is not None
        conditions = {c["type"]: c for c in crd["status"]["conditions"]}
        assert conditions["Established"]["status"] == "True"
        # A non-structural schema shows as this condition; the API server found none.
        assert conditions.get("NonStructuralSchema", {}).get("status") != "True"

    doc = example("raycluster-basic.yaml")
    doc["metadata"]["namespace"] = ns.name
    doc["spec"]["bogusField"] = 1
    doc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = "1"
    # kubectl's default (fieldValidation=Strict): refused, naming the field.
    strict = kube_cluster.admin.post(
        path_of("rayclusters", ns.name), params={"fieldValidation": "Strict"}, json=doc
    )
    assert strict.status_code == 400, strict.text
    assert 'unknown field "spec.bogusField"' in strict.json()["message"]
    # Without it: stored with the field pruned, and a warning says which.
    loose = kube_cluster.admin.post(path_of("rayclusters", ns.name), json=doc)
    assert loose.status_code == 201, loose.text
    assert "bogusField" not in loose.json()["spec"]
    assert "bogusField" in loose.headers.get("warning", "")
    # What the schema keeps open is kept: rayStartParams and the Pod template.
    assert loose.json()["spec"]["headGroupSpec"]["rayStartParams"] == {
        "dashboard-host": "0.0.0.0",
        "num-cpus": "1",
    }
    # A type error is refused by the schema itself, with its path.
    bad = copy.deepcopy(doc)
    bad["metadata"]["name"] = "bad-type"
    bad["spec"]["workerGroupSpecs"][0]["replicas"] = "two"
    refused = kube_cluster.admin.post(path_of("rayclusters", ns.name), json=bad)
    assert refused.status_code == 422, refused.text
    assert "spec.workerGroupSpecs[0].replicas" in refused.json()["message"]


def test_seed_raycluster_gets_kuberay_children_and_status_through_the_subresource(
    kube_cluster: Cluster,
) -> None:
    ns = kube_cluster.namespace("seed")

    async def scenario() -> None:
        async with operator(ns):
            created = ns.create(seed_cluster(ns))
            uid = created["metadata"]["uid"]
            await ns.wait_for(lambda: len(ns.objects("pods")) == 3)
            pods = ns.objects("pods")
            heads = [p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head"]
            workers = [p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]
            assert len(heads) == 1 and len(workers) == 2
            head = heads[0]
            assert head["metadata"]["name"].startswith(f"{NAME}-head-")
            assert head["spec"]["serviceAccountName"] == "raydata"
            for pod in pods:
                owner = pod["metadata"]["ownerReferences"][0]
                assert (owner["kind"], owner["uid"], owner["controller"]) == (
                    "RayCluster",
                    uid,
                    True,
                )
            assert [c["name"] for c in head["spec"]["containers"]] == ["ray-head", "autoscaler"]
            service = ns.get("services", f"{NAME}-head-svc")
            assert service is not None and service["spec"]["clusterIP"] == "None"
            assert service["metadata"]["ownerReferences"][0]["uid"] == uid

            head_ready = await ns.wait_for(
                lambda: condition(ns.status("rayclusters", NAME), "HeadPodReady")
            )
            assert head_ready["status"] == "False"
            assert ns.status("rayclusters", NAME).get("state") != "ready"

            await ns.ready_pods()
            await ns.wait_for(lambda: ns.status("rayclusters", NAME).get("state") == "ready")
            status = ns.status("rayclusters", NAME)
            assert status["readyWorkerReplicas"] == 2
            assert (
                status["head"]["podIP"]
                == ns.get("pods", head["metadata"]["name"])["status"]["podIP"]
            )
            provisioned = condition(status, "RayClusterProvisioned")
            assert provisioned is not None
            assert provisioned["reason"] == "AllPodRunningAndReadyFirstTime"

            # Status went through the status subresource (the audit log is the API
            # server's own record), as the operator's ServiceAccount.
            writes = [
                r
                for r in ns.requests(OPERATOR_USER)
                if r.resource == "rayclusters" and r.method in ("PUT", "PATCH", "POST")
            ]
            assert writes and all(r.subresource == "status" for r in writes), writes
            cluster = ns.get("rayclusters", NAME)
            assert cluster is not None
            assert not any("kopf" in k for k in cluster["metadata"].get("annotations") or {})
            assert cluster["metadata"]["generation"] == 1

    run(scenario)


def test_deleted_raycluster_children_go_by_the_garbage_collector(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("gc")

    async def scenario() -> None:
        async with operator(ns):
            ns.create(seed_cluster(ns))
            await ns.wait_for(lambda: len(ns.objects("pods")) == 3 and ns.objects("services"))
        # The operator is gone: what removes the children now is kube-controller-manager.
        ns.request("DELETE", path_of("rayclusters", ns.name, NAME))
        await ns.wait_for(
            lambda: (
                not ns.objects("pods") and not ns.objects("services") and not ns.objects("roles")
            )
        )
        deleted_by_gc = {(r.resource, r.name) for r in ns.requests(GC_USER) if r.method == "DELETE"}
        assert {r for r, _ in deleted_by_gc} >= {"pods", "services", "roles", "rolebindings"}

    run(scenario)


def test_a_verb_missing_from_the_cluster_role_fails_the_operator(kube_cluster: Cluster) -> None:
    """The operator runs as its ServiceAccount: take `create` on pods out of a scratch copy
    of deploy/'s ClusterRole and the API server refuses what the seed cluster needs."""
    ns = kube_cluster.namespace("rbac")
    role = json.loads(json.dumps(_deploy_cluster_role()))
    role["metadata"] = {"name": f"scratch-{ns.name}"}
    for rule in role["rules"]:
        if rule["resources"] == ["pods"]:
            rule["verbs"].remove("create")
    kube_cluster.apply(role)
    account = f"scratch-{ns.name}"
    ns.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}})
    kube_cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": account},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role["metadata"]["name"],
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns.name}],
        }
    )
    token = kube_cluster.token_for(ns.name, account)
    with api_client(kube_cluster, token) as client:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {"namespace": ns.name, "verb": "create", "resource": "pods"}
            },
        }
        answer = client.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review)
        assert answer.json()["status"]["allowed"] is False

    async def scenario() -> None:
        from rayplane.kubernetes.kube import Connection

        connection = Connection(
            server=kube_cluster.server, token=token, ca_file=kube_cluster.ca_file
        )
        async with operator(ns, connection=connection):
            ns.create(seed_cluster(ns))
            failure = await ns.wait_for(
                lambda: condition(ns.status("rayclusters", NAME), "ReplicaFailure")
            )
            assert failure["status"] == "True"
            assert failure["reason"] == "FailedCreateHeadPod"
            assert "forbidden" in failure["message"]
            assert ns.objects("pods") == []
            refused = [
                r
                for r in ns.requests(f"system:serviceaccount:{ns.name}:{account}")
                if r.resource == "pods" and r.code == 403
            ]
            assert refused

    run(scenario)


def _deploy_cluster_role() -> dict[str, Any]:
    import yaml

    role: dict[str, Any] = yaml.safe_load(
        (DEPLOY / "base" / "rbac" / "cluster_role.yaml").read_text(encoding="utf-8")
    )
    return role


def _ft_cluster(ns: Namespace, timeout: str) -> dict[str, Any]:
    doc = seed_cluster(ns)
    doc["metadata"]["annotations"] = {
        "ray.io/ft-enabled": "true",
        "ray.io/gcs-ft-deletion-timeout": timeout,
    }
    head = doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["env"] = [{"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}]
    return doc


def test_ft_cluster_delete_waits_for_the_redis_cleanup_job_the_job_controller_runs(
    kube_cluster: Cluster,
) -> None:
    """The cleanup Job's Pod is created by kube-controller-manager's Job controller; its
    (simulated) exit 0 makes the Job Complete, and only then does the finalizer go."""
    ns = kube_cluster.namespace("ft")

    async def scenario() -> None:
        async with operator(ns):
            ns.create(_ft_cluster(ns, "300"))
            finalizer = "ray.io/gcs-ft-redis-cleanup-finalizer"
            await ns.wait_for(
                lambda: (
                    finalizer
                    in (ns.get("rayclusters", NAME) or {})["metadata"].get("finalizers", [])
                )
            )
            await ns.wait_for(lambda: len(ns.objects("pods")) == 3)
            await ns.ready_pods()
            ns.request("DELETE", path_of("rayclusters", ns.name, NAME))
            job_name = f"{NAME}-redis-cleanup"
            job = await ns.wait_for(lambda: ns.get("jobs", job_name))
            assert job["metadata"]["labels"]["ray.io/node-type"] == "redis-cleanup"
            pod = await ns.wait_for(
                lambda: next(iter(ns.objects("pods", f"job-name={job_name}")), None)
            )
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
            assert ns.get("rayclusters", NAME) is not None
            await ns.finish_pod(pod, exit_code=0)
            await ns.wait_for(lambda: ns.get("rayclusters", NAME) is None)
            reasons = {e["reason"] for e in ns.objects("events")}
            assert "RedisCleanupComplete" in reasons

    run(scenario)


def test_ft_cluster_finalizer_goes_at_the_deadline_when_the_cleanup_never_ends(
    kube_cluster: Cluster,
) -> None:
    ns = kube_cluster.namespace("ftdeadline")

    async def scenario() -> None:
        async with operator(ns):
            # A far deadline while the cleanup is set going; brought near once the Job is
            # there (the annotation is read on every pass).
            ns.create(_ft_cluster(ns, "300"))
            await ns.wait_for(lambda: len(ns.objects("pods")) == 3)
            ns.request("DELETE", path_of("rayclusters", ns.name, NAME))
            job_name = f"{NAME}-redis-cleanup"
            await ns.wait_for(lambda: ns.get("jobs", job_name))
            # The head and workers go at once; the cluster waits for its cleanup.
            await ns.wait_for(lambda: not ns.live("pods", "ray.io/node-type in (head,worker)"))
            assert ns.get("rayclusters", NAME) is not None
            ns.request(
                "PATCH",
                path_of("rayclusters", ns.name, NAME),
                {"metadata": {"annotations": {"ray.io/gcs-ft-deletion-timeout": "1"}}},
                "application/merge-patch+json",
            )
            await ns.wait_for(lambda: ns.get("rayclusters", NAME) is None)
            # The cleanup Job is garbage-collected with its owner.
            await ns.wait_for(lambda: ns.get("jobs", job_name) is None)
            reasons = {e["reason"] for e in ns.objects("events")}
            assert "RedisCleanupTimeout" in reasons
            assert "RedisCleanupComplete" not in reasons

    run(scenario)


def test_health_readiness_and_kuberay_metrics(kube_cluster: Cluster) -> None:
    from tests.support import free_port

    ns = kube_cluster.namespace("metrics")

    async def scenario() -> None:
        health, metrics = free_port(), free_port()
        async with operator(
            ns, health_address=f"127.0.0.1:{health}", metrics_address=f"127.0.0.1:{metrics}"
        ) as op:
            ns.create(seed_cluster(ns))
            await ns.wait_for(lambda: len(ns.objects("pods")) == 3)
            await ns.ready_pods()
            await ns.wait_for(lambda: ns.status("rayclusters", NAME).get("state") == "ready")
            await ns.wait_for(
                lambda: (
                    (op.metrics.clusters.get((ns.name, NAME)) or None)
                    and op.metrics.clusters[(ns.name, NAME)].provisioned
                )
            )
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"http://127.0.0.1:{health}/healthz")).status_code == 200
                assert (await client.get(f"http://127.0.0.1:{health}/readyz")).status_code == 200
                text = (await client.get(f"http://127.0.0.1:{metrics}/metrics")).text
            assert (
                f'kuberay_cluster_info{{name="{NAME}",namespace="{ns.name}",owner_kind="None"}} 1.0'
                in text
            )
            assert f'kuberay_cluster_provisioned_duration_seconds{{name="{NAME}"' in text

    run(scenario)


def test_watch_namespace_ignores_other_namespaces(kube_cluster: Cluster) -> None:
    watched = kube_cluster.namespace("watched")
    other = kube_cluster.namespace("other")

    async def scenario() -> None:
        async with operator(watched):
            other.create(seed_cluster(other))
            watched.create(seed_cluster(watched))
            await watched.wait_for(lambda: len(watched.objects("pods")) == 3)
            assert other.objects("pods") == []
            assert other.status("rayclusters", NAME) == {}

    run(scenario)


def test_every_listener_of_the_control_plane_and_of_kuberay_is_on_loopback(
    kube_cluster: Cluster, tmp_path: Path
) -> None:
    """etcd, kube-apiserver, kube-controller-manager, the node simulator and KubeRay's
    operator: whatever they listen on, nothing is reachable from off this machine."""
    if not kube_cluster.processes:
        pytest.skip("another cluster's processes are not ours to inspect")
    ns = kube_cluster.namespace("loopback")
    kuberay = KubeRayOperator(
        kube_cluster.admin, kube_cluster.server, kube_cluster.ca_file, ns.name, tmp_path
    )
    kuberay.start()
    try:
        assert kuberay.process is not None
        pids = {**kube_cluster.processes, "kuberay-operator": kuberay.process.pid}
        listening: dict[str, set[str]] = {}
        for name, pid in pids.items():
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    listening.setdefault(name, set()).add(conn.laddr.ip)
        # Each server listens somewhere (so the check below checked something) ...
        assert {"etcd", "kube-apiserver", "kube-controller-manager"} <= listening.keys()
        # ... and only on 127.0.0.1.
        assert {name: ips for name, ips in listening.items() if ips != {"127.0.0.1"}} == {}
    finally:
        kuberay.stop()
