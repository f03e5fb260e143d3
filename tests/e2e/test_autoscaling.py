"""Demand-based autoscaling on the local runtime, with real Ray processes (issue 6).

Ray's own v2 autoscaler runs beside each autoscaling cluster and scales it the way it
scales a KubeRay cluster: by writing a group's ``replicas`` and ``workersToDelete`` into
the stored RayCluster, which the reconciler then turns into started and stopped
processes. These tests keep the machine's 2 cores in mind: 1-CPU workers, heads that
offer no CPU (so work must go to workers), a 15 s idle timeout.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from rayplane.local.loopback import driver_env
from tests.e2e.conftest import Local, cluster_auth_env, driver
from tests.support import ROOT, wait_for
from tests.support import SEED_ENV as SUPPORT_SEED_ENV

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

# The seed's launcher environment under a cluster name of its own.
SEED_ENV = {**SUPPORT_SEED_ENV, "CLUSTER_NAME": "ec2-auto"}


def cluster_doc(
    name: str, *, autoscaling: bool, replicas: int, max_replicas: int = 3, idle: int = 15
) -> dict[str, Any]:
    container = {"name": "ray", "image": "rayproject/ray:2.60.0"}
    spec: dict[str, Any] = {
        "headGroupSpec": {
            "rayStartParams": {"num-cpus": "0"},
            "template": {"spec": {"containers": [container]}},
        },
        "workerGroupSpecs": [
            {
                "groupName": "small",
                "replicas": replicas,
                "minReplicas": 0,
                "maxReplicas": max_replicas,
                "rayStartParams": {"num-cpus": "1"},
                "template": {"spec": {"containers": [copy.deepcopy(container)]}},
            }
        ],
    }
    if autoscaling:
        spec["enableInTreeAutoscaling"] = True
        spec["autoscalerOptions"] = {"idleTimeoutSeconds": idle}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": spec,
    }


def apply(local: Local, doc: dict[str, Any], timeout: int = 240) -> None:
    result = local.run("apply", "-f", "-", "--timeout", str(timeout), input=yaml.safe_dump(doc))
    assert "is ready" in result.stdout, result.stdout + result.stderr


def detail(local: Local, name: str) -> dict[str, Any]:
    found = local.detail(name)
    assert found is not None, f"RayCluster {name} is gone"
    return found


def workers(found: dict[str, Any], group: str | None = None) -> list[dict[str, Any]]:
    return [
        n
        for n in found["local"]["nodes"]
        if n["kind"] == "worker" and (group is None or n["group"] == group)
    ]


def replicas(found: dict[str, Any], index: int = 0) -> int:
    return int(found["spec"]["workerGroupSpecs"][index].get("replicas") or 0)


def address(found: dict[str, Any]) -> str:
    return f"127.0.0.1:{found['status']['endpoints']['gcs-server']}"


def background_driver(gcs: str, code: str) -> subprocess.Popen[str]:
    script = f"import ray, json, time\nray.init(address={gcs!r}, logging_level='ERROR')\n" + code
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env={**driver_env(), **cluster_auth_env(gcs)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(stdout: str) -> Any:
    """The driver's RESULT line (Ray also prints autoscaler events to a driver's stdout)."""
    line = next(x for x in reversed(stdout.splitlines()) if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


SMALL = "as-small"


@pytest.fixture(scope="class")
def small(local: Local) -> Iterator[dict[str, Any]]:
    """One min-0/max-3 group of 1-CPU workers, autoscaled, shared by a class's tests."""
    apply(local, cluster_doc(SMALL, autoscaling=True, replicas=0))
    found = wait_for(
        lambda: (lambda d: d if (d["local"]["autoscaler"] or {}).get("updated") else None)(
            detail(local, SMALL)
        ),
        60,
        "the autoscaler to report",
    )
    yield found
    local.run("delete", "raycluster", SMALL, timeout=240)


class TestSmallAutoscalingCluster:
    NAME = SMALL

    def test_a_burst_grows_the_group_and_idle_nodes_go_back_to_min(
        self, local: Local, small: dict[str, Any]
    ) -> None:
        assert workers(small) == [] and replicas(small) == 0
        # Two 1-CPU tasks on a cluster with no worker CPU: the group must grow to two.
        burst = background_driver(
            address(small),
            "@ray.remote(num_cpus=1)\n"
            "def work():\n"
            "    time.sleep(3)\n"
            "    return ray.get_runtime_context().get_node_id()\n"
            "print('RESULT ' + json.dumps(ray.get([work.remote() for _ in range(2)])))\n",
        )
        grew = wait_for(
            lambda: (lambda d: d if replicas(d) >= 2 else None)(detail(local, self.NAME)),
            60,
            "the autoscaler to raise replicas",
        )
        assert 2 <= replicas(grew) <= 3  # capped at maxReplicas
        stdout, stderr = burst.communicate(timeout=180)
        assert burst.returncode == 0, stderr[-2000:]
        ran_on = set(result(stdout))
        assert ran_on and len(ran_on) <= 2  # workers only: the head offers no CPU

        # Idle for 15 s: drained by Ray, listed in workersToDelete, stopped; back to min 0.
        shrunk = wait_for(
            lambda: (lambda d: d if replicas(d) == 0 and not workers(d) else None)(
                detail(local, self.NAME)
            ),
            120,
            "the idle workers to be removed",
        )
        events = json.dumps(shrunk["local"]["events"])
        assert "WorkersToDelete" in events
        text = local.run("describe", "raycluster", self.NAME).stdout
        assert "Adding" in text and "(idle)" in text
        assert "small: replicas 0 -> " in text
        table = local.run("get", "rayclusters", "-o", "wide").stdout
        assert "small 0/0" in table
        own_log = local.run("logs", f"raycluster/{self.NAME}", "--node", "autoscaler").stdout
        assert "Adding" in own_log and "Removing" in own_log

    def test_demand_no_group_can_meet_is_reported_and_not_scaled(
        self, local: Local, small: dict[str, Any]
    ) -> None:
        waiting = background_driver(
            address(small),
            "@ray.remote(num_cpus=1, resources={'unobtainium': 1})\n"
            "def never(): return 1\n"
            "ref = never.remote()\n"
            "time.sleep(120)\n",
        )
        try:
            text = wait_for(
                lambda: (lambda t: t if "infeasible demand" in t else None)(
                    local.run("describe", "raycluster", self.NAME).stdout
                ),
                60,
                "describe to warn about the infeasible request",
            )
            assert "unobtainium: 1" in text and "CPU: 1" in text
            for _ in range(5):  # several autoscaler iterations: still nothing added
                found = detail(local, self.NAME)
                assert replicas(found) == 0 and not workers(found)
                time.sleep(1)
            events = json.dumps(found["local"]["events"])
            assert "InfeasibleDemand" in events and "unobtainium" in events
        finally:
            waiting.kill()
            waiting.wait()


