"""The stock Ray autoscaler's KubeRay provider, with the autoscaler's own RBAC, on a real
kube-apiserver: its patches of ``replicas`` / ``workersToDelete`` make our operator act.

Ray's ``KubeRayNodeProvider`` runs here as it runs in the head Pod's sidecar: HTTPS to the
API server with the bearer token of the head Pod's ServiceAccount, which only the Role and
RoleBinding the operator created for the cluster authorize. Only where it finds the server
(the in-cluster URL, token file, CA file) is pointed at this one. Pods are simulated.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes.real_api import Cluster, example, operator, run

pytestmark = pytest.mark.timeout(180)

NAME = "raycluster-basic"


def _provider(
    monkeypatch: pytest.MonkeyPatch, cluster: Cluster, namespace: str, token_file: Path
) -> Any:
    from ray.autoscaler._private.kuberay import node_provider
    from ray.autoscaler._private.kuberay.autoscaling_config import _generate_provider_config

    original = node_provider.url_from_resource

    def url_from_resource(namespace: str, path: str, kuberay_crd_version: str = "v1") -> str:
        return str(original(namespace, path, kuberay_crd_version, kubernetes_host=cluster.server))

    monkeypatch.setattr(node_provider, "url_from_resource", url_from_resource)
    monkeypatch.setattr(node_provider, "IN_CLUSTER_TOKEN_PATH", str(token_file))
    monkeypatch.setattr(node_provider, "KUBERAY_CA_CERT_PATH", str(cluster.ca_file))
    return node_provider.KubeRayNodeProvider(_generate_provider_config(namespace), NAME)


def test_ray_kuberay_node_provider_with_its_own_rbac_drives_the_operator(
    kube_cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ray.autoscaler.tags import TAG_RAY_NODE_KIND, TAG_RAY_USER_NODE_TYPE

    ns = kube_cluster.namespace("autoscaler")
    ns.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "raydata"}})

    async def scenario() -> None:
        async with operator(ns):
            doc = copy.deepcopy(example("raycluster-basic.yaml"))
            doc["spec"]["workerGroupSpecs"][0]["replicas"] = 3
            ns.create(doc)
            await ns.wait_for(lambda: len(ns.objects("pods")) == 4)
            await ns.ready_pods()
            # The autoscaler's RBAC is what the operator created for this cluster.
            await ns.wait_for(lambda: ns.get("rolebindings", NAME))
            token_file = tmp_path / "token"
            token_file.write_text(kube_cluster.token_for(ns.name, "raydata"))
            provider = _provider(monkeypatch, kube_cluster, ns.name, token_file)
            autoscaler_user = f"system:serviceaccount:{ns.name}:raydata"

            nodes = await asyncio.to_thread(provider.non_terminated_nodes, {})
            workers = sorted(
                n for n in nodes if provider.node_tags(n)[TAG_RAY_NODE_KIND] == "worker"
            )
            assert len(nodes) == 4 and len(workers) == 3
            doomed, kept = workers[:2], workers[2]
            for worker in doomed:
                provider.terminate_node(worker)
            await asyncio.to_thread(provider.post_process)
            patches = [
                r
                for r in ns.requests(autoscaler_user)
                if r.method == "PATCH" and r.resource == "rayclusters"
            ]
            assert patches and all(r.code == 200 for r in patches)
            await ns.wait_for(
                lambda: (
                    [p["metadata"]["name"] for p in ns.live("pods", "ray.io/node-type=worker")]
                    == [kept]
                )
            )

            nodes = await asyncio.to_thread(provider.non_terminated_nodes, {})
            assert sorted(nodes) == sorted(p["metadata"]["name"] for p in ns.live("pods"))
            assert await asyncio.to_thread(provider.safe_to_scale)
            group = ns.get("rayclusters", NAME)["spec"]["workerGroupSpecs"][0]  # type: ignore[index]
            assert group["scaleStrategy"]["workersToDelete"] == []
            assert group["replicas"] == 1

            provider.create_node({}, {TAG_RAY_USER_NODE_TYPE: "workers"}, 2)
            await asyncio.to_thread(provider.post_process)
            await ns.wait_for(lambda: len(ns.live("pods", "ray.io/node-type=worker")) == 3)
            names = {p["metadata"]["name"] for p in ns.live("pods", "ray.io/node-type=worker")}
            assert kept in names and not names & set(doomed)
            # Every request the autoscaler made was authorized by its Role alone.
            assert all(r.code < 400 for r in ns.requests(autoscaler_user))

    run(scenario)
