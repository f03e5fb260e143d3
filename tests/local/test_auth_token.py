"""Token auth on the local runtime: the Secret, the nodes' env, and what describe says.

The e2e (tests/e2e/test_local_auth.py) shows Ray refusing a request without the token;
these show, without Ray, that every node of a cluster gets the token, that it is made and
removed as KubeRay makes and removes it, and that opting out is explicit.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rayplane.api.raycluster import RayCluster
from rayplane.local.auth_token import auth_summary, ensure_secret, token_of
from rayplane.local.configrefs import ConfigError, StoreConfigs
from rayplane.local.controller import Controller
from rayplane.local.env import node_environment
from rayplane.local.fake_launcher import FakeLauncher
from rayplane.local.raycluster_controller import RayClusterController
from rayplane.local.store import Store, StoredResource
from rayplane.settings import LocalSettings

NS = "default"


def cluster_doc(name: str = "tok", auth: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "rayVersion": "2.60.0",
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {"spec": {"containers": [{"name": "ray-head", "image": "ray"}]}},
        },
        "workerGroupSpecs": [
            {
                "groupName": "small",
                "replicas": 1,
                "minReplicas": 0,
                "maxReplicas": 2,
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "w", "image": "ray"}]}},
            }
        ],
    }
    if auth is not None:
        spec["authOptions"] = auth
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home" / "state.db")
    yield s
    s.close()


def put(store: Store, doc: dict[str, Any]) -> tuple[StoredResource, RayCluster]:
    stored = store.put("RayCluster", NS, doc["metadata"]["name"], copy.deepcopy(doc))
    return stored, RayCluster.model_validate(stored.document())


def secret_value(store: Store, name: str) -> str:
    found = store.get("Secret", NS, name)
    assert found is not None, f"no Secret {name}"
    return base64.b64decode(found.body["data"]["auth_token"]).decode()


def env_of(
    store: Store, stored: StoredResource, cluster: RayCluster, tmp_path: Path, worker: bool
) -> dict[str, str]:
    group = cluster.spec.worker_group_specs[0] if worker else None
    settings = LocalSettings(home=tmp_path / "home")
    return node_environment(
        stored, cluster, group, "n", "127.0.0.1:1", settings, StoreConfigs(store)
    )


def test_a_cluster_without_auth_options_gets_a_generated_secret_as_kubeRay_names_it(
    store: Store,
) -> None:
    stored, cluster = put(store, cluster_doc("9-tok"))  # CheckName: a leading digit -> r
    assert ensure_secret(store, stored, cluster.spec) is True
    secret = store.get("Secret", NS, "r-tok")
    assert secret is not None
    meta = secret.body["metadata"]
    assert meta["labels"] == {"ray.io/cluster": "9-tok"}
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("RayCluster", "9-tok", stored.uid)
    token = secret_value(store, "r-tok")
    # generateRandomToken(32): standard base64 of 32 random bytes.
    assert len(base64.b64decode(token, validate=True)) == 32
    # A second pass keeps the token: nodes already started with it.
    assert ensure_secret(store, stored, cluster.spec) is False
    assert secret_value(store, "r-tok") == token
    # Two clusters never share a token.
    other, other_cluster = put(store, cluster_doc("other"))
    ensure_secret(store, other, other_cluster.spec)
    assert secret_value(store, "other") != token


def test_every_node_gets_token_mode_and_the_token_and_the_user_env_wins(
    store: Store, tmp_path: Path
) -> None:
    stored, cluster = put(store, cluster_doc())
    ensure_secret(store, stored, cluster.spec)
    token = secret_value(store, "tok")
    for worker in (False, True):
        env = env_of(store, stored, cluster, tmp_path, worker)
        assert env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_AUTH_TOKEN"] == token
    doc = cluster_doc()
    doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_AUTH_TOKEN", "value": "mine"}
    ]
    stored, cluster = put(store, doc)
    env = env_of(store, stored, cluster, tmp_path, False)
    assert (env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN"]) == ("token", "mine")


def test_mode_disabled_is_the_opt_out_no_secret_no_token(store: Store, tmp_path: Path) -> None:
    stored, cluster = put(store, cluster_doc(auth={"mode": "disabled"}))
    assert ensure_secret(store, stored, cluster.spec) is False
    assert store.get("Secret", NS, "tok") is None
    env = env_of(store, stored, cluster, tmp_path, False)
    assert "RAY_AUTH_TOKEN" not in env and "RAY_AUTH_MODE" not in env  # loopback default
    assert token_of(store, stored) is None
    assert auth_summary(stored) == {"mode": "disabled"}


def test_a_secret_name_is_read_not_generated_and_a_missing_one_holds_the_node(
    store: Store, tmp_path: Path
) -> None:
    stored, cluster = put(store, cluster_doc(auth={"mode": "token", "secretName": "mine"}))
    assert ensure_secret(store, stored, cluster.spec) is False
    with pytest.raises(ConfigError, match='secret "mine" not found'):
        env_of(store, stored, cluster, tmp_path, False)
    store.put(
        "Secret",
        NS,
        "mine",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "mine"},
            "data": {"auth_token": base64.b64encode(b"given").decode()},
        },
    )
    assert env_of(store, stored, cluster, tmp_path, False)["RAY_AUTH_TOKEN"] == "given"
    assert token_of(store, stored) == "given"
    assert auth_summary(stored) == {
        "mode": "token",
        "secret": "mine",
        "key": "auth_token",
        "namespace": NS,
    }


def test_the_controller_makes_the_secret_before_any_node_and_removes_it_with_the_cluster(
    store: Store, tmp_path: Path
) -> None:
    launcher = FakeLauncher(ready=True)
    settings = LocalSettings(
        home=tmp_path / "home", temp_root=tmp_path / "t", local_autoscaler=False
    )
    clusters = RayClusterController(settings, store, launcher)
    try:
        given = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "kept"},
            "data": {"auth_token": base64.b64encode(b"x").decode()},
        }
        store.put("Secret", NS, "kept", given)  # a user's Secret, not owned: it stays
        stored, _ = put(store, cluster_doc())
        clusters.reconcile(stored)
        token = secret_value(store, "tok")
        assert launcher.envs and all(e["RAY_AUTH_TOKEN"] == token for e in launcher.envs)
        assert any(
            e["reason"] == "CreatedAuthSecret" and token not in e["message"]
            for e in store.events(stored.uid)
        )
        store.mark_deleting("RayCluster", NS, "tok")
        for _ in range(20):
            current = store.get("RayCluster", NS, "tok")
            if current is None:
                break
            clusters.reconcile(current)
            clusters.teardown.wait_for_stops()
        assert store.get("RayCluster", NS, "tok") is None
        assert store.get("Secret", NS, "tok") is None
        assert store.get("Secret", NS, "kept") is not None
    finally:
        clusters.close()


def test_the_store_that_holds_the_token_is_owner_only(store: Store) -> None:
    stored, cluster = put(store, cluster_doc())
    ensure_secret(store, stored, cluster.spec)
    for path in store.path.parent.glob("state.db*"):
        assert path.stat().st_mode & 0o077 == 0, path
    assert store.path.parent.stat().st_mode & 0o077 == 0


def test_describe_names_the_secret_and_never_the_token(tmp_path: Path) -> None:
    ctl = Controller(LocalSettings(home=tmp_path / "h", temp_root=tmp_path / "t"))
    try:
        code, _ = ctl.handle("PUT", "/resources/RayCluster/default/tok", {}, cluster_doc())
        assert code == 200
        stored = ctl.store.get("RayCluster", NS, "tok")
        assert stored is not None
        ensure_secret(ctl.store, stored, RayCluster.model_validate(stored.document()).spec)
        token = secret_value(ctl.store, "tok")
        code, detail = ctl.handle("GET", "/resources/RayCluster/default/tok", {}, None)
        assert code == 200
        assert detail["local"]["auth"] == {
            "mode": "token",
            "secret": "tok",
            "key": "auth_token",
            "namespace": NS,
        }
        assert token not in repr(detail)
    finally:
        ctl.clusters.close()
        ctl.services.close()
        ctl.store.close()
