"""Fixtures for the API tests: minimal valid documents of each kind, and the seed examples.

Every fixture hands out a fresh deep copy, so a test may mutate what it gets.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RAY_IMAGE = "rayproject/ray:2.60.0"

# The smallest RayClusterSpec that KubeRay (and rayplane) accept without a warning.
CLUSTER_SPEC: dict[str, Any] = {
    "rayVersion": "2.60.0",
    "headGroupSpec": {
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": RAY_IMAGE}]}},
    },
    "workerGroupSpecs": [
        {
            "groupName": "workers",
            "replicas": 1,
            "minReplicas": 0,
            "maxReplicas": 2,
            "rayStartParams": {},
            "template": {"spec": {"containers": [{"name": "ray-worker", "image": RAY_IMAGE}]}},
        }
    ],
}

MINIMAL: dict[str, dict[str, Any]] = {
    "RayCluster": {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "demo"},
        "spec": CLUSTER_SPEC,
    },
    "RayJob": {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "demo-job"},
        "spec": {"entrypoint": "python -c 'print(1)'", "rayClusterSpec": CLUSTER_SPEC},
    },
    "RayService": {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "demo-svc"},
        "spec": {
            "serveConfigV2": "applications:\n- name: app\n  import_path: app.main:app\n",
            "rayClusterConfig": CLUSTER_SPEC,
        },
    },
    # Alpha: valid with the RayCronJob gate on (validate(doc, FeatureGates(RayCronJob=True))).
    "RayCronJob": {
        "apiVersion": "ray.io/v1",
        "kind": "RayCronJob",
        "metadata": {"name": "demo-cron"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"entrypoint": "python -c 'print(1)'", "rayClusterSpec": CLUSTER_SPEC},
        },
    },
}


_REPO_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_SHARED_EXAMPLES = Path("/work/shared/examples")
EXAMPLES_DIR = _REPO_EXAMPLES if _REPO_EXAMPLES.is_dir() else _SHARED_EXAMPLES


def minimal(kind: str) -> dict[str, Any]:
    return copy.deepcopy(MINIMAL[kind])


@pytest.fixture(scope="session")
def make() -> Callable[[str], dict[str, Any]]:
    """make(kind) -> a fresh minimal valid document of that kind."""
    return minimal


@pytest.fixture
def raycluster() -> dict[str, Any]:
    return minimal("RayCluster")


@pytest.fixture
def rayjob() -> dict[str, Any]:
    return minimal("RayJob")


@pytest.fixture
def rayservice() -> dict[str, Any]:
    return minimal("RayService")


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES_DIR
