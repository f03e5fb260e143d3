"""Nothing a resource, event, status or process says can steer the user's terminal.

Hostile text: a screen clear (CSI), a window-title write ending in BEL (OSC), a carriage
return that would hide what came before it on the line, a right-to-left override, and Rich
markup. All of it must be printed as visible text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rayplane.cli import describe, get_cmd
from rayplane.cli.main import app
from rayplane.cli.output import out

HOSTILE = "ok\x1b[2J\x1b]0;owned\x07\rhidden\u202eevil [red]loud[/red]"
# Any control character but newline: none may reach the terminal raw.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_shown_not_obeyed(text: str) -> None:
    assert not RAW_CONTROL.search(text), repr(text)
    assert "\\x1b[2J" in text and "\\x1b]0;owned\\x07" in text and "\\x0dhidden" in text
    assert "\\u202eevil" in text
    assert "[red]loud[/red]" in text  # printed as written, not turned into colour


def hostile_cluster() -> dict[str, Any]:
    return {
        "kind": "RayCluster",
        "metadata": {"name": "c", "namespace": "default", "uid": "u", "generation": 1},
        "spec": {"workerGroupSpecs": [{"groupName": "w", "replicas": 1}]},
        "status": {
            "state": HOSTILE,
            "reason": HOSTILE,
            "conditions": [{"type": "Ready", "status": "False", "reason": "X", "message": HOSTILE}],
        },
        "local": {
            "nodes": [
                {
                    "name": "c-head-x",
                    "group": "headgroup",
                    "kind": "head",
                    "state": "failed",
                    "reason": HOSTILE,
                    "log": "/home/logs/c-head-x.log",
                }
            ],
            "notes": [HOSTILE],
            "events": [
                {"time": "t", "type": "Warning", "reason": "R", "message": HOSTILE},
                {"time": "t", "type": "Normal", "reason": "R", "message": HOSTILE},
            ],
            "autoscaler": {"state": "failed", "reason": HOSTILE, "error": HOSTILE},
        },
    }


def test_describe_shows_hostile_text_without_obeying_it() -> None:
    with out.capture() as captured:
        describe.render(hostile_cluster())
    text = captured.get()
    assert_shown_not_obeyed(text)
    # Each place carried it: status, condition, node reason, note, both events, autoscaler.
    assert text.count("[red]loud[/red]") >= 8


def test_get_shows_hostile_status_without_obeying_it(monkeypatch: pytest.MonkeyPatch) -> None:
    class Listing:
        def list(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
            doc = hostile_cluster()
            doc.pop("local")
            return [doc]

    monkeypatch.setattr(get_cmd, "client", lambda start=False: Listing())
    result = CliRunner().invoke(app, ["get", "rayclusters"])
    assert result.exit_code == 0, result.output
    assert_shown_not_obeyed(result.stdout)


def test_logs_keep_their_colours_but_nothing_else() -> None:
    """Verbatim output (logs) may colour, as a process's own output does; nothing more."""
    with out.capture() as captured:
        out.print("\x1b[36m(raylet)\x1b[0m started" + HOSTILE, markup=False)
    text = captured.get()
    assert "\x1b[36m(raylet)\x1b[0m started" in text
    assert "\\x1b[2J" in text and "\\x1b]0;owned\\x07" in text and "\x07" not in text


def test_a_configmap_value_described_through_the_controller(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    value = HOSTILE.replace("\x1b", "\\e").replace("\x07", "\\a").replace("\r", "\\r")
    value = value.replace("\u202e", "\\u202e")
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
        f'  annotations: {{note: "{value}"}}\ndata: {{k: "{value}"}}\n'
    )
    cli = CliRunner()
    applied = cli.invoke(app, ["apply", "-f", str(path)])
    assert applied.exit_code == 0, applied.output
    described = cli.invoke(app, ["describe", "configmap", "cm"])
    assert described.exit_code == 0, described.output
    assert_shown_not_obeyed(described.stdout)
    assert described.stdout.count("[red]loud[/red]") == 2  # the annotation and the value
