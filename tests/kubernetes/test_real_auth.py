"""Token auth on a real kube-apiserver: the operator, under its own least-privilege RBAC,
generates the Secret as KubeRay does, the Pods read the token from it, and the garbage
collector removes it with the cluster. Pods' processes are simulated (no kubelet), so Ray
itself enforcing the token is shown by tests/e2e/test_local_auth.py, not here.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.kubernetes.real_api import Cluster, Namespace, example, operator, path_of, run

pytestmark = pytest.mark.timeout(180)

NAME = "raycluster-basic"
GC_USER = "system:serviceaccount:kube-system:generic-garbage-collector"


def token_cluster(ns: Namespace) -> dict[str, Any]:
    ns.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "raydata"}})
    doc = example("raycluster-basic.yaml")
    doc["metadata"]["namespace"] = ns.name
    doc["spec"]["rayVersion"] = "2.60.0"  # token auth needs Ray 2.52+
    doc["spec"]["authOptions"] = {"mode": "token"}
    return doc


def test_the_operator_generates_the_token_secret_and_pods_read_it(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("auth")

    async def scenario() -> None:
        async with operator(ns):
            uid = ns.create(token_cluster(ns))["metadata"]["uid"]
            secret = await ns.wait_for(lambda: ns.get("secrets", NAME))
            await ns.wait_for(lambda: len(ns.objects("pods")) == 3)
            pods = ns.objects("pods")
        assert secret["metadata"]["labels"] == {"ray.io/cluster": NAME}
        (owner,) = secret["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("RayCluster", uid, True)
        token = base64.b64decode(secret["data"]["auth_token"])
        assert len(base64.b64decode(token, validate=True)) == 32  # generateRandomToken(32)
        for pod in pods:
            for container in pod["spec"]["containers"]:
                if container["name"] not in ("ray-head", "ray-worker", "autoscaler"):
                    continue
                env = {e["name"]: e for e in container.get("env") or []}
                assert env["RAY_AUTH_MODE"]["value"] == "token", container["name"]
                ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
                assert ref == {"name": NAME, "key": "auth_token"}, container["name"]
        # The operator is gone: the garbage collector removes the Secret with its cluster.
        ns.request("DELETE", path_of("rayclusters", ns.name, NAME))
        await ns.wait_for(lambda: ns.get("secrets", NAME) is None)
        deleted = {(r.resource, r.name) for r in ns.requests(GC_USER) if r.method == "DELETE"}
        assert ("secrets", NAME) in deleted

    run(scenario)
