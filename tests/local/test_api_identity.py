"""A write's URL and body name one object, and no identity reaches outside the home.

The attack this guards against: `PUT /resources/Secret/../..` with a body named `ok` was
stored as namespace `..`, name `..`, and deleting a RayCluster so stored removed
`home/logs/../..`, the folder holding the home.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rayplane.local.controller import Controller
from rayplane.settings import LocalSettings
from tests.support import wait_for

from .apisocket import request, serving


def cluster(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": meta,
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "ray"}]}},
            }
        },
    }


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A folder holding only a home and one file beside it that must survive."""
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "keep.txt").write_text("precious")
    return tmp_path / "scratch"


@pytest.fixture
def home_controller(scratch: Path) -> Any:
    ctl = Controller(LocalSettings(home=scratch / "home", temp_root=scratch / "t"))
    yield ctl
    ctl.clusters.close()
    ctl.services.close()
    ctl.store.close()


def test_a_put_whose_url_disagrees_with_its_body_is_refused(home_controller: Controller) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ok"}}
    with serving(home_controller.handle) as sock:
        code, body = request(sock, "PUT", "/resources/Secret/../..", secret)
        assert code == 400
        assert "metadata.name" in body["message"] and "'ok'" in body["message"]
        # A body that agrees with the bad URL is refused for the names themselves.
        forged = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "..", "namespace": ".."},
        }
        code, body = request(sock, "PUT", "/resources/Secret/../..", forged)
        assert code == 422
        assert {f["path"] for f in body["findings"]} == {"metadata.name", "metadata.namespace"}
        code, body = request(sock, "PUT", "/resources/RayCluster/default/a", cluster("b"))
        assert code == 400 and "metadata.name" in body["message"]
        code, body = request(sock, "PUT", "/resources/RayCluster/default/a", cluster("a", "other"))
        assert code == 400 and "metadata.namespace" in body["message"]
        # The agreeing write goes through; an unset namespace takes the URL's.
        code, body = request(sock, "PUT", "/resources/RayCluster/default/a", cluster("a"))
        assert code == 200 and body["metadata"]["namespace"] == "default"
    assert [(r.kind, r.namespace, r.name) for r in home_controller.store.resources()] == [
        ("RayCluster", "default", "a")
    ]


def test_deleting_a_forged_row_removes_nothing_outside_the_home(
    home_controller: Controller, scratch: Path
) -> None:
    # Another cluster's logs: with home/logs present, home/logs/../.. is the scratch folder.
    (scratch / "home" / "logs" / "default" / "c1").mkdir(parents=True)
    # A row that skipped the API (an old store, a hand-edited database).
    stored = home_controller.store.put("RayCluster", "..", "..", cluster(".."))
    home_controller.store.mark_deleting("RayCluster", "..", "..")
    home_controller.reconcile_all()
    assert (scratch / "keep.txt").read_text() == "precious"
    assert (scratch / "home" / "state.db").exists()
    assert (scratch / "home" / "logs" / "default" / "c1").is_dir()
    # The delete still finishes: nothing was ever created for it under the home.
    assert home_controller.store.get_by_uid(stored.uid) is None


def test_a_node_row_pointing_outside_the_temp_root_is_forgotten_without_removing_it(
    home_controller: Controller, scratch: Path
) -> None:
    import time

    from rayplane.local.store import StoredNode

    outside = scratch / "not-a-node"
    outside.mkdir()
    (outside / "data").write_text("precious")
    stored = home_controller.store.put("RayCluster", "default", "c", cluster("c"))
    home_controller.store.add_node(
        StoredNode(
            name="c-head",
            cluster_uid=stored.uid,
            group="headgroup",
            kind="head",
            pid=None,
            create_time=None,
            ports={},
            temp_dir=str(outside),
            log_path=str(outside / "log"),
            created=time.time(),
            deleting=time.time(),
        )
    )
    home_controller.store.mark_deleting("RayCluster", "default", "c")

    def deleted() -> bool:  # the stop runs in the background; a few passes see it done
        home_controller.reconcile_all()
        return home_controller.store.get_by_uid(stored.uid) is None

    wait_for(deleted, 30, "the cluster's delete to finish", interval=0.1)
    assert (outside / "data").read_text() == "precious"
