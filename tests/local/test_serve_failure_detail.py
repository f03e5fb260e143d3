"""The local RayService controller tells a failed Serve app on one line and keeps the rest.

The Serve API answers with a real Ray 2.60 body (tests/reconcile/serve_messages/): KubeRay's
ray-service.different-port.yaml, whose working_dir cannot be fetched. Nothing else is
faked: the store, the controller's passes and its detail document are the real ones; only
the dashboard is an httpx MockTransport.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from rayplane.clients.serve_api import ServeClient
from rayplane.local.controller import Controller
from rayplane.local.raycluster_describe import REGISTERED
from rayplane.local.store import StoredNode, StoredResource

MESSAGES = Path(__file__).parents[1] / "reconcile" / "serve_messages"
SAMPLE = yaml.safe_load(
    """
apiVersion: ray.io/v1
kind: RayService
metadata: {name: fruit, namespace: default}
spec:
  serveConfigV2: |
    applications:
      - name: fruit_app
        import_path: fruit.deployment_graph
        route_prefix: /fruit
        runtime_env:
          working_dir: "https://github.com/ray-project/test_dag/archive/78b4a5da38796123d9f9ffff59bab2792a043e95.zip"
  rayClusterConfig:
    rayVersion: '2.60.0'
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers: [{name: ray-head, image: rayproject/ray:2.60.0}]
"""
)


class FakeDashboard:
    """The head's dashboard: Serve's applications as captured, PUTs counted."""

    def __init__(self) -> None:
        self.body = json.loads((MESSAGES / "kuberay-different-port.json").read_text())
        self.puts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/serve/applications/" and request.method == "PUT":
            self.puts += 1
            return httpx.Response(200)
        if request.url.path == "/api/serve/applications/":
            return httpx.Response(200, json=self.body)
        return httpx.Response(503)  # the Serve proxy's /-/healthz: not serving


def _service(controller: Controller) -> StoredResource:
    stored = controller.store.get("RayService", "default", "fruit")
    assert stored is not None
    return stored


def _bring_up_head(controller: Controller, cluster: StoredResource, tmp_path: Path) -> None:
    """The cluster's head as the RayCluster controller leaves it once Ray registered it."""
    status = {
        "state": "ready",
        "endpoints": {"dashboard": "8265"},
        "conditions": [
            {"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady"}
        ],
    }
    controller.store.set_status(cluster.uid, status)
    controller.store.set_runtime_state(cluster.uid, {"head_ports": {"serve": 8000}})
    controller.store.add_node(
        StoredNode(
            name=f"{cluster.name}-head-abcde",
            cluster_uid=cluster.uid,
            group="headgroup",
            kind="head",
            pid=None,
            create_time=None,
            ports={"dashboard": 8265, "serve": 8000},
            temp_dir=str(tmp_path / "t"),
            log_path=str(tmp_path / "head.log"),
            created=time.time(),
            info={"why": REGISTERED},
        )
    )


def _passes(controller: Controller, count: int) -> None:
    for _ in range(count):
        controller.services.reconcile(_service(controller))


def _detail(controller: Controller) -> dict[str, Any]:
    detail = controller._detail(_service(controller).uid)
    assert detail is not None
    return detail


