"""Which logs `rayplane logs rayjob/NAME` shows: the live cluster's, or a kept attempt's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from rayplane.cli.kept_logs import job_attempt
from rayplane.local.history import History


def _detail(cluster: str | None) -> dict[str, Any]:
    status = {"rayClusterName": cluster} if cluster else {}
    return {"metadata": {"name": "job", "namespace": "default", "uid": "u"}, "status": status}


def test_the_live_cluster_is_read_until_its_deletion_began(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.begin("default", "job", "u", "job-c1")  # attempt 1, its cluster deleted
    assert job_attempt(history, _detail("job-c2"), None) is None  # attempt 2 is live
    kept = job_attempt(history, _detail("job-c1"), None)
    assert kept is not None and kept.cluster == "job-c1"
    newest = job_attempt(history, _detail(None), None)  # between attempts: the last one
    assert newest is not None and newest.number == 1


def test_an_attempt_that_is_not_kept_is_an_error_naming_the_kept_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = History(tmp_path)
    history.begin("default", "job", "u", "job-c1")
    with pytest.raises(typer.Exit):
        job_attempt(history, _detail("job-c1"), 7)
    assert "no kept attempt 7 (kept: 1)" in capsys.readouterr().err
