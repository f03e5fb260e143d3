"""One API for both runtimes: `rayplane.kubernetes(...)` builds its backend lazily, and its
namespace is where objects that name none go."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import rayplane
from rayplane.sdk.runtime import Runtime
from tests.sdk.conftest import raycluster
from tests.sdk.fake import FakeBackend, status


class KubeBackendStandIn(FakeBackend):
    """Stands in for rayplane.sdk.kube_backend.KubeBackend: no API server needed."""

    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        super().__init__()
        self.args = (kubeconfig, context)
        self.namespace = "from-context"  # the kubeconfig context's namespace


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
    # Without namespace=, handles go where the context points, as kubectl's do.
    assert rayplane.kubernetes(context="kind").namespace == "from-context"


def test_an_object_that_names_its_namespace_keeps_it(fake: FakeBackend) -> None:
    runtime = Runtime(fake, namespace="ray")
    rayplane.Cluster.from_dict(raycluster(namespace="other"), runtime).apply(wait=False)
    assert list(fake.objects) == [("RayCluster", "other", "c1")]


def test_runtime_as_a_context_closes_its_backend(fake: FakeBackend) -> None:
    with Runtime(fake) as runtime:
        assert runtime.name == "local"
    assert fake.closed


def test_on_kubernetes_the_dashboard_forward_is_held_until_the_runtime_closes() -> None:
    opened: list[str] = []
    closed: list[str] = []

    class Forwarding(FakeBackend):
        name = "kubernetes"  # type: ignore[assignment]

        @contextmanager
        def _reach(self, obj: dict[str, Any], port: Any) -> Iterator[str]:
            opened.append(port)
            try:
                yield "127.0.0.1:40001"
            finally:
                closed.append(port)

    backend = Forwarding()
    backend.play("RayCluster", "c1", status(state="ready"))
    runtime = Runtime(backend)
    cluster = rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False)
    assert cluster.dashboard_url == "http://127.0.0.1:40001"
    assert cluster.dashboard_url == "http://127.0.0.1:40001"
    assert opened == ["dashboard"] and closed == []  # one forward, still open
    runtime.close()
    assert closed == ["dashboard"] and backend.closed
