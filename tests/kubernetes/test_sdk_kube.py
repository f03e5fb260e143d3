"""The SDK's Kubernetes backend on the real kube-apiserver of tests/kubernetes.

KubeBackend logs in with the session's admin kubeconfig, as a user's notebook would with
theirs. The operator is not needed to read status back: the tests write a status through
the status subresource as the operator would. Pods are created by the tests and made
Running by the node simulator (there is no kubelet), so a port-forward to a live Pod
cannot run here: reach() is checked for its refusal, and the forwarding itself against a
local server speaking the kubelet's protocol (test_portforward.py).
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rayplane.cli.main import app
from rayplane.sdk.backend import BackendError
from rayplane.sdk.kube_backend import KubeBackend, _findings, node_info
from rayplane.settings import KubeconfigError, load_kubeconfig
from tests.kubernetes.real_api import Cluster, Namespace, example, operator, path_of, run
from tests.kubernetes.test_real_workloads import _register_webhook, complete_structure
from tests.support import free_port

pytestmark = pytest.mark.timeout(180)

Obj = dict[str, Any]


@pytest.fixture
def backend(kube_cluster: Cluster) -> Any:
    found = KubeBackend(kubeconfig=str(kube_cluster.kubeconfig))
    yield found
    found.close()


def _cluster(ns: Namespace, name: str = "sdk-rc") -> Obj:
    doc = example("raycluster-basic.yaml")
    doc["metadata"] = {"name": name, "namespace": ns.name}
    return doc


def _pod(name: str, cluster: str, node_type: str, group: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {
                "ray.io/cluster": cluster,
                "ray.io/node-type": node_type,
                "ray.io/group": group,
            },
        },
        "spec": {
            "containers": [
                {
                    "name": "ray-head" if node_type == "head" else "ray-worker",
                    "image": "rayproject/ray:2.60.0",
                    "ports": [{"name": "dashboard", "containerPort": 8266}],
                }
            ]
        },
    }


def test_apply_reads_status_and_deletes(kube_cluster: Cluster, backend: KubeBackend) -> None:
    ns = kube_cluster.namespace("sdk")
    doc = _cluster(ns)

    first = backend.apply(doc)
    assert first.verb == "created"
    assert first.object["metadata"]["uid"]
    assert ns.get("rayclusters", "sdk-rc") is not None  # on the server, not in a cache
    assert backend.apply(doc).verb == "unchanged"
    # An object read back (status, managedFields, resourceVersion) applies as written.
    read = backend.get("RayCluster", ns.name, "sdk-rc")
    assert read is not None
    assert backend.apply(read).verb == "unchanged"
    changed = copy.deepcopy(doc)
    changed["spec"]["workerGroupSpecs"][0]["replicas"] = 3
    configured = backend.apply(changed)
    assert configured.verb == "configured"
    assert configured.object["spec"]["workerGroupSpecs"][0]["replicas"] == 3

    # The status subresource, written as the operator writes it.
    status = {
        "state": "ready",
        "reason": "",
        "conditions": [
            {
                "type": "RayClusterProvisioned",
                "status": "True",
                "reason": "AllPodRunningAndReadyFirstTime",
                "message": "All Ray Pods are ready for the first time",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }
    ns.request(
        "PATCH",
        path_of("rayclusters", ns.name, "sdk-rc") + "/status",
        {"status": status},
        "application/merge-patch+json",
    )
    found = backend.get("RayCluster", ns.name, "sdk-rc")
    assert found is not None
    assert found["status"]["state"] == "ready"
    assert found["status"]["conditions"][0]["reason"] == "AllPodRunningAndReadyFirstTime"
    assert [o["metadata"]["name"] for o in backend.list("RayCluster", ns.name)] == ["sdk-rc"]
    assert "sdk-rc" in [o["metadata"]["name"] for o in backend.list("RayCluster")]

    assert backend.delete("RayCluster", ns.name, "sdk-rc") is True
    assert backend.get("RayCluster", ns.name, "sdk-rc") is None
    assert backend.delete("RayCluster", ns.name, "sdk-rc") is False


def test_the_schemas_refusal_names_the_field(kube_cluster: Cluster, backend: KubeBackend) -> None:
    ns = kube_cluster.namespace("sdk-bad")
    doc = _cluster(ns, "bad-type")
    doc["spec"]["workerGroupSpecs"][0]["replicas"] = "two"
    with pytest.raises(BackendError) as caught:
        backend.apply(doc)
    # Server-side apply answers a wrong type with a 500 and no causes; the path is kept.
    assert caught.value.status in (422, 500)
    assert f"apply RayCluster {ns.name}/bad-type" in str(caught.value)
    assert caught.value.findings == [
        {
            "path": "spec.workerGroupSpecs[0].replicas",
            "message": "expected numeric (int or float), got string",
        }
    ]
    # A schema rule past the types (an enum) is a 422 with the API server's own causes.
    doc["spec"]["workerGroupSpecs"][0]["replicas"] = 1
    doc["spec"]["autoscalerOptions"] = {"upscalingMode": "Eager"}
    with pytest.raises(BackendError) as enum:
        backend.apply(doc)
    assert enum.value.status == 422, enum.value
    assert "spec.autoscalerOptions.upscalingMode" in [f["path"] for f in enum.value.findings]
    assert ns.get("rayclusters", "bad-type") is None


def test_secrets_and_configmaps_round_trip(kube_cluster: Cluster, backend: KubeBackend) -> None:
    ns = kube_cluster.namespace("sdk-cfg")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "redis", "namespace": ns.name},
        "stringData": {"password": "hunter2"},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app", "namespace": ns.name},
        "data": {"main.py": "print(1)"},
    }
    assert backend.apply(secret).verb == "created"
    assert backend.apply(config).verb == "created"
    assert (backend.get("Secret", ns.name, "redis") or {})["data"]["password"] == "aHVudGVyMg=="
    assert (backend.get("configmaps", ns.name, "app") or {})["data"] == {"main.py": "print(1)"}
    assert backend.delete("ConfigMap", ns.name, "app") is True


def test_nodes_are_the_clusters_pods(kube_cluster: Cluster, backend: KubeBackend) -> None:
    ns = kube_cluster.namespace("sdk-nodes")
    rc = backend.apply(_cluster(ns, "nodes-rc")).object
    ns.create(_pod("nodes-rc-head", "nodes-rc", "head", "headgroup"))
    ns.create(_pod("nodes-rc-w1", "nodes-rc", "worker", "cpu-group"))
    ns.create(_pod("other-head", "other", "head", "headgroup"))

    pending = backend.nodes(rc)
    assert [(n.name, n.kind, n.group, n.state) for n in pending] == [
        ("nodes-rc-head", "head", "headgroup", "pending"),
        ("nodes-rc-w1", "worker", "cpu-group", "pending"),
    ]
    assert all(n.reason for n in pending)

    asyncio.run(ns.ready_pods())
    ready = backend.nodes(rc)
    assert [(n.name, n.state) for n in ready] == [
        ("nodes-rc-head", "ready"),
        ("nodes-rc-w1", "ready"),
    ]
    assert ready[0].extra["podIP"]
    assert ready[0].extra["phase"] == "Running"

    # A RayJob reaches its cluster's Pods through status.rayClusterName.
    job = {"kind": "RayJob", "metadata": {"name": "j", "namespace": ns.name}}
    assert backend.nodes(job) == []
    job["status"] = {"rayClusterName": "nodes-rc"}
    assert [n.name for n in backend.nodes(job)] == ["nodes-rc-head", "nodes-rc-w1"]


def test_reach_says_why_a_pod_without_a_kubelet_cannot_be_forwarded(
    kube_cluster: Cluster, backend: KubeBackend
) -> None:
    ns = kube_cluster.namespace("sdk-reach")
    rc = backend.apply(_cluster(ns, "reach-rc")).object
    with pytest.raises(BackendError) as none_yet, backend.reach(rc, "dashboard"):
        pass
    assert "no head Pod with labels ray.io/cluster=reach-rc" in str(none_yet.value)

    ns.create(_pod("reach-rc-head", "reach-rc", "head", "headgroup"))
    with pytest.raises(BackendError) as caught, backend.reach(rc, "dashboard"):
        pass
    message = str(caught.value)
    assert caught.value.status == 400
    assert f"Pod {ns.name}/reach-rc-head" in message
    assert "port 8266" in message  # the container's named port, not the default
    assert "does not have a host assigned" in message
    assert "not running on any node" in message

    # Bound to the simulator's node: the API server tries that node's kubelet, which does
    # not exist here (its answer depends on the network: refused, or a proxy's 403).
    asyncio.run(ns.ready_pods())
    with pytest.raises(BackendError) as unreachable, backend.reach(rc, "dashboard"):
        pass
    assert f"cannot port-forward to dashboard (port 8266) of Pod {ns.name}/reach-rc-head" in str(
        unreachable.value
    )
    assert "does not have a host assigned" not in str(unreachable.value)


def test_a_webhook_denial_becomes_findings() -> None:
    """Our webhook's denial (one message, no causes) is split into field findings."""
    status = SimpleNamespace(
        message=(
            'admission webhook "validate-ray-io-v1-raycluster.rayplane.io" denied the '
            "request: RayCluster 'x' is invalid: spec.headGroupSpec.template.spec.containers:"
            " the head pod template has no container; add one, e.g. containers: [{name: a}].;"
            " metadata.name: must be no more than 63"
        ),
        details=None,
    )
    assert _findings(status) == [
        {
            "path": "spec.headGroupSpec.template.spec.containers",
            "message": (
                "the head pod template has no container; add one, e.g. containers: [{name: a}]."
            ),
        },
        {"path": "metadata.name", "message": "must be no more than 63"},
    ]


