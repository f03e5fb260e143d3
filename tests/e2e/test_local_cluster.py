"""A RayCluster on the local runtime, end to end, with real Ray processes.

These are the promises a user relies on: apply brings the seed cluster up and Ray sees
every node; work lands on workers; nothing listens off loopback; left idle, Ray's
autoscaler takes the group down to minReplicas; a killed worker comes back by itself; a
killed controller adopts its nodes instead of starting twins; a delete leaves nothing
behind; bad YAML creates nothing.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from rayplane.local.process import listening_addresses
from tests.e2e.conftest import Local, driver
from tests.support import ROOT, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]
BASIC = str(ROOT / "examples" / "raycluster-basic.yaml")
NS = "raydata"  # the seed example's namespace


def _nodes(local: Local, name: str) -> list[dict[str, object]]:
    detail = local.detail(name, NS) or {}
    return list((detail.get("local") or {}).get("nodes", []))


def _address(doc: dict[str, object]) -> str:
    status = doc["status"]
    assert isinstance(status, dict)
    return f"127.0.0.1:{status['endpoints']['gcs-server']}"


def _replicas(local: Local, name: str) -> int:
    """The worker group's replicas as stored now: the autoscaler rewrites them."""
    detail = local.detail(name, NS) or {}
    return int(detail["spec"]["workerGroupSpecs"][0].get("replicas") or 0)


def _settled(local: Local, name: str, workers: int) -> list[dict[str, object]] | None:
    nodes = _nodes(local, name)
    ready = [n for n in nodes if n["state"] == "ready"]
    return nodes if len(nodes) == workers + 1 and len(ready) == workers + 1 else None


@pytest.fixture(scope="module")
def basic(local: Local) -> dict[str, object]:
    result = local.run("apply", "-f", BASIC, "--timeout", "300")
    assert "is ready" in result.stdout, result.stdout + result.stderr
    return local.get("raycluster-basic", namespace=NS)


def test_apply_brings_the_seed_cluster_up(local: Local, basic: dict[str, object]) -> None:
    status = basic["status"]
    assert isinstance(status, dict)
    assert status["state"] == "ready"
    assert status["readyWorkerReplicas"] == 2
    alive = driver(_address(basic), "print(sum(1 for n in ray.nodes() if n['Alive']))")
    assert alive.strip() == "3"
    table = local.run("get", "rayclusters", "-n", NS).stdout
    assert "raycluster-basic" in table and "ready" in table


def test_a_task_runs_on_a_worker(basic: dict[str, object]) -> None:
    # The head offers 2 CPUs and each worker 4, so a 3-CPU task can only run on a worker.
    code = (
        "head = [n['NodeID'] for n in ray.nodes() if n['Alive'] and "
        "n['Resources'].get('CPU') == 2.0]\n"
        "@ray.remote(num_cpus=3)\n"
        "def where(): return ray.get_runtime_context().get_node_id()\n"
        "node = ray.get(where.remote())\n"
        "print(json.dumps({'head': head, 'ran_on': node}))\n"
    )
    got = json.loads(driver(_address(basic), code).strip().splitlines()[-1])
    assert got["ran_on"] not in got["head"]


def test_every_ray_listener_is_on_loopback(local: Local, basic: dict[str, object]) -> None:
    nodes = _nodes(local, "raycluster-basic")
    assert len(nodes) >= 2
    for node in nodes:
        pid = node["pid"]
        assert isinstance(pid, int)
        addresses = listening_addresses(pid)
        assert addresses, f"{node['name']} listens nowhere"
        off = {a for a in addresses if a[0] != "127.0.0.1"}
        assert not off, f"{node['name']} listens off loopback: {off}"


def test_describe_lists_local_notes_and_nodes(local: Local, basic: dict[str, object]) -> None:
    text = local.run("describe", "raycluster", "raycluster-basic", "-n", NS).stdout
    assert "serviceAccountName" in text and "not applied locally" in text
    assert "rayStartParams.dashboard-host='0.0.0.0' is not used locally" in text
    assert "rayVersion is 2.47.1" in text
    assert "raycluster-basic-workers-worker-" in text