def test_failed_app_is_one_line_in_the_detail_and_whole_in_the_log(
    controller: Controller, tmp_path: Path
) -> None:
    dashboard = FakeDashboard()
    controller.services._serve = ServeClient(transport=httpx.MockTransport(dashboard))
    controller.store.put("RayService", "default", "fruit", SAMPLE)
    _passes(controller, 1)  # names and creates the pending cluster
    pending = _service(controller).status["pendingServiceStatus"]["rayClusterName"]  # type: ignore[index]
    cluster = controller.store.get("RayCluster", "default", pending)
    assert cluster is not None
    # Node progress: the pending cluster's nodes, while nothing is active yet.
    _bring_up_head(controller, cluster, tmp_path)
    assert [n["name"] for n in _detail(controller)["local"]["nodes"]] == [f"{pending}-head-abcde"]

    _passes(controller, 1)  # puts the config; the apps it read are the old config's
    assert dashboard.puts == 1
    assert _detail(controller)["local"]["serveFailure"] is None
    _passes(controller, 2)  # reads the failure; the second pass logs nothing new

    local = _detail(controller)["local"]
    assert local["serveFailure"] == (
        "app fruit_app: DEPLOY_FAILED: runtime env setup failed: "
        "requests.exceptions.ConnectionError: cannot fetch https://github.com/ray-project/"
        "test_dag/archive/78b4a5da38796123d9f9ffff59bab2792a043e95.zip: Failed to resolve "
        "'github.com' ([Errno -2] Name or service not known); "
        "full text: rayplane logs rayservice/fruit"
    )
    warnings = [e for e in local["events"] if e["type"] == "Warning"]
    assert [(e["reason"], e["message"]) for e in warnings] == [
        ("ServeAppFailed", local["serveFailure"].split("; full text")[0])
    ]
    log = Path(local["serveFailureLog"])
    assert log == controller.settings.home / "logs" / "default" / "fruit" / "serve-failures.log"
    text = log.read_text()
    assert text.count("=== ") == 1, "a failure seen pass after pass is logged once"
    assert f"RayCluster {pending}, generation 1" in text
    assert "ray.exceptions.RuntimeEnvSetupError: Failed to set up runtime environment." in text
    # describe's Serve table gets the same cause per app, not the traceback.
    apps = local["serve"]["pending"]["applications"]
    assert apps["fruit_app"]["failure"].startswith("runtime env setup failed: requests.")


def test_a_new_generation_hides_the_old_failure_until_it_fails_again(
    controller: Controller, tmp_path: Path
) -> None:
    dashboard = FakeDashboard()
    controller.services._serve = ServeClient(transport=httpx.MockTransport(dashboard))
    controller.store.put("RayService", "default", "fruit", SAMPLE)
    _passes(controller, 1)
    pending = _service(controller).status["pendingServiceStatus"]["rayClusterName"]  # type: ignore[index]
    cluster = controller.store.get("RayCluster", "default", pending)
    assert cluster is not None
    _bring_up_head(controller, cluster, tmp_path)
    _passes(controller, 2)
    assert _detail(controller)["local"]["serveFailure"]

    fixed = json.loads(json.dumps(SAMPLE))
    fixed["spec"]["serveConfigV2"] = fixed["spec"]["serveConfigV2"].replace("/fruit", "/fruits")
    controller.store.put("RayService", "default", "fruit", fixed)
    # The user who just applied the fix is not told the old config failed.
    assert _detail(controller)["local"]["serveFailure"] is None
    _passes(controller, 1)  # puts the new config
    assert dashboard.puts == 2
    assert _detail(controller)["local"]["serveFailure"] is None
    dashboard.body["applications"]["fruit_app"]["status"] = "DEPLOYING"
    _passes(controller, 1)
    assert _detail(controller)["local"]["serveFailure"] is None
    # The log keeps the first generation's failure.
    assert "generation 1" in Path(_detail(controller)["local"]["serveFailureLog"]).read_text()


JOB = yaml.safe_load(
    """
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: pipeline, namespace: default}
spec:
  entrypoint: python -c "print(1)"
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers: [{name: ray-head, image: rayproject/ray:2.60.0}]
"""
)


def test_a_rayjobs_detail_shows_its_clusters_nodes_as_they_come_up(
    controller: Controller, tmp_path: Path
) -> None:
    controller.store.put("RayJob", "default", "pipeline", JOB)
    stored = controller.store.get("RayJob", "default", "pipeline")
    assert stored is not None
    cluster = None
    for _ in range(3):  # New, then Initializing creates the cluster
        controller.jobs.reconcile(stored)
        stored = controller.store.get("RayJob", "default", "pipeline")
        assert stored is not None and stored.status is not None
        name = stored.status.get("rayClusterName")
        cluster = controller.store.get("RayCluster", "default", name) if name else None
        if cluster is not None:
            break
    assert cluster is not None
    _bring_up_head(controller, cluster, tmp_path)
    detail = controller._detail(stored.uid)
    assert detail is not None
    (row,) = detail["local"]["nodes"]
    # The same row shape as a RayCluster's detail.
    cluster_detail = controller._detail(cluster.uid)
    assert cluster_detail is not None
    assert row == cluster_detail["local"]["nodes"][0]
    assert row["name"] == f"{cluster.name}-head-abcde" and row["kind"] == "head"
