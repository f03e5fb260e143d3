"""The local runtime's own ports, hosts and directories win over any rayStartParams.

Checked with Ray's click parser itself: what `ray start` would run with, not what our
command line looks like.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from ray.scripts.scripts import start

from rayplane.api.raycluster import RayCluster, RayClusterSpec
from rayplane.local import loopback
from rayplane.local.notes import apply_notes, local_notes
from rayplane.local.pinned import OWNED, local_start_command, owned
from rayplane.local.ports import allocate_node_ports

# Every way a user map can reach an option the runtime owns, plus KubeRay's usual ones.
HOSTILE = {
    "dashboard-host=0.0.0.0": "true",
    "dashboard-host": "0.0.0.0",
    "node-ip-address": "0.0.0.0",
    "temp-dir": "/tmp/elsewhere",
    "port": "6379",
    "dashboard-port": "8265",
    "metrics-export-port": "8080",
    "worker-port-list": "30000,30001",
    "ray-debugger-external": "true",
    "num-cpus": "1",
}


def _spec(head: dict[str, str], worker: dict[str, str] | None = None) -> RayClusterSpec:
    group = {"rayStartParams": worker or {}, "template": {"spec": {"containers": [{}]}}}
    return RayClusterSpec.model_validate(
        {
            "headGroupSpec": {"rayStartParams": head, "template": {"spec": {"containers": [{}]}}},
            "workerGroupSpecs": [{"groupName": "w", "replicas": 1, **group}],
        }
    )


def _ray_start_sees(argv: list[str]) -> dict[str, Any]:
    """The options `ray start` runs with, parsed as rayplane.local.ray_cli hands them over."""
    args = loopback.enforce_node_ip(argv[2:])
    return dict(start.make_context("start", args).params)


def test_hostile_head_params_reach_ray_start_with_the_runtimes_values() -> None:
    ports = allocate_node_ports(head=True, rng=random.Random(1))
    command = local_start_command(
        _spec(HOSTILE), None, ports, temp_dir="/tmp/rp/n1", address="", object_store_bytes=2**26
    )
    seen = _ray_start_sees(command.argv({}))
    assert seen["dashboard_host"] == "127.0.0.1"
    assert seen["node_ip_address"] == "127.0.0.1"
    assert seen["temp_dir"] == "/tmp/rp/n1"
    assert (seen["port"], seen["dashboard_port"]) == (ports.gcs, ports.dashboard)
    assert seen["metrics_export_port"] == ports.metrics_export
    assert seen["worker_port_list"] is None and seen["ray_debugger_external"] is False
    assert seen["num_cpus"] == 1 and seen["head"] is True
    assert {key for key, _ in command.dropped} == set(HOSTILE) - {"num-cpus"}


def test_a_worker_joins_its_own_head_whatever_its_params_say() -> None:
    ports = allocate_node_ports(head=False, rng=random.Random(2))
    spec = _spec({}, {"address": "10.0.0.1:6379", "head": "true", **HOSTILE})
    command = local_start_command(
        spec,
        spec.worker_group_specs[0],
        ports,
        temp_dir="/tmp/rp/n2",
        address="127.0.0.1:7000",
        object_store_bytes=2**26,
    )
    seen = _ray_start_sees(command.argv({}))
    assert seen["head"] is False and seen["address"] == "127.0.0.1:7000"
    assert seen["dashboard_host"] == "127.0.0.1" and seen["node_manager_port"] == ports.node_manager


@pytest.mark.parametrize("head", [True, False])
def test_every_flag_the_runtime_sets_is_one_the_notes_know_it_owns(head: bool) -> None:
    # describe's and apply's notes are computed from owned(); a pin missing there would
    # drop a user's param without a word.
    ports = allocate_node_ports(head=head, rng=random.Random(3))
    spec = _spec({})
    group = None if head else spec.worker_group_specs[0]
    command = local_start_command(
        spec, group, ports, temp_dir="/t", address="127.0.0.1:1", object_store_bytes=1
    )
    assert command.pinned - {"object-store-memory"} <= owned(group)
    assert "address" not in OWNED


def test_notes_name_each_dropped_param_its_path_and_why() -> None:
    doc = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "c"},
        "spec": _spec({"dashboard-host": "0.0.0.0", "num-cpus": "1"}, {"port": "6379"}).wire(),
    }
    notes = local_notes(RayCluster.model_validate(doc))
    assert (
        "spec.headGroupSpec.rayStartParams.dashboard-host='0.0.0.0' is not used locally: "
        "the dashboard listens on 127.0.0.1 only." in " ".join(notes)
    )
    assert any("spec.workerGroupSpecs[0].rayStartParams.port='6379'" in n for n in notes)
    assert not any("num-cpus" in n for n in notes)
    assert apply_notes(doc)[1] == [n for n in notes if "rayStartParams" in n]