def test_pod_states_read_as_a_kubelet_reports_them() -> None:
    base = _pod("p", "c", "worker", "g")
    base["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    pulling = copy.deepcopy(base)
    pulling["spec"]["nodeName"] = "n1"
    pulling["status"] = {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "ray-worker",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}},
            }
        ],
    }
    info = node_info(pulling)
    assert (info.state, info.reason) == ("starting", "ImagePullBackOff: no such image")
    unschedulable = copy.deepcopy(base)
    unschedulable["status"] = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.",
            }
        ],
    }
    info = node_info(unschedulable)
    assert (info.state, info.reason) == (
        "pending",
        "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.",
    )
    failed = copy.deepcopy(base)
    failed["status"] = {"phase": "Failed", "reason": "Evicted"}
    assert node_info(failed).state == "failed"
    stopping = copy.deepcopy(base)
    stopping["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    assert node_info(stopping).state == "stopping"


def test_a_missing_kubeconfig_or_context_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"kubeconfig .*nope does not exist"):
        KubeBackend(kubeconfig=str(tmp_path / "nope"))
    conf = tmp_path / "config"
    conf.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "ml"}}
                ],
                "current-context": "dev",
            }
        )
    )
    with pytest.raises(BackendError, match=r"context 'prod' is not defined \(contexts: dev\)"):
        KubeBackend(kubeconfig=str(conf), context="prod")
    chosen = KubeBackend(kubeconfig=str(conf))
    assert chosen.namespace == "ml"
    chosen.close()


