"""The local runtime serves ray.io/v1alpha1 as KubeRay 1.7's API server does: stored as v1."""

from __future__ import annotations

from pathlib import Path

from rayplane.local.controller import Controller
from rayplane.settings import LocalSettings


def test_a_v1alpha1_cluster_is_accepted_and_stored_as_v1(tmp_path: Path) -> None:
    ctl = Controller(LocalSettings(home=tmp_path / "h", temp_root=tmp_path / "t"))
    doc = {
        "apiVersion": "ray.io/v1alpha1",
        "kind": "RayCluster",
        "metadata": {"name": "old"},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head"}]}},
            },
        },
    }
    try:
        code, stored = ctl.handle("PUT", "/resources/RayCluster/default/old", {}, doc)
        assert code == 200, stored
        assert stored["apiVersion"] == "ray.io/v1"
        assert stored["spec"] == doc["spec"]
    finally:
        ctl.clusters.close()
        ctl.services.close()
        ctl.store.close()
