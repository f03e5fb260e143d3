"""The stock Ray autoscaler's KubeRay node provider drives our operator unchanged.

Ray's own ``KubeRayNodeProvider`` (ray.autoscaler._private.kuberay.node_provider, installed
with ray) talks to the fake API server over HTTPS with a bearer token, exactly as it talks
to a real API server from the head Pod: it lists Pods by ``ray.io/cluster``, reads the
RayCluster, and JSON-patches ``replicas`` and ``scaleStrategy.workersToDelete``. Only where
it finds the server (the in-cluster URL, token file and CA file) is pointed at the fake.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes.operator_harness import TOKEN, example, fake_api, operator, run

pytestmark = pytest.mark.timeout(90)

NS = "raydata"
NAME = "raycluster-basic"


def _provider(monkeypatch: pytest.MonkeyPatch, kube: Any, token_file: Path) -> Any:
    from ray.autoscaler._private.kuberay import node_provider
    from ray.autoscaler._private.kuberay.autoscaling_config import _generate_provider_config

    original = node_provider.url_from_resource

    def url_from_resource(namespace: str, path: str, kuberay_crd_version: str = "v1") -> str:
        return str(original(namespace, path, kuberay_crd_version, kubernetes_host=kube.url))

    monkeypatch.setattr(node_provider, "url_from_resource", url_from_resource)
    monkeypatch.setattr(node_provider, "IN_CLUSTER_TOKEN_PATH", str(token_file))
    monkeypatch.setattr(node_provider, "KUBERAY_CA_CERT_PATH", str(kube.ca_file))
    return node_provider.KubeRayNodeProvider(_generate_provider_config(NS), NAME)


def test_ray_kuberay_node_provider_patches_lead_to_the_contracted_pods(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ray.autoscaler.tags import TAG_RAY_NODE_KIND, TAG_RAY_USER_NODE_TYPE

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)

    async def scenario() -> None:
        async with fake_api(tls=True) as kube, operator(kube):
            assert kube.url.startswith("https://")
            doc = copy.deepcopy(example("raycluster-basic.yaml"))
            doc["spec"]["workerGroupSpecs"][0]["replicas"] = 3
            kube.create(doc)
            await kube.wait_for(lambda: len(kube.objects("pods", NS)) == 4)
            kube.ready_pods(NS)
            provider = _provider(monkeypatch, kube, token_file)

            # Scale down: the autoscaler terminates two named workers.
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
                r.body
                for r in kube.requests
                if r.method == "PATCH" and r.path.endswith(f"/rayclusters/{NAME}")
            ]
            replicas, strategy = patches[-1]
            assert replicas == {
                "op": "replace",
                "path": "/spec/workerGroupSpecs/0/replicas",
                "value": 1,
            }
            assert strategy["op"] == "replace"
            assert strategy["path"] == "/spec/workerGroupSpecs/0/scaleStrategy"
            assert sorted(strategy["value"]["workersToDelete"]) == doomed
            await kube.wait_for(
                lambda: (
                    [
                        p["metadata"]["name"]
                        for p in kube.objects("pods", NS, "ray.io/node-type=worker")
                    ]
                    == [kept]
                )
            )

            # Next autoscaler round: the named workers are gone, so safe_to_scale clears
            # the list (an empty workersToDelete patch).
            nodes = await asyncio.to_thread(provider.non_terminated_nodes, {})
            assert sorted(nodes) == sorted(p["metadata"]["name"] for p in kube.objects("pods", NS))
            assert await asyncio.to_thread(provider.safe_to_scale)
            cluster = kube.get("rayclusters", NS, NAME)
            assert cluster is not None
            group = cluster["spec"]["workerGroupSpecs"][0]
            assert group["scaleStrategy"]["workersToDelete"] == []
            assert group["replicas"] == 1

            # Scale up by two: two new workers, the kept one stays.
            provider.create_node({}, {TAG_RAY_USER_NODE_TYPE: "workers"}, 2)
            await asyncio.to_thread(provider.post_process)
            await kube.wait_for(
                lambda: len(kube.objects("pods", NS, "ray.io/node-type=worker")) == 3
            )
            names = {
                p["metadata"]["name"] for p in kube.objects("pods", NS, "ray.io/node-type=worker")
            }
            assert kept in names and not names & set(doomed)
            # Every request the autoscaler made carried its bearer token over TLS.
            assert all(r.status != 401 for r in kube.requests)

    run(scenario)
