"""NewClusterWithIncrementalUpgrade on a real kube-apiserver: KubeRay's Gateway and HTTPRoute.

Real: the API server (the Gateway API CRDs' schemas, ownerReferences, RBAC). Not here: a
Gateway controller (nothing turns the route into a data plane; the test reads the objects)
and Pods' processes (simulated, no kubelet); Ray's answers come from an httpx MockTransport
that keeps each cluster's Serve ``target_capacity`` as the operator PUT it. The Gateway API
CRDs are a minimal stand-in written for the tests (gateway_api_crds.yaml), not upstream's.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rayplane.kubernetes.testing.rest import apply
from tests.kubernetes.real_api import Cluster, condition, operator, path_of, run
from tests.kubernetes.test_real_workloads import _rayservice

pytestmark = pytest.mark.timeout(240)

CRDS = Path(__file__).with_name("gateway_api_crds.yaml")


class Serve:
    """Every cluster's Serve, as its dashboard answers: apps RUNNING at the capacity PUT."""

    def __init__(self) -> None:
        self.capacity: dict[str, int | None] = {}
        self.puts: list[tuple[str, int | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        cluster = request.url.host.split("-head-svc")[0]
        if request.url.path == "/-/healthz":
            return httpx.Response(200, text="success")
        if request.method == "PUT":
            capacity = json.loads(request.content).get("target_capacity")
            self.capacity[cluster] = capacity
            self.puts.append((cluster, capacity))
            return httpx.Response(200, json={})
        apps = {"app": {"name": "app", "status": "RUNNING", "message": "", "deployments": {}}}
        return httpx.Response(
            200,
            json={
                "applications": apps,
                "controller_info": {"node_id": "x"},
                "target_capacity": self.capacity.get(cluster),
            },
        )


def incremental(image: str) -> dict[str, Any]:
    doc = _rayservice(image)
    doc["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] = True
    doc["spec"]["upgradeStrategy"] = {
        "type": "NewClusterWithIncrementalUpgrade",
        "clusterUpgradeOptions": {
            "maxSurgePercent": 100,
            "stepSizePercent": 50,
            "intervalSeconds": 1,
            "gatewayClassName": "istio",
        },
    }
    return doc


def install_gateway_api(cluster: Cluster) -> None:
    for crd in yaml.safe_load_all(CRDS.read_text()):
        apply(cluster.admin, crd)


def test_gateway_and_weighted_httproute_follow_the_upgrade(kube_cluster: Cluster) -> None:
    install_gateway_api(kube_cluster)
    ns = kube_cluster.namespace("incr")
    serve = Serve()

    async def scenario() -> None:
        async with operator(ns, dashboard_transport=httpx.MockTransport(serve)):
            ns.create(incremental("rayproject/ray:2.60.0"))

            def weights() -> tuple[tuple[str, int], ...] | None:
                route = ns.get("httproutes", "svc-httproute")
                if route is None:
                    return None
                refs = route["spec"]["rules"][0]["backendRefs"]
                return tuple((r["name"], r["weight"]) for r in refs)

            def cluster_names() -> list[str]:
                return [c["metadata"]["name"] for c in ns.live("rayclusters")]

            first = (await ns.wait_for(cluster_names))[0]
            await ns.wait_for(lambda: len(ns.objects("pods")) >= 1)
            await ns.ready_pods()
            assert await ns.wait_for(weights, 90) == ((f"{first}-serve-svc", 100),)

            gateway = ns.get("gateways", "svc-gateway")
            assert gateway is not None
            assert gateway["spec"]["gatewayClassName"] == "istio"
            assert gateway["spec"]["listeners"] == [
                {"name": "http", "protocol": "HTTP", "port": 80}
            ]
            assert gateway["metadata"]["ownerReferences"][0]["kind"] == "RayService"
            route = ns.get("httproutes", "svc-httproute")
            assert route is not None
            assert route["spec"]["parentRefs"] == [{"name": "svc-gateway", "namespace": ns.name}]
            assert route["spec"]["rules"][0]["matches"] == [
                {"path": {"type": "PathPrefix", "value": "/"}}
            ]
            backend = route["spec"]["rules"][0]["backendRefs"][0]
            assert (backend["namespace"], backend["port"]) == (ns.name, 8000)
            assert ns.get("services", f"{first}-serve-svc") is not None

            current = ns.get("rayservices", "svc")
            assert current is not None
            updated = copy.deepcopy(current)
            updated["spec"] = incremental("rayproject/ray:2.60.0-py311")["spec"]
            ns.request("PUT", path_of("rayservices", ns.name, "svc"), updated)
            pending = await ns.wait_for(
                lambda: next((n for n in cluster_names() if n != first), None)
            )
            await ns.wait_for(lambda: len(ns.objects("pods", f"ray.io/cluster={pending}")) >= 1)
            await ns.ready_pods(f"ray.io/cluster={pending}")

            seen: list[tuple[int, ...]] = []

            def promoted() -> bool:
                found = weights()
                if found:
                    shares = tuple(w for _, w in found)
                    if not seen or seen[-1] != shares:
                        seen.append(shares)
                active = ns.status("rayservices", "svc").get("activeServiceStatus") or {}
                return active.get("rayClusterName") == pending

            await ns.wait_for(promoted, 150, interval=0.2)
            # The split moves in the configured steps, in order. Its last, 0/100, can last
            # less than one poll before the promotion replaces it (CI saw that), so it may
            # be missed here; tests/reconcile pins every step.
            steps = [(100, 0), (50, 50), (0, 100)]
            assert [s for s in seen if len(s) == 2] in (steps[:2], steps), seen
            assert await ns.wait_for(weights) == ((f"{pending}-serve-svc", 100),)
            # The pending cluster was started at 0 % and raised by maxSurgePercent; the old
            # one gave its capacity up last.
            assert (pending, 0) in serve.puts and (pending, 100) in serve.puts
            assert serve.puts.index((pending, 100)) < serve.puts.index((first, 0))
            status = ns.status("rayservices", "svc")
            assert status["activeServiceStatus"]["targetCapacity"] == 100
            assert status["activeServiceStatus"]["trafficRoutedPercent"] == 100
            upgrade = condition(status, "UpgradeInProgress")
            assert upgrade is not None and upgrade["status"] == "False"

    run(scenario)
