"""The EC2 seed: a cluster-launcher config converted and run, x86 and Graviton told apart by
custom resources (1 head + 4 Intel + 4 Graviton workers, all local processes)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Local, driver
from tests.support import ROOT, SEED_ENV

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]


def test_converted_ec2_cluster_places_graviton_work_on_graviton(local: Local) -> None:
    env = dict(local.env, **SEED_ENV)
    converted = Local(local.home, env).run(
        "convert", str(ROOT / "examples" / "ec2-cluster-launcher.yaml")
    )
    try:
        local.run("apply", "-f", "-", "--timeout", "400", input=converted.stdout)
        status = local.get("ec2-ray")["status"]
        assert status["readyWorkerReplicas"] == 8
        address = f"127.0.0.1:{status['endpoints']['gcs-server']}"
        code = (
            "nodes = {n['NodeID']: n['Resources'] for n in ray.nodes() if n['Alive']}\n"
            "@ray.remote(num_cpus=1, resources={'Graviton': 1})\n"
            "def arm(): return ray.get_runtime_context().get_node_id()\n"
            "@ray.remote(num_cpus=1, resources={'Intel': 1})\n"
            "def x86(): return ray.get_runtime_context().get_node_id()\n"
            "on_arm = ray.get([arm.remote() for _ in range(4)])\n"
            "on_x86 = ray.get([x86.remote() for _ in range(4)])\n"
            "print(json.dumps({'nodes': nodes, 'arm': on_arm, 'x86': on_x86}))\n"
        )
        got = json.loads(driver(address, code).strip().splitlines()[-1])
        nodes = got["nodes"]
        assert sum(1 for r in nodes.values() if "Graviton" in r) == 4
        assert sum(1 for r in nodes.values() if "Intel" in r) == 5  # the head offers Intel too
        assert all("Graviton" in nodes[n] for n in got["arm"])
        assert all("Intel" in nodes[n] for n in got["x86"])
    finally:
        local.run("delete", "raycluster", "ec2-ray", timeout=300)
