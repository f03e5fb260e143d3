"""valueFrom / envFrom from Secrets and ConfigMaps applied to the local runtime.

No Ray process starts here: the store is a temp SQLite file and the controllers are handed
a fake launcher (the runtime port), so the tests see exactly what the node would have been
given.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rayplane.api.configdata import normalized
from rayplane.api.k8s import Container, EnvVar, PodTemplateSpec
from rayplane.api.raycluster import RayCluster
from rayplane.api.rayjob import RayJob
from rayplane.local import raycluster_teardown as clusters_module
from rayplane.local.auth_token import ensure_secret
from rayplane.local.configrefs import ConfigError, StoreConfigs
from rayplane.local.env import container_env, node_environment, redis_password
from rayplane.local.fake_launcher import FakeLauncher
from rayplane.local.raycluster_controller import RayClusterController
from rayplane.local.rayjob_controller import RayJobController
from rayplane.local.store import Store, StoredResource
from rayplane.reconcile.gcs_ft import GcsFt
from rayplane.reconcile.job import CreateSubmitter
from rayplane.settings import LocalSettings
from tests.support import wait_for

NS = "default"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "home" / "state.db")
    yield db
    db.close()


def put_secret(store: Store, name: str, ns: str = NS, **data: str) -> None:
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}
    store.put("Secret", ns, name, normalized(doc))


def put_configmap(store: Store, name: str, ns: str = NS, **data: str) -> None:
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    store.put("ConfigMap", ns, name, doc)


def env_of(
    store: Store, container: dict[str, Any], *, strict: bool = True, ns: str = NS
) -> tuple[dict[str, str], list[str]]:
    return container_env(
        Container.model_validate(container),
        {},
        "node-1",
        ns,
        {"RAY_PORT": "6379"},
        StoreConfigs(store),
        who="the head",
        strict=strict,
    )


def secret_ref(name: str, key: str, optional: bool | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name, "key": key}
    if optional is not None:
        ref["optional"] = optional
    return {"secretKeyRef": ref}


# -- container_env ----------------------------------------------------------------------------


def test_secret_and_configmap_key_refs_resolve(store: Store) -> None:
    put_secret(store, "db", password="s3cr$(RAY_PORT)t")
    put_configmap(store, "settings", level="debug")
    values, notes = env_of(
        store,
        {
            "name": "ray-head",
            "env": [
                {"name": "DB_PASSWORD", "valueFrom": secret_ref("db", "password")},
                {
                    "name": "LOG_LEVEL",
                    "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}},
                },
                {"name": "URL", "value": "http://x:$(RAY_PORT)/$(LOG_LEVEL)"},
            ],
        },
    )
    # A Secret's value is used as stored: no $(VAR) expansion inside it.
    assert values == {
        "DB_PASSWORD": "s3cr$(RAY_PORT)t",
        "LOG_LEVEL": "debug",
        "URL": "http://x:6379/debug",
    }
    assert notes == []


def test_env_from_with_prefix_and_env_entries_win(store: Store) -> None:
    put_secret(store, "creds", USER="ray", TOKEN="t1")
    put_configmap(store, "flags", TOKEN="from-configmap", MODE="fast")
    values, _ = env_of(
        store,
        {
            "name": "ray-head",
            "envFrom": [
                {"secretRef": {"name": "creds"}, "prefix": "APP_"},
                {"configMapRef": {"name": "flags"}},
                {"configMapRef": {"name": "flags"}, "prefix": "APP_"},
            ],
            "env": [{"name": "MODE", "value": "explicit"}],
        },
    )
    assert values == {
        "APP_USER": "ray",
        "APP_TOKEN": "from-configmap",  # a later envFrom source wins
        "TOKEN": "from-configmap",
        "MODE": "explicit",  # an env entry wins over envFrom
        "APP_MODE": "fast",
    }


def test_optional_missing_references_are_skipped_with_a_note(store: Store) -> None:
    put_secret(store, "db", password="pw")
    values, notes = env_of(
        store,
        {
            "name": "ray-head",
            "env": [
                {"name": "A", "valueFrom": secret_ref("absent", "x", optional=True)},
                {"name": "B", "valueFrom": secret_ref("db", "absent-key", optional=True)},
            ],
            "envFrom": [{"secretRef": {"name": "absent", "optional": True}}],
        },
    )
    assert values == {}
    assert len(notes) == 3 and all("optional" in n for n in notes)


def test_a_missing_secret_names_object_namespace_var_and_fix(store: Store) -> None:
    container = {
        "name": "ray-head",
        "env": [{"name": "REDIS_PASSWORD", "valueFrom": secret_ref("redis-password", "pw")}],
    }
    with pytest.raises(ConfigError) as caught:
        env_of(store, container)
    assert str(caught.value) == (
        'CreateContainerConfigError: secret "redis-password" not found in namespace '
        '"default" (env REDIS_PASSWORD of the head); apply a kind: Secret with that name, '
        "e.g. in the same file"
    )
    # Not strict (describe's notes): the same problem, as a note, and the var is unset.
    values, notes = env_of(store, container, strict=False)
    assert "REDIS_PASSWORD" not in values
    assert notes == [str(caught.value).removeprefix("CreateContainerConfigError: ")]


def test_a_missing_key_names_the_key_and_how_to_fix_it(store: Store) -> None:
    put_secret(store, "redis-password", password="pw")
    container = {
        "name": "ray-head",
        "env": [{"name": "REDIS_PASSWORD", "valueFrom": secret_ref("redis-password", "pw")}],
    }
    with pytest.raises(ConfigError, match='key "pw" not found in secret "redis-password"') as e:
        env_of(store, container)
    assert "(env REDIS_PASSWORD of the head)" in str(e.value)
    assert "add it to the Secret's data or stringData" in str(e.value)


def test_a_missing_env_from_source_is_an_error_too(store: Store) -> None:
    container = {"name": "ray-head", "envFrom": [{"configMapRef": {"name": "flags"}}]}
    with pytest.raises(ConfigError) as caught:
        env_of(store, container)
    assert 'configmap "flags" not found in namespace "default" (envFrom of the head)' in str(
        caught.value
    )


def test_references_read_the_node_namespace_only(store: Store) -> None:
    put_secret(store, "db", ns="other", password="pw")
    container = {
        "name": "ray-head",
        "env": [{"name": "P", "valueFrom": secret_ref("db", "password")}],
    }
    with pytest.raises(ConfigError, match='in namespace "default"'):
        env_of(store, container)
    assert env_of(store, container, ns="other")[0] == {"P": "pw"}


def test_unresolvable_field_refs_are_notes_not_silence(store: Store) -> None:
    values, notes = env_of(
        store,
        {
            "name": "ray-head",
            "env": [
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {
                    "name": "CPU",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}},
                },
            ],
        },
    )
    assert values == {"POD": "node-1"}
    assert any("env NODE of the head: fieldRef spec.nodeName" in n for n in notes)
    assert any("env CPU of the head: resourceFieldRef" in n for n in notes)


# -- clusters ---------------------------------------------------------------------------------

FT_CLUSTER: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "metadata": {"name": "ft", "namespace": NS},
    "spec": {
        "gcsFaultToleranceOptions": {
            "redisAddress": "redis://127.0.0.1:6379",
            "redisPassword": {"valueFrom": secret_ref("redis-password-secret", "password")},
        },
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {"spec": {"containers": [{"name": "ray-head", "image": "ray"}]}},
        },
        "workerGroupSpecs": [],
    },
}


def stored_cluster(store: Store, doc: dict[str, Any] | None = None) -> StoredResource:
    doc = copy.deepcopy(doc or FT_CLUSTER)
    stored = store.put("RayCluster", NS, doc["metadata"]["name"], doc)
    # The controller's first pass makes the token Secret before any node (local default).
    ensure_secret(store, stored, RayCluster.model_validate(stored.document()).spec)
    return stored


def test_gcs_ft_password_comes_from_its_secret(store: Store, tmp_path: Path) -> None:
    stored = stored_cluster(store)
    cluster = RayCluster.model_validate(stored.document())
    settings = LocalSettings(home=tmp_path / "home")
    configs = StoreConfigs(store)
    with pytest.raises(ConfigError) as caught:
        node_environment(stored, cluster, None, "ft-head", "127.0.0.1:1", settings, configs)
    assert str(caught.value).startswith(
        'CreateContainerConfigError: secret "redis-password-secret" not found in namespace '
        '"default" (env REDIS_PASSWORD of the head); apply a kind: Secret'
    )
    assert redis_password(cluster, NS, configs, strict=False) is None
    put_secret(store, "redis-password-secret", password="5241590000000000")
    env = node_environment(stored, cluster, None, "ft-head", "127.0.0.1:1", settings, configs)
    assert env["REDIS_PASSWORD"] == "5241590000000000"
    assert env["RAY_REDIS_ADDRESS"] == "redis://127.0.0.1:6379"
    assert redis_password(cluster, NS, configs, strict=True) == "5241590000000000"


@pytest.fixture
def runtime(store: Store, tmp_path: Path) -> Iterator[tuple[RayClusterController, FakeLauncher]]:
    spawn = FakeLauncher(ready=False)
    settings = LocalSettings(
        home=tmp_path / "home", temp_root=tmp_path / "t", local_autoscaler=False
    )
    clusters = RayClusterController(settings, store, spawn)
    yield clusters, spawn
    clusters.close()


def reconcile(clusters: RayClusterController, store: Store, passes: int = 1) -> StoredResource:
    for _ in range(passes):
        current = store.get("RayCluster", NS, "ft")
        assert current is not None
        clusters.reconcile(current)
    final = store.get("RayCluster", NS, "ft")
    assert final is not None
    return final


def replica_failure(stored: StoredResource) -> dict[str, Any] | None:
    conditions = (stored.status or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "ReplicaFailure"), None)


def test_a_head_missing_its_secret_waits_with_a_failure_and_starts_once_applied(
    store: Store, runtime: tuple[RayClusterController, FakeLauncher]
) -> None:
    clusters, spawn = runtime
    stored_cluster(store)
    after = reconcile(clusters, store, passes=4)
    assert spawn.envs == []  # never started without its password
    # The node exists, as a Pod in CreateContainerConfigError does, with the reason.
    (pending,) = store.nodes(after.uid)
    assert pending.pid is None
    assert str(pending.info["why"]).startswith("CreateContainerConfigError: secret")
    failure = replica_failure(after)
    assert failure is not None and failure["status"] == "True"
    assert failure["reason"] == "FailedCreateHeadPod"
    assert failure["message"].startswith(
        'CreateContainerConfigError: secret "redis-password-secret" not found'
    )
    warnings = [e for e in store.events(after.uid) if e["reason"] == "CreateContainerConfigError"]
    assert len(warnings) == 1  # said once, not on every pass
    assert all(
        "CreateContainerConfigError" not in e["message"]
        for e in store.events(after.uid)
        if e["reason"] != "CreateContainerConfigError"
    )

    put_secret(store, "redis-password-secret", password="pw")
    after = reconcile(clusters, store, passes=2)
    assert len(spawn.envs) == 1
    assert spawn.envs[0]["REDIS_PASSWORD"] == "pw"
    assert replica_failure(after) is None


def test_a_worker_missing_a_configmap_fails_its_group(
    store: Store, runtime: tuple[RayClusterController, FakeLauncher]
) -> None:
    clusters, spawn = runtime
    doc = copy.deepcopy(FT_CLUSTER)
    del doc["spec"]["gcsFaultToleranceOptions"]
    worker = {"name": "ray-worker", "image": "ray", "envFrom": [{"configMapRef": {"name": "cfg"}}]}
    doc["spec"]["workerGroupSpecs"] = [
        {
            "groupName": "small",
            "replicas": 1,
            "minReplicas": 0,
            "maxReplicas": 1,
            "rayStartParams": {},
            "template": {"spec": {"containers": [worker]}},
        }
    ]
    stored_cluster(store, doc)
    after = reconcile(clusters, store, passes=2)
    assert len(spawn.envs) == 1  # the head started; the worker did not
    failure = replica_failure(after)
    assert failure is not None and failure["reason"] == "FailedCreateWorkerPod"
    assert 'configmap "cfg" not found' in failure["message"]
    assert "worker group small" in failure["message"]


def test_describe_notes_list_what_the_env_cannot_get(
    store: Store, runtime: tuple[RayClusterController, FakeLauncher]
) -> None:
    clusters, _ = runtime
    doc = copy.deepcopy(FT_CLUSTER)
    doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    ]
    stored = stored_cluster(store, doc)
    notes = clusters.notes(stored)
    assert any(
        "env NODE of the head: fieldRef spec.nodeName has no local value" in n for n in notes
    )
    assert any('secret "redis-password-secret" not found' in n for n in notes)


def test_delete_cleans_redis_with_the_password_read_when_the_delete_began(
    store: Store,
    runtime: tuple[RayClusterController, FakeLauncher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clusters, _ = runtime
    seen: list[GcsFt] = []

    def fake_clean(ft: GcsFt, timeout_s: float) -> tuple[bool, str]:
        seen.append(ft)
        return True, "cleaned"

    monkeypatch.setattr(clusters_module, "clean_redis", fake_clean)
    put_secret(store, "redis-password-secret", password="pw")
    stored = stored_cluster(store)
    store.mark_deleting("RayCluster", NS, "ft")
    reconcile(clusters, store)  # the delete begins: the password is read now
    # `delete -f` of the same file removes the Secret too, possibly before the cleanup.
    secret = store.get("Secret", NS, "redis-password-secret")
    assert secret is not None
    store.remove(secret.uid)

    def deleted() -> bool:
        current = store.get_by_uid(stored.uid)
        if current is None:
            return True
        clusters.reconcile(current)
        return False

    wait_for(deleted, 30, "the cluster's delete to finish", interval=0.05)
    assert [ft.redis_password for ft in seen] == ["pw"]


def test_the_submitter_waits_for_its_secret_and_then_gets_it(store: Store, tmp_path: Path) -> None:
    spawn = FakeLauncher()
    jobs = RayJobController(
        LocalSettings(home=tmp_path / "home", temp_root=tmp_path / "t"), store, launcher=spawn
    )
    stored = store.put(
        "RayJob", NS, "etl", {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {}}
    )
    token = EnvVar.model_validate({"name": "API_TOKEN", "valueFrom": secret_ref("api", "token")})
    action = CreateSubmitter(
        name="etl",
        command=["ray", "job", "submit"],
        env=[EnvVar(name="PLAIN", value="1"), token],
        backoff_limit=2,
        labels={},
        template=PodTemplateSpec.model_validate({"spec": {"containers": [{"name": "s"}]}}),
    )
    job = RayJob.model_validate({"metadata": {"name": "etl"}, "spec": {"entrypoint": "x"}})
    state: dict[str, Any] = {}
    jobs._create_submitter(stored, job, action, state)
    jobs._create_submitter(stored, job, action, state)  # a second pass says nothing new
    assert spawn.envs == [] and "submitter" not in state
    warnings = [e for e in store.events(stored.uid) if e["reason"] == "CreateContainerConfigError"]
    assert len(warnings) == 1
    assert 'secret "api" not found' in warnings[0]["message"]
    assert "env API_TOKEN of the submitter" in warnings[0]["message"]

    put_secret(store, "api", token="s3cret")
    jobs._create_submitter(stored, job, action, state)
    assert len(spawn.envs) == 1
    assert spawn.envs[0]["API_TOKEN"] == "s3cret" and spawn.envs[0]["PLAIN"] == "1"
