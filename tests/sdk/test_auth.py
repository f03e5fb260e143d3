"""Where the SDK and CLI find a cluster's Ray auth token, on each runtime."""

from __future__ import annotations

import base64
from typing import Any

from rayplane.sdk.auth import cluster_token
from rayplane.sdk.connect import driver_environment


class Secrets:
    """Just enough of a Backend: a name and Secrets to get."""

    def __init__(self, name: str, **tokens: str) -> None:
        self.name = name
        self.secrets = {
            key: {"kind": "Secret", "data": {"auth_token": base64.b64encode(v.encode()).decode()}}
            for key, v in tokens.items()
        }

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.secrets.get(name) if kind == "Secret" else None


def obj(auth: dict[str, Any] | None = None, local: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": "RayCluster", "metadata": {"name": "demo"}, "spec": {}}
    if auth is not None:
        doc["spec"]["authOptions"] = auth
    if local is not None:
        doc["local"] = local
    return doc


def test_local_clusters_have_a_token_unless_disabled() -> None:
    backend: Any = Secrets("local", demo="t1", mine="t2")
    assert cluster_token(backend, obj()) == "t1"
    assert cluster_token(backend, obj({"mode": "disabled"})) is None
    assert cluster_token(backend, obj({"mode": "token", "secretName": "mine"})) == "t2"
    # The controller's own word (describe's local.auth) wins over the spec.
    said = {"auth": {"mode": "token", "secret": "mine", "namespace": "default"}}
    assert cluster_token(backend, obj(local=said)) == "t2"
    assert cluster_token(backend, obj(local={"auth": {"mode": "disabled"}})) is None


def test_kubernetes_clusters_have_one_only_with_mode_token_as_kuberay() -> None:
    backend: Any = Secrets("kubernetes", demo="t1")
    assert cluster_token(backend, obj()) is None
    assert cluster_token(backend, obj({"mode": "token"})) == "t1"
    assert cluster_token(backend, obj({"mode": "token", "enableK8sTokenAuth": True})) is None


def test_a_secret_not_made_yet_is_no_token_not_a_crash() -> None:
    assert cluster_token(Secrets("local"), obj()) is None  # type: ignore[arg-type]


def test_a_driver_of_a_token_cluster_gets_mode_and_token() -> None:
    env = driver_environment("127.0.0.1:6379", base={}, token="t1")
    assert (env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN"]) == ("token", "t1")
    assert driver_environment("127.0.0.1:6379", base={})["RAY_AUTH_MODE"] == "disabled"
