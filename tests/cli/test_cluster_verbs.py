"""`create cluster`, `scale cluster`, `get nodes` and `get workergroups` over an in-memory
backend: what a user types, sees and gets stored, with no Ray started."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml
from typer.testing import CliRunner

from rayplane.api.validation import validate
from rayplane.cli import nodes_cmd, resources, scale_cmd
from rayplane.cli.main import app
from rayplane.sdk.builder import build_cluster
from tests.cli.fake_backend import FakeBackend


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeBackend]]:
    FakeBackend.reset()
    for module in (resources, scale_cmd, nodes_cmd):  # create cluster starts it via resources
        monkeypatch.setattr(module, "LocalBackend", FakeBackend)
    yield FakeBackend
    FakeBackend.reset()


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def _stored(fake: type[FakeBackend], name: str, ns: str = "default") -> dict[str, object]:
    return fake.store[("RayCluster", ns, name)]


def test_dry_run_prints_the_builders_cluster_and_creates_nothing(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    result = cli.invoke(
        app,
        ["create", "cluster", "demo", "--workers", "2", "--worker-cpu", "500m", "--dry-run"],
    )
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    assert printed == build_cluster("demo", workers=2, worker_cpus="500m")
    assert validate(printed).ok
    assert fake.store == {} and fake.started == 0


def test_dry_run_json(cli: CliRunner, fake: type[FakeBackend]) -> None:
    result = cli.invoke(app, ["create", "cluster", "demo", "--dry-run", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kind"] == "RayCluster"


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--workers", "3", "--max-workers", "1"], "--workers 3 is outside"),
        (["--worker-memory", "lots"], "--worker-memory 'lots'"),
        (["--min-workers", "4", "--max-workers", "2"], "--min-workers 4 is more than"),
        (["--head-cpus", "-2"], "--head-cpus '-2' is negative"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    cli: CliRunner, fake: type[FakeBackend], flags: list[str], says: str
) -> None:
    result = cli.invoke(app, ["create", "cluster", "demo", *flags])
    assert result.exit_code == 2
    assert says in result.stderr
    assert fake.store == {}


def test_create_stores_the_cluster_and_waits_until_its_nodes_are_ready(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    result = cli.invoke(
        app, ["create", "cluster", "demo", "--workers", "1", "--autoscaling", "--max-workers", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "raycluster.ray.io/demo created" in result.stdout
    assert "RayCluster default/demo is ready" in result.stdout
    assert 'connect: import rayplane; rayplane.Cluster.get("demo").connect()' in result.stdout
    stored = _stored(fake, "demo")
    expected = build_cluster("demo", workers=1, autoscaling=True, max_workers=3)
    assert stored["spec"] == expected["spec"]
    # the wait showed the nodes coming up, as apply shows them
    assert "demo-head (headgroup): starting" in result.stderr


def test_create_refuses_an_existing_cluster(cli: CliRunner, fake: type[FakeBackend]) -> None:
    assert cli.invoke(app, ["create", "cluster", "demo", "--no-wait"]).exit_code == 0
    again = cli.invoke(app, ["create", "cluster", "demo", "--workers", "5"])
    assert again.exit_code == 1
    assert "RayCluster default/demo already exists" in again.stderr
    assert _stored(fake, "demo")["spec"]["workerGroupSpecs"][0]["replicas"] == 1


def test_scale_sets_replicas_and_waits_for_the_groups_nodes(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    assert cli.invoke(app, ["create", "cluster", "demo", "--workers", "1"]).exit_code == 0
    result = cli.invoke(app, ["scale", "cluster", "demo", "--group", "workergroup", "-r", "3"])
    assert result.exit_code == 0, result.output
    assert "scaled worker group workergroup of RayCluster default/demo: replicas 1 to 3" in (
        result.stdout
    )
    assert "workergroup of RayCluster default/demo: 3/3 workers ready" in result.stdout
    assert _stored(fake, "demo")["spec"]["workerGroupSpecs"][0]["replicas"] == 3
    # down again, with kubectl-ray's spelling; it waits until the stopped nodes are gone
    down = cli.invoke(app, ["scale", "cluster", "demo", "-w", "workergroup", "--replicas", "0"])
    assert down.exit_code == 0, down.output
    assert "0/0 workers ready" in down.stdout
    assert "being stopped" in down.stderr


def test_scale_outside_the_bounds_is_refused_and_changes_nothing(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    assert cli.invoke(app, ["create", "cluster", "demo", "--max-workers", "2"]).exit_code == 0
    result = cli.invoke(app, ["scale", "cluster", "demo", "-g", "workergroup", "-r", "5"])
    assert result.exit_code == 1
    assert "replicas 5 is above maxReplicas 2" in result.stderr
    assert "--max-replicas 5" in result.stderr
    assert _stored(fake, "demo")["spec"]["workerGroupSpecs"][0]["replicas"] == 1
    widened = cli.invoke(
        app, ["scale", "cluster", "demo", "-g", "workergroup", "-r", "5", "--max-replicas", "5"]
    )
    assert widened.exit_code == 0, widened.output
    assert "maxReplicas 2 to 5" in widened.stdout


def test_scale_an_unknown_group_or_cluster(cli: CliRunner, fake: type[FakeBackend]) -> None:
    assert cli.invoke(app, ["create", "cluster", "demo", "--no-wait"]).exit_code == 0
    result = cli.invoke(app, ["scale", "cluster", "demo", "-g", "gpu", "-r", "1"])
    assert result.exit_code == 1
    assert "'gpu' not found in RayCluster default/demo; its worker groups: workergroup" in (
        result.stderr
    )
    missing = cli.invoke(app, ["scale", "cluster", "nope", "-g", "workergroup", "-r", "1"])
    assert missing.exit_code == 1
    assert "RayCluster default/nope not found" in missing.stderr


def test_get_nodes_shows_kuberay_columns_state_and_reason(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    created = cli.invoke(
        app, ["create", "cluster", "demo", "--workers", "2", "--worker-memory", "3Gi", "--no-wait"]
    )
    assert created.exit_code == 0
    table = cli.invoke(app, ["get", "nodes", "demo"])
    assert table.exit_code == 0, table.output
    header, *rows = table.stdout.splitlines()
    assert header.split() == [
        "NAME", "CPUS", "GPUS", "TPUS", "MEMORY", "CLUSTER", "TYPE", "WORKER", "GROUP",
        "STATE", "AGE", "REASON",
    ]  # fmt: skip
    assert len(rows) == 3
    head = next(r for r in rows if r.startswith("demo-head"))
    assert head.split()[1:9] == ["1", "0", "0", "2Gi", "demo", "head", "headgroup", "starting"]
    assert "1h" in head and "ray start running" in head
    nodes = json.loads(cli.invoke(app, ["get", "nodes", "demo", "-o", "json"]).stdout)
    workers = [n for n in nodes if n["type"] == "worker"]
    assert [n["memory"] for n in workers] == ["3Gi", "3Gi"]
    assert all(n["state"] == "ready" and n["pid"] == 4242 for n in nodes)
    wide = cli.invoke(app, ["get", "nodes", "demo", "-o", "wide"]).stdout
    assert "PID" in wide and "/logs/head.log" in wide
    # kubectl-ray's spelling: the cluster with -c, a node name as the argument
    one = cli.invoke(app, ["get", "node", "demo-head", "-c", "demo", "-o", "json"])
    assert [n["name"] for n in json.loads(one.stdout)] == ["demo-head"]


def test_get_nodes_of_a_missing_cluster_or_with_no_controller(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    missing = cli.invoke(app, ["get", "nodes", "nope"])
    assert missing.exit_code == 1
    assert '"nope" not found in namespace default' in missing.stderr
    fake.running = False
    nothing = cli.invoke(app, ["get", "nodes"])
    assert nothing.exit_code == 0
    assert "No Ray nodes found in namespace default" in nothing.stderr
    assert fake.started == 0  # reading never starts a controller


def test_get_nodes_of_a_rayjob_reaches_its_cluster(cli: CliRunner, fake: type[FakeBackend]) -> None:
    backend = FakeBackend()
    backend.apply(build_cluster("job-cluster-x1", workers=0))
    backend.store[("RayJob", "default", "job")] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "job", "namespace": "default"},
        "spec": {},
        "status": {"rayClusterName": "job-cluster-x1"},
    }
    result = cli.invoke(app, ["get", "nodes", "job", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert [n["cluster"] for n in json.loads(result.stdout)] == ["job-cluster-x1"]


def test_get_workergroups_shows_ready_over_desired_and_totals(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    assert cli.invoke(app, ["create", "cluster", "demo", "--workers", "2"]).exit_code == 0
    assert (
        cli.invoke(
            app, ["scale", "cluster", "demo", "-g", "workergroup", "-r", "3", "--no-wait"]
        ).exit_code
        == 0
    )
    table = cli.invoke(app, ["get", "workergroups", "demo"])
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()
    assert header.split() == [
        "NAME", "MIN", "MAX", "REPLICAS", "CPUS", "GPUS", "TPUS", "MEMORY", "CLUSTER",
    ]  # fmt: skip
    # the scale is not waited for: 2 of 3 ready; the totals are for the 3 desired
    assert row.split() == ["workergroup", "0", "10", "2/3", "3", "0", "0", "3Gi", "demo"]
    rows = json.loads(cli.invoke(app, ["get", "wg", "demo", "-o", "json"]).stdout)
    assert rows[0]["ready"] == 3 and rows[0]["desired"] == 3
    everywhere = cli.invoke(app, ["get", "workergroups", "-A"]).stdout
    assert everywhere.split()[0] == "NAMESPACE"


def test_get_workergroups_unknown_group_with_the_cluster_flag(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    assert cli.invoke(app, ["create", "cluster", "demo", "--no-wait"]).exit_code == 0
    result = cli.invoke(app, ["get", "workergroups", "gpu", "-c", "demo"])
    assert result.exit_code == 1
    assert "Ray worker group gpu not found in RayCluster demo" in result.stderr


def test_get_workergroups_of_a_rayservice_reaches_its_active_cluster(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    backend = FakeBackend()
    backend.apply(build_cluster("svc-raycluster-ab12c", workers=1))
    backend.store[("RayService", "default", "svc")] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "svc", "namespace": "default"},
        "spec": {},
        "status": {"activeServiceStatus": {"rayClusterName": "svc-raycluster-ab12c"}},
    }
    result = cli.invoke(app, ["get", "workergroups", "svc", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert [g["cluster"] for g in json.loads(result.stdout)] == ["svc-raycluster-ab12c"]


def test_scale_with_no_controller_says_so_and_starts_none(
    cli: CliRunner, fake: type[FakeBackend]
) -> None:
    fake.running = False
    result = cli.invoke(app, ["scale", "cluster", "demo", "-g", "workergroup", "-r", "1"])
    assert result.exit_code == 1
    assert "the local controller is not running" in result.stderr
    assert fake.started == 0