def test_converted_ec2_cluster_adds_only_the_group_that_fits(local: Local) -> None:
    converted = Local(local.home, dict(local.env, **SEED_ENV)).run(
        "convert", str(ROOT / "examples" / "ec2-cluster-launcher.yaml")
    )
    doc = yaml.safe_load(converted.stdout)
    assert doc["spec"]["enableInTreeAutoscaling"] is True
    for group in doc["spec"]["workerGroupSpecs"]:
        group["minReplicas"] = 0
        group["replicas"] = 0
    name = doc["metadata"]["name"]
    apply(local, doc)
    try:
        # The head offers Intel too: the first Intel task runs there, the second needs an
        # x86 worker; the Graviton task needs an arm worker. Tasks hold their node until
        # all three run, so exactly one node of each kind is wanted.
        code = (
            "import time\n"
            "@ray.remote(num_cpus=0)\n"
            "class Gate:\n"
            "    def __init__(self): self.arrived, self.open = 0, False\n"
            "    def arrive(self): self.arrived += 1\n"
            "    def count(self): return self.arrived\n"
            "    def release(self): self.open = True\n"
            "    def is_open(self): return self.open\n"
            "gate = Gate.remote()\n"
            "def hold(g):\n"
            "    ray.get(g.arrive.remote())\n"
            "    while not ray.get(g.is_open.remote()): time.sleep(0.2)\n"
            "    return ray.get_runtime_context().get_node_id()\n"
            "arm = ray.remote(resources={'Graviton': 1})(hold)\n"
            "x86 = ray.remote(resources={'Intel': 1})(hold)\n"
            "refs = [arm.remote(gate), x86.remote(gate), x86.remote(gate)]\n"
            "deadline = time.time() + 150\n"
            "while ray.get(gate.count.remote()) < 3 and time.time() < deadline: time.sleep(0.5)\n"
            "ray.get(gate.release.remote())\n"
            "got = ray.get(refs)\n"
            "nodes = {n['NodeID']: n['Resources'] for n in ray.nodes() if n['Alive']}\n"
            "print('RESULT ' + json.dumps({'arm': got[:1], 'x86': got[1:], 'nodes': nodes}))\n"
        )
        found = detail(local, name)
        got = result(driver(address(found), code, timeout=240))
        nodes = got["nodes"]
        assert all("Graviton" in nodes[n] for n in got["arm"])
        assert all("Intel" in nodes[n] for n in got["x86"])
        found = detail(local, name)
        assert len(workers(found, "arm_worker_node")) == 1
        assert len(workers(found, "x86_worker_node")) == 1
        groups = {g["groupName"]: g.get("replicas") for g in found["spec"]["workerGroupSpecs"]}
        assert groups == {"x86_worker_node": 1, "arm_worker_node": 1}
    finally:
        local.run("delete", "raycluster", name, timeout=240)


def test_a_node_in_workers_to_delete_goes_and_no_other(local: Local) -> None:
    # Autoscaling off isolates the reconciler's rule: without the named node it would
    # remove the newest worker when replicas drop.
    name = "wtd"
    doc = cluster_doc(name, autoscaling=False, replicas=2)
    apply(local, doc)
    try:
        before = wait_for(
            lambda: (lambda d: d if sum(n["state"] == "ready" for n in workers(d)) == 2 else None)(
                detail(local, name)
            ),
            120,
            "two ready workers",
        )
        ordered = workers(before)  # the store lists nodes oldest first
        victim, newest = ordered[0], ordered[-1]
        assert victim["name"] != newest["name"]
        kept = {n["name"]: n["pid"] for n in ordered if n["name"] != victim["name"]}

        edited = copy.deepcopy(doc)
        group = edited["spec"]["workerGroupSpecs"][0]
        group["replicas"] = 1
        group["scaleStrategy"] = {"workersToDelete": [victim["name"]]}
        apply(local, edited)
        after = wait_for(
            lambda: (
                lambda d: d if victim["name"] not in {n["name"] for n in workers(d)} else None
            )(detail(local, name)),
            60,
            "the named worker to go",
        )
        for _ in range(3):  # a few more passes: nothing else goes, nothing comes back
            time.sleep(1)
            after = detail(local, name)
            assert {n["name"]: n["pid"] for n in workers(after)} == kept
            assert all(n["state"] == "ready" for n in workers(after))
        deleted = [e for e in after["local"]["events"] if e["reason"] == "DeletedNode"]
        assert [victim["name"] in e["message"] for e in deleted] == [True]
        assert "WorkersToDelete" in deleted[0]["message"]
    finally:
        local.run("delete", "raycluster", name, timeout=240)
