"""`validate` and `render` honour RAYPLANE_FEATURE_GATES (as `apply` does, and as its
errors say) and `--feature-gates`; `render` names a generateName'd resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rayplane.cli.main import app
from tests.api.conftest import minimal


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture
def gated(tmp_path: Path) -> Path:
    """A RayCluster using an alpha field behind RayClusterNetworkPolicy."""
    doc = minimal("RayCluster")
    doc["spec"]["networkPolicy"] = {}
    return _write(tmp_path, doc)


@pytest.mark.parametrize("verb", ["validate", "render"])
def test_the_environment_gates_are_honoured(verb: str, gated: Path) -> None:
    cli = CliRunner()
    assert cli.invoke(app, [verb, "-f", str(gated)]).exit_code == 1
    env = {"RAYPLANE_FEATURE_GATES": "RayClusterNetworkPolicy=true"}
    result = cli.invoke(app, [verb, "-f", str(gated)], env=env)
    assert result.exit_code == 0, result.stderr
    # The flag overrides the environment, gate by gate.
    flag = ["--feature-gates", "RayClusterNetworkPolicy=false"]
    assert cli.invoke(app, [verb, "-f", str(gated), *flag], env=env).exit_code == 1


def test_render_takes_feature_gates(gated: Path) -> None:
    result = CliRunner().invoke(
        app, ["render", "-f", str(gated), "--feature-gates", "RayClusterNetworkPolicy=true"]
    )
    assert result.exit_code == 0, result.stderr
    bad = CliRunner().invoke(app, ["render", "-f", str(gated), "--feature-gates", "Nope=true"])
    assert bad.exit_code == 2 and "--feature-gates: unknown feature gate 'Nope'" in bad.stderr


def test_render_names_a_generate_name_resource(tmp_path: Path) -> None:
    doc = minimal("RayJob")
    doc["metadata"] = {"generateName": "rayjob-sample-"}
    result = CliRunner().invoke(app, ["render", "-f", str(_write(tmp_path, doc))])
    assert result.exit_code == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "RayCluster"]
    assert len(names) == 1 and names[0].startswith("rayjob-sample-")
    assert "is named on create" in result.stderr
