"""`cluster.connect()` and the lines `apply` prints: what a user who pastes them gets.

`ray` here is a stand-in module (the connection logic is rayplane's); one test imports
the real ray in a child process to show the loopback switch takes after `import ray`,
and the e2e test connects to a real cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from typing import Any

import pytest

import rayplane.sdk.connect as connect_mod
from rayplane.local.loopback import CLUSTER_SWITCH_ENV
from rayplane.sdk.connect import (
    ConnectError,
    connect,
    disconnect,
    driver_environment,
    hint_lines,
)
from tests.sdk.doubles import FakeBackend, cluster


class FakeRay(types.ModuleType):
    """The part of ray's surface connect() touches."""

    def __init__(self) -> None:
        super().__init__("ray")
        self.inits: list[dict[str, Any]] = []
        self.connected: str | None = None
        self.switch_at_init: list[object] = []

    def is_initialized(self) -> bool:
        return self.connected is not None

    def init(self, **kwargs: Any) -> str:
        constants = sys.modules["ray._private.ray_constants"]
        self.switch_at_init.append(constants.ENABLE_RAY_CLUSTER)
        self.inits.append(kwargs)
        self.connected = kwargs["address"]
        return f"context for {kwargs['address']}"

    def shutdown(self) -> None:
        self.connected = None

    def get_runtime_context(self) -> Any:
        return types.SimpleNamespace(gcs_address=self.connected)


@pytest.fixture
def ray(monkeypatch: pytest.MonkeyPatch) -> FakeRay:
    fake = FakeRay()
    constants = types.ModuleType("ray._private.ray_constants")
    constants.ENABLE_RAY_CLUSTER = True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setitem(sys.modules, "ray._private.ray_constants", constants)
    monkeypatch.setenv(CLUSTER_SWITCH_ENV, "1")  # restored after the test
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setattr(connect_mod, "_current", None)
    monkeypatch.setattr(connect_mod, "_atexit_registered", True)
    return fake


def test_connect_inits_ray_on_the_gcs_with_the_loopback_switch_set(ray: FakeRay) -> None:
    backend = FakeBackend(cluster())
    context = connect(backend, cluster(), namespace="me", logging_level="ERROR")
    assert context == "context for 127.0.0.1:6379"
    assert ray.inits == [{"address": "127.0.0.1:6379", "namespace": "me", "logging_level": "ERROR"}]
    assert ray.switch_at_init == [False]  # set although ray was imported first
    assert os.environ[CLUSTER_SWITCH_ENV] == "0"  # and for processes ray starts
    assert connect(backend, cluster()) is context  # again: the same connection
    assert len(ray.inits) == 1


def test_connect_to_another_cluster_says_what_this_process_is_connected_to(
    ray: FakeRay,
) -> None:
    backend = FakeBackend(cluster())
    connect(backend, cluster("first"))
    with pytest.raises(ConnectError) as caught:
        connect(backend, cluster("second"))
    text = str(caught.value)
    assert "already connected to Ray at RayCluster default/first (127.0.0.1:6379)" in text
    assert "ray.shutdown()" in text and "RayCluster default/second" in text
    ray.shutdown()  # what the message says to do
    assert connect(backend, cluster("second")) == "context for 127.0.0.1:6379"


def test_a_cluster_that_is_not_ready_is_refused_with_its_reason(ray: FakeRay) -> None:
    obj = cluster()
    obj["status"] = {"state": ""}
    obj["local"]["clusterFailure"] = "head: ray start exited 1"
    with pytest.raises(ConnectError, match=r"not ready \(status.state: none yet\): head: ray"):
        connect(FakeBackend(obj), obj)
    assert ray.inits == []


def test_kubernetes_goes_through_ray_client_and_holds_the_forward(ray: FakeRay) -> None:
    backend = FakeBackend(cluster(local=False), name="kubernetes")
    connect(backend, cluster(local=False))
    assert ray.inits[0]["address"] == "ray://127.0.0.1:10001"
    assert backend.reached == ["client"]
    assert backend.open == 1  # kept open while connected
    assert ray.switch_at_init == [True]  # Ray Client needs no loopback switch
    disconnect()
    assert backend.open == 0 and not ray.is_initialized()


def test_address_is_not_the_callers_to_choose(ray: FakeRay) -> None:
    with pytest.raises(ConnectError, match="chooses the address itself"):
        connect(FakeBackend(cluster()), cluster(), address="auto")


def test_driver_environment() -> None:
    env = driver_environment("127.0.0.1:6379", base={"PATH": "/bin"})
    assert env["RAY_ADDRESS"] == "127.0.0.1:6379" and env[CLUSTER_SWITCH_ENV] == "0"
    remote = driver_environment("ray://127.0.0.1:10001", base={"PATH": "/bin"})
    assert remote == {"PATH": "/bin", "RAY_ADDRESS": "ray://127.0.0.1:10001"}


def test_hint_lines_name_the_cluster_for_each_runtime() -> None:
    assert hint_lines(cluster("raycluster-basic", "raydata")) == [
        'connect: import rayplane; rayplane.Cluster.get("raycluster-basic", "raydata").connect()',
        "shell:   rayplane connect raycluster-basic -n raydata",
        "submit:  rayplane job submit --cluster raycluster-basic -n raydata --working-dir . "
        "-- python my_script.py",
    ]
    (line, *_) = hint_lines(cluster("demo", local=False))
    assert line == (
        'connect: import rayplane; rayplane.Cluster.get("demo", '
        "runtime=rayplane.kubernetes()).connect()"
    )


def test_use_loopback_takes_effect_after_ray_was_imported() -> None:
    """The real ray: imported without the switch, it resolves this node to the routable
    IP; after use_loopback() to 127.0.0.1, which is what ray.init on a local cluster needs."""
    code = (
        "import ray._private.services as s\n"
        "from rayplane.sdk.connect import use_loopback\n"
        "use_loopback()\n"
        "print(s.get_node_ip_address())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != CLUSTER_SWITCH_ENV}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "127.0.0.1"
