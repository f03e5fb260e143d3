"""The failure log of a RayService: each failure once, under the home only, gone with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rayplane.local import serve_failures as failure_log
from rayplane.reconcile.service import Cause, ServeFailure


def failure(app: str, text: str = "Traceback ...\nValueError: boom") -> ServeFailure:
    return ServeFailure("svc-abcde", app, None, "DEPLOY_FAILED", Cause("ValueError", "boom"), text)


def test_line_counts_more_failed_apps_and_names_the_logs_command(tmp_path: Path) -> None:
    state: dict[str, Any] = {}
    failure_log.record(tmp_path, "team-a", "svc", 3, [failure("a"), failure("b")], state)
    line = failure_log.current(state, 3)
    assert line == (
        "app a: DEPLOY_FAILED: ValueError: boom (and 1 more failed app); "
        "full text: rayplane logs rayservice/svc -n team-a"
    )
    assert failure_log.current(state, 4) is None
    text = (tmp_path / "logs" / "team-a" / "svc" / "serve-failures.log").read_text()
    assert text.count("=== ") == 2 and "app b: DEPLOY_FAILED" in text


def test_no_failure_clears_the_line_but_keeps_the_log(tmp_path: Path) -> None:
    state: dict[str, Any] = {}
    failure_log.record(tmp_path, "default", "svc", 1, [failure("a")], state)
    failure_log.record(tmp_path, "default", "svc", 1, [], state)
    assert failure_log.current(state, 1) is None
    failure_log.record(tmp_path, "default", "svc", 1, [failure("a")], state)
    log = failure_log.log_path(tmp_path, "default", "svc")
    assert log.read_text().count("=== ") == 1, "the same failure again is not logged twice"
    failure_log.record(
        tmp_path, "default", "svc", 1, [failure("a", "the same, other paths")], state
    )
    assert log.read_text().count("=== ") == 1, "the same cause in other words is the same"
    other = ServeFailure("svc-abcde", "a", None, "DEPLOY_FAILED", Cause("OSError", "disk"), "")
    failure_log.record(tmp_path, "default", "svc", 1, [other], state)
    assert log.read_text().count("=== ") == 2


def test_removal_leaves_a_shared_folder_and_its_other_logs(tmp_path: Path) -> None:
    state: dict[str, Any] = {}
    failure_log.record(tmp_path, "default", "svc", 1, [failure("a")], state)
    folder = tmp_path / "logs" / "default" / "svc"
    (folder / "svc-head-abcde.log").write_text("a RayCluster named svc logs here too")
    failure_log.remove(tmp_path, "default", "svc")
    assert sorted(p.name for p in folder.iterdir()) == ["svc-head-abcde.log"]
    (folder / "svc-head-abcde.log").unlink()
    failure_log.record(tmp_path, "default", "svc", 1, [failure("b")], state)
    failure_log.remove(tmp_path, "default", "svc")
    assert not folder.exists()


def test_a_name_that_would_leave_the_home_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    state: dict[str, Any] = {}
    failure_log.record(home, "..", "..", 1, [failure("a")], state)
    # The line is still shown; no file was written anywhere.
    assert failure_log.current(state, 1)
    assert not any(tmp_path.rglob("serve-failures.log"))
    failure_log.remove(home, "..", "..")