def test_session_ends_with_the_reason_it_cannot_forward(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("sdk-session")
    conf = str(kube_cluster.kubeconfig)
    missing = CliRunner().invoke(app, ["session", "ghost", "-n", ns.name, "--kubeconfig", conf])
    assert missing.exit_code == 1
    assert f"RayCluster {ns.name}/ghost not found" in missing.output

    backend = KubeBackend(kubeconfig=conf)
    backend.apply(_cluster(ns, "sess-rc"))
    backend.close()
    ns.create(_pod("sess-rc-head", "sess-rc", "head", "headgroup"))
    refused = CliRunner().invoke(
        app, ["session", "raycluster/sess-rc", "-n", ns.name, "--kubeconfig", conf]
    )
    assert refused.exit_code == 1
    assert "does not have a host assigned" in refused.output
    assert "Ray dashboard:" not in refused.output


def test_kubeconfig_follows_kubectls_order(tmp_path: Path) -> None:
    """An explicit path first, else the first existing file of KUBECONFIG, else
    ~/.kube/config; a missing file is named with the fix."""
    conf = tmp_path / "real"
    conf.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "a",
            }
        )
    )
    listed = {"KUBECONFIG": f"{tmp_path / 'missing'}:{conf}", "HOME": str(tmp_path)}
    chosen = load_kubeconfig(environ=listed)
    assert (chosen.context_name, chosen.cluster.server) == ("a", "https://10.0.0.1")
    assert chosen.namespace == "default"
    with pytest.raises(KubeconfigError, match=r"kube/config does not exist.*KUBECONFIG"):
        load_kubeconfig(environ={"HOME": str(tmp_path)})


def test_the_webhooks_denial_arrives_as_findings(kube_cluster: Cluster) -> None:
    """The seed RayJob as written is refused by the CRD's schema (no containers), and once
    completed by our operator's webhook, called by the API server (no entrypoint);
    KubeBackend.apply raises with each refused field as a finding either way."""
    ns = kube_cluster.namespace("sdk-webhook")
    if kube_cluster.webhook_cert is None:
        pytest.skip("the API server under test cannot call a webhook on this machine's loopback")
    port = free_port()
    cert, key = kube_cluster.webhook_cert
    name = _register_webhook(kube_cluster, ns, port)
    backend = KubeBackend(kubeconfig=str(kube_cluster.kubeconfig))
    seed = example("rayjob-pod-identity.yaml")
    seed["metadata"]["namespace"] = ns.name
    with pytest.raises(BackendError) as refused:
        backend.apply(seed)
    assert refused.value.status == 422, refused.value
    paths = [f["path"] for f in refused.value.findings]
    assert "spec.rayClusterSpec.headGroupSpec.template.spec.containers" in paths, paths
    complete_structure(seed)

    def attempt() -> BackendError | None:
        try:
            backend.apply(seed)
        except BackendError as exc:
            # Until the webhook server listens, the API server says it failed calling it.
            return None if "failed calling webhook" in str(exc) else exc
        raise AssertionError("the webhook let an invalid RayJob in")

    async def scenario() -> None:
        async with operator(
            ns,
            webhook_port=port,
            webhook_host="127.0.0.1",
            webhook_cert=str(cert),
            webhook_key=str(key),
        ):
            # wait_for runs attempt off the loop: the webhook is served on this loop.
            denied = await ns.wait_for(attempt)
            assert denied.status == 422, denied
            assert 'admission webhook "vrayjob.ray.io" denied the request' in str(denied)
            assert "spec.entrypoint" in [f["path"] for f in denied.findings], denied.findings
            assert all(f["message"] for f in denied.findings)
            # A message with "; " in it stays one finding.
            assert not [f for f in denied.findings if " " in f["path"]], denied.findings

    try:
        run(scenario)
    finally:
        backend.close()
        kube_cluster.admin.delete(path_of("validatingwebhookconfigurations", None, name))
