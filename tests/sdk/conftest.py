"""A fake runtime for each SDK test, and small valid objects to hand it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rayplane.sdk.runtime import Runtime
from tests.sdk.fake import FakeBackend


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def runtime(fake: FakeBackend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.delenv("RAYPLANE_FEATURE_GATES", raising=False)
    rt = Runtime(fake, apply_timeout_s=30, delete_timeout_s=30)
    yield rt
    rt.close()


def container(name: str) -> dict[str, Any]:
    limits = {"cpu": "1", "memory": "1Gi"}
    return {"name": name, "image": "rayproject/ray:2.47.1", "resources": {"limits": limits}}


def cluster_spec() -> dict[str, Any]:
    return {
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {"spec": {"containers": [container("ray-head")]}},
        }
    }


def raycluster(name: str = "c1", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, **meta},
        "spec": cluster_spec(),
    }


def rayservice(name: str = "s1") -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": name},
        "spec": {
            "serveConfigV2": "applications:\n- name: app\n  import_path: app:deployment\n",
            "rayClusterConfig": cluster_spec(),
        },
    }


def rayjob(name: str = "j1") -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name},
        "spec": {"entrypoint": "python -c 'print(1)'", "rayClusterSpec": cluster_spec()},
    }
