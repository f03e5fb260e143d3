"""Shell completion: the script to source, and Tab completing names from a controller
that runs (never starting one)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rayplane.cli.main import app
from rayplane.local.client import ControllerClient
from rayplane.settings import load_local

SECRET = """\
apiVersion: v1
kind: Secret
metadata: {{name: {name}}}
stringData: {{password: x}}
"""


def _tab(line: str) -> list[str]:
    """What bash shows for a Tab at the end of *line*."""
    words = line.split(" ")
    result = CliRunner().invoke(
        app,
        [],
        prog_name="rayplane",
        env={
            "_RAYPLANE_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
        },
    )
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_completion_prints_a_script_for_each_shell() -> None:
    for shell in ("bash", "zsh", "fish"):
        result = CliRunner().invoke(app, ["completion", shell])
        assert result.exit_code == 0, result.output
        assert "_RAYPLANE_COMPLETE" in result.stdout and "rayplane" in result.stdout
    assert CliRunner().invoke(app, ["completion", "tcsh"]).exit_code == 2


def test_tab_completes_verbs_and_resource_words(home: Path) -> None:
    assert _tab("rayplane sc") == ["scale"]
    assert _tab("rayplane create ") == ["cluster"]
    assert _tab("rayplane get work") == ["workergroups"]
    assert "nodes" in _tab("rayplane get ")


def test_tab_completes_names_from_a_running_controller_only(home: Path, tmp_path: Path) -> None:
    # no controller: nothing to offer, and none is started to find out
    assert _tab("rayplane get secrets ") == []
    assert not (home / "controller.sock").exists()
    for name in ("db-password", "dashboard-token"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(SECRET.format(name=name))
        applied = CliRunner().invoke(app, ["apply", "-f", str(path)])
        assert applied.exit_code == 0, applied.output
    assert _tab("rayplane get secrets ") == ["dashboard-token", "db-password"]
    assert _tab("rayplane get secret db") == ["db-password"]
    assert _tab("rayplane get secrets -n other ") == []
    ctl = ControllerClient(load_local())
    assert ctl.alive()
    ctl.close()
