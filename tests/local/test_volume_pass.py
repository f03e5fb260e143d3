"""A RayCluster pass with Pod volumes: what the node is started with and what it records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rayplane.api.k8s import PodTemplateSpec
from rayplane.local import sandbox
from rayplane.local.fake_launcher import FakeLauncher
from rayplane.local.node_view import (
    remove_submitter_view,
    submitter_view,
    view_from_json,
    view_to_json,
)
from rayplane.local.notes import apply_notes
from rayplane.local.raycluster_controller import RayClusterController
from rayplane.local.store import Store, StoredNode
from rayplane.settings import LocalSettings

NS = "default"


def cluster() -> dict[str, Any]:
    container = {
        "name": "ray-head",
        "image": "rayproject/ray:2.60.0",
        "volumeMounts": [
            {"name": "code", "mountPath": "/home/ray/samples"},
            {"name": "gcs", "mountPath": "/gcs"},
        ],
    }
    volumes = [
        {"name": "code", "configMap": {"name": "code"}},
        {"name": "gcs", "csi": {"driver": "gcsfuse.csi.storage.gke.io"}},
    ]
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "vol"},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [container], "volumes": volumes}},
            }
        },
    }


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[RayClusterController, Store, FakeLauncher]]:
    store = Store(tmp_path / "home" / "state.db")
    launcher = FakeLauncher()
    settings = LocalSettings(
        home=tmp_path / "home", temp_root=tmp_path / "t", local_autoscaler=False
    )
    controller = RayClusterController(settings, store, launcher)
    store.put("RayCluster", NS, "vol", cluster())
    yield controller, store, launcher
    controller.close()
    store.close()


def head(controller: RayClusterController, store: Store) -> StoredNode:
    stored = store.get("RayCluster", NS, "vol")
    assert stored is not None
    controller.reconcile(stored)
    (node,) = store.nodes(stored.uid)
    return node


def test_the_head_waits_for_its_configmap_then_starts_in_its_view(
    setup: tuple[RayClusterController, Store, FakeLauncher], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "unavailable", lambda: "")
    controller, store, launcher = setup
    node = head(controller, store)
    assert node.pid is None
    assert (
        'FailedMount: headGroupSpec.template.spec.volumes[code]: configmap "code" not found'
        in node.info["why"]
    )
    store.put(
        "ConfigMap",
        NS,
        "code",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "code"},
            "data": {"a.py": "x"},
        },
    )
    node = head(controller, store)
    assert node.pid is not None
    (view,) = launcher.views
    assert view is not None
    assert [b.target for b in view.binds] == ["/home/ray", "/home/ray/samples"]
    assert view.working_dir == "/home/ray"
    assert any(m.endswith("-> /home/ray/samples (ro)") for m in node.info["mounts"])
    assert "csi volume" in node.info["mountsMissing"][0]
    described = controller.describe_node(node)
    assert described["mounts"] == node.info["mounts"]


def test_without_bwrap_the_head_starts_and_says_which_mounts_are_missing(
    setup: tuple[RayClusterController, Store, FakeLauncher], monkeypatch: pytest.MonkeyPatch
) -> None:
    why = f"bubblewrap (bwrap) is not installed; install it: {sandbox.FIX}"
    monkeypatch.setattr(sandbox, "unavailable", lambda: why)
    controller, store, launcher = setup
    node = head(controller, store)
    assert node.pid is not None and launcher.views == [None]
    missing = " ".join(node.info["mountsMissing"])
    assert "/home/ray/samples" in missing and "apt-get install -y bubblewrap" in missing
    _, notes = apply_notes(cluster())
    assert any(
        "volumes are not mounted" in n and "apt-get install -y bubblewrap" in n for n in notes
    )
    assert any("csi volume" in n for n in notes)


def test_a_submitter_template_with_volumes_gets_a_view_that_survives_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "unavailable", lambda: "")
    store = Store(tmp_path / "home" / "state.db")
    settings = LocalSettings(home=tmp_path / "home", temp_root=tmp_path / "t")
    store.put(
        "ConfigMap",
        NS,
        "code",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "code"},
            "data": {"a.py": "x"},
        },
    )
    job = store.put(
        "RayJob",
        NS,
        "job",
        {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "job"}, "spec": {}},
    )
    template = PodTemplateSpec.model_validate(
        {
            "spec": {
                "containers": [
                    {"name": "s", "volumeMounts": [{"name": "code", "mountPath": "/code"}]}
                ],
                "volumes": [{"name": "code", "configMap": {"name": "code"}}],
            }
        }
    )
    view = submitter_view(settings, store, job, template)
    assert view is not None and [b.target for b in view.binds] == ["/home/ray", "/code"]
    raw = view_to_json(view)
    assert view_from_json(json.loads(json.dumps(raw))) == view
    assert raw is not None
    remove_submitter_view(settings, raw)
    assert not (tmp_path / "home" / "volumes" / NS / "job").exists()
    plain = PodTemplateSpec.model_validate({"spec": {"containers": [{"name": "s"}]}})
    assert submitter_view(settings, store, job, plain) is None  # runs as before
    store.close()


def test_a_crashed_head_is_replaced_with_the_same_claim_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "unavailable", lambda: "")
    store = Store(tmp_path / "home" / "state.db")
    launcher = FakeLauncher()
    settings = LocalSettings(
        home=tmp_path / "home", temp_root=tmp_path / "t", local_autoscaler=False
    )
    controller = RayClusterController(settings, store, launcher)
    doc = cluster()
    pod_spec = doc["spec"]["headGroupSpec"]["template"]["spec"]
    pod_spec["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    pod_spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "db"}}]
    store.put("RayCluster", NS, "vol", doc)
    first = head(controller, store)
    assert first.pid is not None
    view = launcher.views[0]
    assert view is not None
    claim = Path(view.binds[1].source)
    (claim / "rocksdb").write_text("kept")
    launcher.crash(first.pid)
    stored = store.get("RayCluster", NS, "vol")
    assert stored is not None
    for _ in range(20):
        controller.reconcile(stored)
        controller.teardown.wait_for_stops()
        nodes = store.nodes(stored.uid)
        if nodes and nodes[0].name != first.name and nodes[0].pid is not None:
            break
    else:
        raise AssertionError("the head was not replaced")
    second = launcher.views[-1]
    assert second is not None and second.binds[1].source == str(claim)
    assert (claim / "rocksdb").read_text() == "kept"
    assert not (tmp_path / "home" / "volumes" / NS / "vol" / "nodes" / first.name).exists()
    controller.close()
    store.close()
