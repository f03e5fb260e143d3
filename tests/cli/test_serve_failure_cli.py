"""What a user sees of a failed Serve app: `apply` stops with the cause, `describe` shows it
on one line with the log's path, `logs rayservice/NAME` prints Serve's full text.

The detail documents are what the local controller serves (local.serveFailure,
local.serveFailureLog, the apps' snapshot); the Serve answer is a real Ray 2.60 one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from rayplane.cli import describe, ops
from rayplane.cli.output import out
from rayplane.cli.readiness import service_outcome
from rayplane.clients.serve_api import parse_serve_state
from rayplane.local.rayservice_controller import serve_snapshot

MESSAGES = Path(__file__).parents[1] / "reconcile" / "serve_messages"
LINE = (
    "app fruit_app: DEPLOY_FAILED: runtime env setup failed: requests.exceptions."
    "ConnectionError: cannot fetch https://github.com/x.zip: [Errno 111] Connection refused; "
    "full text: rayplane logs rayservice/fruit"
)


def _detail(tmp_path: Path) -> dict[str, Any]:
    payload = json.loads((MESSAGES / "kuberay-different-port.json").read_text())
    apps = serve_snapshot(parse_serve_state(payload).applications, "fruit-abcde")
    log = tmp_path / "serve-failures.log"
    log.write_text("=== 2026-12-07T12:50:00Z RayCluster fruit-abcde, generation 1\nTraceback ...\n")
    head_log = tmp_path / "head.log"
    head_log.write_text("ray start output\n")
    return {
        "kind": "RayService",
        "metadata": {"name": "fruit", "namespace": "default"},
        "status": {
            "conditions": [{"type": "Ready", "status": "False", "reason": "Initializing"}],
            "pendingServiceStatus": {
                "rayClusterName": "fruit-abcde",
                "applicationStatuses": {
                    "fruit_app": {
                        "status": "DEPLOY_FAILED",
                        "message": payload["applications"]["fruit_app"]["message"],
                    }
                },
            },
        },
        "spec": {},
        "local": {
            "nodes": [
                {
                    "name": "fruit-abcde-head-xyz",
                    "group": "headgroup",
                    "kind": "head",
                    "state": "ready",
                    "log": str(head_log),
                }
            ],
            "serve": {"pending": {"cluster": "fruit-abcde", "applications": apps}},
            "serveFailure": LINE,
            "serveFailureLog": str(log),
        },
    }


def test_apply_stops_at_once_with_the_cause(tmp_path: Path) -> None:
    outcome = service_outcome(_detail(tmp_path))
    assert outcome.done and outcome.failed
    assert outcome.message == LINE


def test_apply_waits_while_nothing_failed(tmp_path: Path) -> None:
    detail = _detail(tmp_path)
    detail["local"]["serveFailure"] = None
    assert not service_outcome(detail).done


def test_describe_shows_one_line_and_the_log_not_the_traceback(tmp_path: Path) -> None:
    with out.capture() as captured:
        describe.render(_detail(tmp_path))
    text = captured.get()
    assert "Traceback" not in text and 'File "' not in text
    serve = text[text.index("\nServe") : text.index("\nEvents")]
    assert len(serve.strip().splitlines()) <= 8, serve  # the traceback alone is 123 lines
    assert "DEPLOY_FAILED  " in serve
    assert "  runtime env setup failed: requests.exceptions.ConnectionError: cannot fetch" in serve
    assert f"failed: {LINE}" in serve
    assert (
        f"failure log: {tmp_path / 'serve-failures.log'} (rayplane logs rayservice/fruit)" in serve
    )
    # Node progress: the pending cluster's head.
    assert "fruit-abcde-head-xyz" in text


def test_describe_keeps_a_plain_message_to_its_first_line() -> None:
    app = {"status": "DEPLOYING", "message": "line one\nline two"}
    assert describe._message(app, {}, True) == "line one …"
    assert describe._message(app, {"message": "scaling up"}, False) == "scaling up"


class _Client:
    def __init__(self, detail: dict[str, Any], home: Path) -> None:
        self.detail = detail
        self.settings = type("S", (), {"home": home})()

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert (kind, namespace, name) == ("RayService", "default", "fruit")
        return self.detail


def _logs(monkeypatch: pytest.MonkeyPatch, detail: dict[str, Any], home: Path, **kw: Any) -> None:
    monkeypatch.setattr(ops, "client", lambda: _Client(detail, home))
    ops.logs_cmd(
        "rayservice/fruit",
        **{
            "node": None,
            "follow": False,
            "tail": 200,
            "attempt": None,
            "namespace": "default",
            **kw,
        },
    )


def test_logs_of_a_failed_service_print_serves_full_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    detail = _detail(tmp_path)
    with out.capture() as captured:
        _logs(monkeypatch, detail, tmp_path)
    assert "RayCluster fruit-abcde, generation 1\nTraceback ..." in captured.get()
    with out.capture() as captured:
        _logs(monkeypatch, detail, tmp_path, node="fruit-abcde-head-xyz")
    assert captured.get().strip() == "ray start output"


def test_logs_of_a_service_without_failures_are_its_heads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    detail = _detail(tmp_path)
    detail["local"]["serveFailureLog"] = None
    with out.capture() as captured:
        _logs(monkeypatch, detail, tmp_path)
    assert captured.get().strip() == "ray start output"
    with pytest.raises(typer.Exit):
        _logs(monkeypatch, detail, tmp_path, node="nope")


def test_logs_tail_shows_whole_failures_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    detail = _detail(tmp_path)
    entry = "=== {0} RayCluster fruit-abcde, generation 1\nline {0}\n\nTraceback {0}\nError {0}\n\n"
    Path(detail["local"]["serveFailureLog"]).write_text(entry.format(1) + entry.format(2))
    with out.capture() as captured:
        _logs(monkeypatch, detail, tmp_path, tail=7)
    assert captured.get().startswith("=== 2 RayCluster fruit-abcde")


def test_describe_says_why_a_replica_is_being_retried() -> None:
    payload = json.loads((MESSAGES / "ctor-retrying.json").read_text())
    apps = serve_snapshot(parse_serve_state(payload).applications, "c1")
    ctor = apps["ctor"]
    assert "failure" not in ctor  # still DEPLOYING: not a failure yet
    cell = describe._message(ctor, ctor["deployments"]["Pricer"], False)
    assert cell == (
        "A replica failed to start with exception. Retrying 2 more time(s). Error: "
        "ValueError: price must be positive, got -1"
    )
