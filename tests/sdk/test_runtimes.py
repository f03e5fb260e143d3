"""One API for both runtimes: `rayplane.kubernetes(...)` builds its backend lazily, and its
namespace is where objects that name none go."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import rayplane
from rayplane.sdk.runtime import Runtime
from tests.sdk.conftest import raycluster
from tests.sdk.fake import FakeBackend


class KubeBackendStandIn(FakeBackend):
    """Stands in for rayplane.sdk.kube_backend.KubeBackend (written by another part)."""

    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        super().__init__()
        self.args = (kubeconfig, context)


def test_kubernetes_makes_its_backend_from_kubeconfig_and_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module: Any = types.ModuleType("rayplane.sdk.kube_backend")
    module.KubeBackend = KubeBackendStandIn
    monkeypatch.setitem(sys.modules, "rayplane.sdk.kube_backend", module)
    monkeypatch.delenv("RAYPLANE_FEATURE_GATES", raising=False)
    runtime = rayplane.kubernetes(kubeconfig="/k/config", context="kind", namespace="ray")
    backend = runtime.backend
    assert isinstance(backend, KubeBackendStandIn) and backend.args == ("/k/config", "kind")
    cluster = rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False)
    assert cluster.namespace == "ray"
    assert list(backend.objects) == [("RayCluster", "ray", "c1")]


def test_an_object_that_names_its_namespace_keeps_it(fake: FakeBackend) -> None:
    runtime = Runtime(fake, namespace="ray")
    rayplane.Cluster.from_dict(raycluster(namespace="other"), runtime).apply(wait=False)
    assert list(fake.objects) == [("RayCluster", "other", "c1")]


def test_runtime_as_a_context_closes_its_backend(fake: FakeBackend) -> None:
    with Runtime(fake) as runtime:
        assert runtime.name == "local"
    assert fake.closed
