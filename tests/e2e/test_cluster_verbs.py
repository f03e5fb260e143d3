"""The cluster verbs on real Ray: create a cluster from flags, see its nodes, scale its
group up, see the group's ready count, delete it and leave no process behind."""

from __future__ import annotations

import json

import psutil
import pytest

from tests.e2e.conftest import Local

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]
NAME = "verbs-e2e"


def _nodes(local: Local) -> list[dict[str, object]]:
    return list(json.loads(local.run("get", "nodes", NAME, "-o", "json").stdout))


def test_create_get_nodes_scale_get_workergroups_delete(local: Local) -> None:
    created = local.run(
        "create", "cluster", NAME, "--workers", "0", "--worker-cpus", "1",
        "--head-memory", "1Gi", "--worker-memory", "512Mi", "--timeout", "300",
    )  # fmt: skip
    assert f"raycluster.ray.io/{NAME} created" in created.stdout
    assert f"RayCluster default/{NAME} is ready" in created.stdout, created.stderr

    (head,) = _nodes(local)
    assert (head["type"], head["group"], head["state"]) == ("head", "headgroup", "ready")
    assert (head["cpus"], head["memory"]) == ("1", "1Gi")
    assert psutil.pid_exists(int(str(head["pid"])))

    scaled = local.run("scale", "cluster", NAME, "-g", "workergroup", "-r", "1", "--timeout", "300")
    assert "replicas 0 to 1" in scaled.stdout
    assert "1/1 workers ready" in scaled.stdout, scaled.stderr

    table = local.run("get", "workergroups", NAME).stdout.splitlines()
    assert table[1].split()[:4] == ["workergroup", "0", "10", "1/1"], table
    nodes = _nodes(local)
    (worker,) = [n for n in nodes if n["type"] == "worker"]
    assert worker["state"] == "ready" and worker["memory"] == "512Mi"
    pids = [int(str(n["pid"])) for n in nodes]
    assert all(psutil.pid_exists(pid) for pid in pids)

    local.run("delete", "raycluster", NAME, timeout=300)
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids
    )
    gone = local.run("get", "nodes", NAME, check=False)
    assert gone.returncode == 1 and "not found" in gone.stderr
