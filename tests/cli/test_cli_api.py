"""The CLI verbs that need no runtime: validate, convert, crds, version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rayplane.cli.main import app
from tests.support import SEED_ENV


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_validate_accepts_the_seed_raycluster(cli: CliRunner, examples: Path) -> None:
    result = cli.invoke(app, ["validate", "-f", str(examples / "raycluster-basic.yaml")])
    assert result.exit_code == 0, result.output
    assert "valid RayCluster/raycluster-basic" in result.stdout


def test_validate_rejects_the_seed_rayjob_naming_each_path(cli: CliRunner, examples: Path) -> None:
    result = cli.invoke(app, ["validate", "-f", str(examples / "rayjob-pod-identity.yaml")])
    assert result.exit_code == 1
    assert "spec.rayClusterSpec.headGroupSpec.template.spec.containers:" in result.stderr
    assert "spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers:" in result.stderr
    assert "spec.entrypoint:" in result.stderr


def test_validate_json_output_lists_findings(cli: CliRunner, examples: Path) -> None:
    result = cli.invoke(
        app, ["validate", "-o", "json", "-f", str(examples / "rayjob-pod-identity.yaml")]
    )
    assert result.exit_code == 1
    (report,) = json.loads(result.stdout)
    paths = {f["path"] for f in report["findings"] if f["severity"] == "error"}
    assert "spec.rayClusterSpec.headGroupSpec.template.spec.containers" in paths
    assert report["valid"] is False


def test_validate_unreadable_input_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(app, ["validate", "-f", str(tmp_path / "missing.yaml")]).exit_code == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: RayCluster\n  bad: [indent\n")
    result = cli.invoke(app, ["validate", "-f", str(broken)])
    assert result.exit_code == 2
    assert "line" in result.stderr


def test_validate_reads_stdin_and_skips_other_kinds(cli: CliRunner, examples: Path) -> None:
    text = (examples / "raycluster-basic.yaml").read_text()
    text += "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: redis}\n"
    text += "---\napiVersion: v1\nkind: Secret\nmetadata: {name: redis}\n"
    result = cli.invoke(app, ["validate", "-f", "-"], input=text)
    assert result.exit_code == 0, result.output
    assert "Service/redis" in result.stderr and "skipped" in result.stderr
    # A Secret is read by valueFrom on the local runtime, so it is validated, not skipped.
    assert "valid Secret/redis" in result.stdout


def test_convert_seed_ec2_config_round_trips_through_validate(
    cli: CliRunner, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in SEED_ENV.items():
        monkeypatch.setenv(key, value)
    result = cli.invoke(app, ["convert", str(examples / "ec2-cluster-launcher.yaml")])
    assert result.exit_code == 0, result.output
    cluster = yaml.safe_load(result.stdout)
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    assert set(groups) == {"x86_worker_node", "arm_worker_node"}
    for name, resource in (("x86_worker_node", "Intel"), ("arm_worker_node", "Graviton")):
        assert (groups[name]["minReplicas"], groups[name]["maxReplicas"]) == (4, 8)
        assert resource in groups[name]["rayStartParams"]["resources"]
    assert "node_config" in result.stderr
    checked = cli.invoke(app, ["validate", "-f", "-"], input=result.stdout)
    assert checked.exit_code == 0, checked.output


def test_convert_reports_unset_variables(
    cli: CliRunner, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in SEED_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CLUSTER_NAME", "ec2-ray")
    result = cli.invoke(app, ["convert", str(examples / "ec2-cluster-launcher.yaml")])
    assert result.exit_code == 0
    assert "${X86_AMI_ID} is not set" in result.stderr


def test_convert_rejects_a_non_launcher_file(cli: CliRunner, examples: Path) -> None:
    result = cli.invoke(app, ["convert", str(examples / "raycluster-basic.yaml")])
    assert result.exit_code == 1
    assert "available_node_types" in result.stderr


def test_version_names_ray(cli: CliRunner) -> None:
    result = cli.invoke(app, ["version", "-o", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ray"].startswith("2.60")