def test_idle_cluster_settles_at_min_replicas(local: Local, basic: dict[str, object]) -> None:
    # The seed: replicas 2, minReplicas 1, autoscaling on with the default 60 s idle
    # timeout. Ray's autoscaler drains an idle worker, names it in workersToDelete and
    # lowers replicas; the reconciler stops exactly that node and the group stays at min.
    nodes = wait_for(
        lambda: (
            _replicas(local, "raycluster-basic") == 1 and _settled(local, "raycluster-basic", 1)
        ),
        240,
        "the idle cluster to go down to minReplicas 1",
    )
    assert len([n for n in nodes if n["kind"] == "worker"]) == 1
    events = json.dumps((local.detail("raycluster-basic", NS) or {})["local"]["events"])
    assert "WorkersToDelete" in events
    assert local.get("raycluster-basic", namespace=NS)["status"]["desiredWorkerReplicas"] == 1


def test_restarted_controller_adopts_its_nodes(local: Local, basic: dict[str, object]) -> None:
    want = _replicas(local, "raycluster-basic")  # at min by now: the autoscaler leaves it
    before = {
        n["name"]: n["pid"]
        for n in wait_for(
            lambda: _settled(local, "raycluster-basic", want), 180, "the cluster to settle"
        )
    }
    local.kill_controller()
    local.start_controller()
    for _ in range(5):  # several reconcile passes
        after = wait_for(lambda: _settled(local, "raycluster-basic", want), 60, "adoption")
    assert {n["name"]: n["pid"] for n in after} == before


def test_killed_worker_is_replaced(local: Local, basic: dict[str, object]) -> None:
    before = _nodes(local, "raycluster-basic")
    victim = next(n for n in before if n["kind"] == "worker")
    assert isinstance(victim["pid"], int)
    os.killpg(victim["pid"], signal.SIGKILL)
    # Ray's autoscaler may add a worker of its own while the dead one is replaced (it sees
    # the group below min for a moment, as it can on Kubernetes); so the expected count is
    # the group's replicas as they stand, not a number fixed before the kill.
    nodes = wait_for(
        lambda: (lambda ns: ns if victim["name"] not in {n["name"] for n in ns} else None)(
            _settled(local, "raycluster-basic", _replicas(local, "raycluster-basic")) or []
        ),
        180,
        "the killed worker to be replaced",
    )
    assert len([n for n in nodes if n["kind"] == "worker"]) >= 1
    events = json.dumps((local.detail("raycluster-basic", NS) or {})["local"]["events"])
    assert victim["name"] in events


def test_invalid_apply_creates_nothing(local: Local, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        Path(BASIC)
        .read_text()
        .replace("name: raycluster-basic", "name: bad-one")
        .replace("maxReplicas: 10", "maxReplicas: -3")
    )
    result = local.run("apply", "-f", str(bad), check=False)
    assert result.returncode == 1
    assert "spec.workerGroupSpecs[0].maxReplicas" in result.stderr
    assert local.run("get", "raycluster", "bad-one", "-n", NS, check=False).returncode == 1


def test_delete_leaves_no_process_or_temp_dir(local: Local, basic: dict[str, object]) -> None:
    nodes = _nodes(local, "raycluster-basic")
    pids = [n["pid"] for n in nodes]
    temp_dirs = [Path(str(n["tempDir"])) for n in nodes]
    local.run("delete", "raycluster", "raycluster-basic", "-n", NS, timeout=240)
    for pid in pids:
        assert isinstance(pid, int)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    leftovers = [
        p
        for p in psutil.process_iter(["environ"])
        if _marker_of(p) in {str(n.get("marker")) for n in nodes}
    ]
    assert not leftovers
    assert not any(d.exists() for d in temp_dirs)
    assert local.run("get", "raycluster", "raycluster-basic", "-n", NS, check=False).returncode == 1


def _marker_of(proc: psutil.Process) -> str | None:
    try:
        return (proc.info.get("environ") or {}).get("RAYPLANE_NODE_MARKER")
    except (psutil.Error, AttributeError):
        return None
