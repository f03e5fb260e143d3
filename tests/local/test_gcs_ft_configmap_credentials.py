"""GCS FT credentials from a ConfigMap key, which KubeRay's CRD takes (a whole EnvVarSource).

rayplane used to refuse `redisPassword.valueFrom.configMapKeyRef` as an unknown field; the
local runtime now reads it as the kubelet would.
"""

from __future__ import annotations

import copy
from pathlib import Path

from rayplane.api.raycluster import RayCluster
from rayplane.api.validation import validate
from rayplane.local.auth_token import ensure_secret
from rayplane.local.configrefs import StoreConfigs
from rayplane.local.env import node_environment, redis_password
from rayplane.local.store import Store
from rayplane.settings import LocalSettings
from tests.local.test_config_refs import FT_CLUSTER, NS, put_configmap, put_secret


def test_redis_credentials_from_a_configmap(tmp_path: Path) -> None:
    doc = copy.deepcopy(FT_CLUSTER)
    doc["spec"]["gcsFaultToleranceOptions"]["redisPassword"] = {
        "valueFrom": {"configMapKeyRef": {"name": "redis", "key": "password"}}
    }
    doc["spec"]["gcsFaultToleranceOptions"]["redisUsername"] = {
        "valueFrom": {"secretKeyRef": {"name": "redis-user", "key": "user"}}
    }
    report = validate(doc)
    assert report.ok, [str(f) for f in report.errors]
    store = Store(tmp_path / "home" / "state.db")
    try:
        put_configmap(store, "redis", password="from-configmap")
        put_secret(store, "redis-user", user="ray")
        stored = store.put("RayCluster", NS, "ft", doc)
        cluster = RayCluster.model_validate(stored.document())
        ensure_secret(store, stored, cluster.spec)  # as the controller's first pass does
        configs = StoreConfigs(store)
        env = node_environment(
            stored, cluster, None, "ft-head", "127.0.0.1:1", LocalSettings(home=tmp_path), configs
        )
        assert env["REDIS_PASSWORD"] == "from-configmap"
        assert env["REDIS_USERNAME"] == "ray"
        assert redis_password(cluster, NS, configs, strict=False) == "from-configmap"
    finally:
        store.close()
