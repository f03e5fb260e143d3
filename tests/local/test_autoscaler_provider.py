"""Ray's KubeRay cloud provider against the store-backed Kubernetes API, without Ray processes.

The local autoscaler is Ray's own; what rayplane adds is the API it talks to. These tests
drive Ray's ``KubeRayProvider`` (the class the v2 autoscaler uses on Kubernetes) through
:class:`StoreKubeApi` and check the KubeRay contract lands in the stored RayCluster:
launches raise ``replicas``, terminations list the victims in ``workersToDelete``, no new
scale operation while a listed node exists, and the list is cleared once it is gone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from rayplane.local.loopback import CLUSTER_SWITCH_ENV
from rayplane.local.store import Store, StoredNode

os.environ.setdefault(CLUSTER_SWITCH_ENV, "0")  # before Ray is imported, as the process does

from ray.autoscaler.v2.instance_manager.cloud_providers.kuberay.cloud_provider import (
    KubeRayProvider,
)
from ray.autoscaler.v2.instance_manager.node_provider import (
    LaunchNodeError,
    NodeKind,
)

from rayplane.local.autoscaler_kubeapi import ApiError, StoreKubeApi, with_crd_defaults
from rayplane.local.autoscaler_summary import infeasible_summary

NS, NAME = "default", "auto"


def _template() -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.60.0"}]}}


def _doc() -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "enableInTreeAutoscaling": True,
            "headGroupSpec": {"rayStartParams": {"num-cpus": "0"}, "template": _template()},
            "workerGroupSpecs": [
                {
                    "groupName": "small",
                    "maxReplicas": 3,
                    "rayStartParams": {"num-cpus": "1"},
                    "template": _template(),
                }
            ],
        },
    }


def _node(store: Store, uid: str, name: str, group: str, kind: str = "worker") -> None:
    me = psutil.Process()
    store.add_node(
        StoredNode(
            name=name,
            cluster_uid=uid,
            group=group,
            kind=kind,
            pid=me.pid,  # a live process: the "container" is running
            create_time=me.create_time(),
            ports={},
            temp_dir="/nonexistent",
            log_path="/nonexistent",
            created=time.time(),
        )
    )


@pytest.fixture
def cluster(tmp_path: Path) -> tuple[Store, str, list[list[str]]]:
    store = Store(tmp_path / "state.db")
    uid = store.put("RayCluster", NS, NAME, _doc()).uid
    _node(store, uid, "auto-head-x", "headgroup", "head")
    return store, uid, []


def _provider(store: Store, uid: str, said: list[list[str]]) -> KubeRayProvider:
    api = StoreKubeApi(store, uid, said.append)
    config = {"namespace": NS, "head_node_type": "headgroup"}
    return KubeRayProvider(NAME, config, gcs_client=None, k8s_api_client=api)


def _group(store: Store, uid: str) -> dict[str, Any]:
    stored = store.get_by_uid(uid)
    assert stored is not None
    group: dict[str, Any] = stored.body["spec"]["workerGroupSpecs"][0]
    return group


def _generation(store: Store, uid: str) -> int:
    stored = store.get_by_uid(uid)
    assert stored is not None
    return stored.generation


def test_the_api_serves_crd_defaults_and_nodes_as_pods(
    cluster: tuple[Store, str, list[list[str]]],
) -> None:
    store, uid, said = cluster
    _node(store, uid, "auto-small-worker-a", "small")
    api = StoreKubeApi(store, uid, said.append)
    got = api.get(f"rayclusters/{NAME}")
    group = got["spec"]["workerGroupSpecs"][0]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (0, 0, 3)
    assert "replicas" not in _group(store, uid)  # the stored body stays as written
    pods = {p["metadata"]["name"]: p for p in api.get("pods?labelSelector=x")["items"]}
    assert pods["auto-head-x"]["metadata"]["labels"]["ray.io/node-type"] == "head"
    assert pods["auto-small-worker-a"]["metadata"]["labels"]["ray.io/group"] == "small"
    assert "running" in pods["auto-small-worker-a"]["status"]["containerStatuses"][0]["state"]
    with pytest.raises(ApiError):
        api.patch(f"rayclusters/{NAME}", {"spec": {"suspend": True}}, "merge")
    with pytest.raises(ApiError):
        api.patch(f"rayclusters/{NAME}", [{"op": "replace", "path": "/spec/suspend", "value": 1}])
    with pytest.raises(ApiError):
        api.delete(f"rayclusters/{NAME}")
    # idleTerminationOptions policy Suspend: Ray's autoscaler merge-patches idleSuspend.
    got = api.patch(f"rayclusters/{NAME}", {"spec": {"idleSuspend": True}}, "merge")
    assert got["spec"]["idleSuspend"] is True
    assert said[-1] == [
        "spec.idleSuspend: true (no driver for idleTerminationOptions.timeoutSeconds)"
    ]
    assert with_crd_defaults({"spec": {}})["spec"]["headGroupSpec"]["rayStartParams"] == {}


def test_kuberay_provider_scales_through_the_store(
    cluster: tuple[Store, str, list[list[str]]],
) -> None:
    store, uid, said = cluster
    provider = _provider(store, uid, said)
    generation = _generation(store, uid)

    provider.launch({"small": 2}, "launch-1")
    assert _group(store, uid)["replicas"] == 2
    assert said[-1] == ["small: replicas 0 -> 2"]
    assert _generation(store, uid) == generation + 1  # a spec write, like a JSON patch

    # The reconciler made the two nodes; Ray drained one and terminates it.
    _node(store, uid, "auto-small-worker-a", "small")
    _node(store, uid, "auto-small-worker-b", "small")
    instances = provider.get_non_terminated()
    assert instances["auto-head-x"].node_kind == NodeKind.HEAD
    assert {i.node_type for i in instances.values()} == {"headgroup", "small"}
    provider.terminate(["auto-small-worker-a"], "terminate-1")
    group = _group(store, uid)
    assert group["replicas"] == 1
    assert group["scaleStrategy"] == {"workersToDelete": ["auto-small-worker-a"]}

    # While the listed node exists, no new scale operation: the launch is an error.
    provider.launch({"small": 1}, "launch-2")
    assert _group(store, uid)["replicas"] == 1
    assert any(isinstance(e, LaunchNodeError) for e in provider.poll_errors())

    # Once it is gone, the next scale operation clears the list.
    store.remove_node("auto-small-worker-a")
    provider.launch({"small": 1}, "launch-3")
    group = _group(store, uid)
    assert group["replicas"] == 2
    assert group["scaleStrategy"] == {"workersToDelete": []}
    assert "small: workersToDelete cleared" in said[-1]


def test_launches_are_capped_at_max_replicas(
    cluster: tuple[Store, str, list[list[str]]],
) -> None:
    store, uid, said = cluster
    provider = _provider(store, uid, said)
    provider.launch({"small": 5}, "launch-1")
    assert _group(store, uid)["replicas"] == 3
    errors = provider.poll_errors()
    assert [e.count for e in errors if isinstance(e, LaunchNodeError)] == [2]


def test_infeasible_requests_are_summarised_by_shape() -> None:
    from ray.core.generated.autoscaler_pb2 import AutoscalingState, ResourceRequest

    state = AutoscalingState()
    for _ in range(3):
        request = ResourceRequest()
        request.resources_bundle["CPU"] = 1
        request.resources_bundle["unobtainium"] = 1
        state.infeasible_resource_requests.append(request)
    assert infeasible_summary(state) == [
        {"shape": {"CPU": 1.0, "unobtainium": 1.0}, "count": 3, "source": "tasks/actors"}
    ]
    assert infeasible_summary(None) == []


def test_ray_derives_the_config_from_the_stored_cluster(tmp_path: Path) -> None:
    """autoscalerOptions and per-group settings reach Ray's config by Ray's own rules."""
    from ray.autoscaler._private.kuberay.autoscaling_config import (
        _derive_autoscaling_config_from_ray_cr,
    )

    doc = _doc()
    doc["spec"]["autoscalerOptions"] = {
        "idleTimeoutSeconds": 15,
        "upscalingMode": "Conservative",
        "version": "v2",
    }
    doc["spec"]["workerGroupSpecs"][0].update(
        {
            "idleTimeoutSeconds": 30,
            "minReplicas": 1,
            "rayStartParams": {"num-cpus": "1", "resources": '"{\\"Graviton\\": 1}"'},
            "labels": {"arch": "arm64"},
        }
    )
    store = Store(tmp_path / "state.db")
    uid = store.put("RayCluster", NS, NAME, doc).uid
    config = _derive_autoscaling_config_from_ray_cr(
        StoreKubeApi(store, uid, lambda _: None).get(f"rayclusters/{NAME}")
    )
    assert config["idle_timeout_minutes"] == 0.25
    assert config["upscaling_speed"] == 1
    small = config["available_node_types"]["small"]
    assert (small["min_workers"], small["max_workers"], small["idle_timeout_s"]) == (1, 3, 30)
    assert small["resources"] == {"CPU": 1, "Graviton": 1}
    assert small["labels"] == {"arch": "arm64"}
    assert config["head_node_type"] == "headgroup"


def test_autoscaler_env_carries_autoscaler_options_env(tmp_path: Path) -> None:
    from rayplane.api.raycluster import RayCluster
    from rayplane.local.autoscaler import autoscaler_env
    from rayplane.settings import LocalSettings

    doc = _doc()
    doc["spec"]["autoscalerOptions"] = {
        "env": [
            {"name": "AUTOSCALER_UPDATE_INTERVAL_S", "value": "2"},
            {"name": "WHO", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ]
    }
    store = Store(tmp_path / "state.db")
    stored = store.put("RayCluster", NS, NAME, doc)
    env = autoscaler_env(
        stored, RayCluster.model_validate(stored.document()), LocalSettings(home=tmp_path)
    )
    assert env["AUTOSCALER_UPDATE_INTERVAL_S"] == "2"
    assert env["WHO"] == NS
    assert (env["RAY_CLUSTER_NAME"], env["RAY_CLUSTER_NAMESPACE"]) == (NAME, NS)
    assert env["RAYPLANE_HOME"] == str(tmp_path)


def test_an_apply_during_a_patch_waits_for_it_and_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from rayplane.local import autoscaler_kubeapi

    store = Store(tmp_path / "state.db")
    controller_side = Store(tmp_path / "state.db")  # the controller's own connection
    uid = store.put("RayCluster", NS, NAME, _doc()).uid
    api = StoreKubeApi(store, uid, lambda _: None)
    edited = _doc()
    edited["spec"]["workerGroupSpecs"][0]["maxReplicas"] = 7
    user_apply = threading.Thread(target=controller_side.put, args=("RayCluster", NS, NAME, edited))
    real = autoscaler_kubeapi._apply_patch

    def slow(body: dict[str, Any], payload: list[dict[str, Any]]) -> list[str]:
        said = real(body, payload)
        user_apply.start()  # a user's apply arrives while the patch is being written
        time.sleep(0.5)
        return said

    monkeypatch.setattr(autoscaler_kubeapi, "_apply_patch", slow)
    api.patch(
        f"rayclusters/{NAME}",
        [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 2}],
    )
    user_apply.join(timeout=30)
    # The apply waited for the patch's transaction and then landed: the user's maxReplicas
    # is not undone by the autoscaler's write (a read-then-write would have lost it).
    group = store.get("RayCluster", NS, NAME).body["spec"]["workerGroupSpecs"][0]  # type: ignore[union-attr]
    assert group["maxReplicas"] == 7


def test_a_patch_with_one_bad_operation_writes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    uid = store.put("RayCluster", NS, NAME, _doc()).uid
    api = StoreKubeApi(store, uid, lambda _: None)
    generation = _generation(store, uid)
    with pytest.raises(ApiError):
        api.patch(
            f"rayclusters/{NAME}",
            [
                {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 3},
                {"op": "replace", "path": "/spec/suspend", "value": True},
            ],
        )
    group = store.get("RayCluster", NS, NAME).body["spec"]["workerGroupSpecs"][0]  # type: ignore[union-attr]
    assert group.get("replicas") != 3 and _generation(store, uid) == generation
