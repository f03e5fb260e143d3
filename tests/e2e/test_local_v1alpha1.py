"""A ray.io/v1alpha1 RayCluster on the local runtime with real Ray, as KubeRay 1.7 serves it.

KubeRay's API server still serves v1alpha1 (deprecated, stored as v1); so does rayplane:
`apply` says KubeRay's deprecation warning, the cluster runs, and it reads back as v1 with
KubeRay's status shapes (desiredCPU a quantity).
"""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.conftest import Local, driver

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

NAME = "alpha-head"

CLUSTER = {
    "apiVersion": "ray.io/v1alpha1",
    "kind": "RayCluster",
    "metadata": {"name": NAME, "namespace": "default"},
    "spec": {
        "rayVersion": "2.60.0",
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "ray-head",
                            "image": "rayproject/ray:2.60.0",
                            "resources": {"limits": {"cpu": 1, "memory": "2Gi"}},
                        }
                    ]
                }
            },
        },
    },
}


def test_v1alpha1_cluster_runs_and_reads_back_as_v1(local: Local) -> None:
    try:
        result = local.run("apply", "-f", "-", "--timeout", "300", input=yaml.safe_dump(CLUSTER))
        assert "is ready" in result.stdout, result.stdout + result.stderr
        assert "ray.io/v1alpha1 RayCluster is deprecated; use ray.io/v1 RayCluster" in (
            result.stdout + result.stderr
        )
        got = local.get(NAME)
        assert got["apiVersion"] == "ray.io/v1"
        assert got["status"]["state"] == "ready"
        assert (got["status"]["desiredCPU"], got["status"]["desiredMemory"]) == ("1", "2Gi")
        address = f"127.0.0.1:{got['status']['endpoints']['gcs-server']}"
        out = driver(address, "print(ray.get(ray.remote(lambda: 41 + 1).remote()))")
        assert out.strip().splitlines()[-1] == "42"
    finally:
        local.run("delete", "raycluster", NAME, check=False, timeout=180)
