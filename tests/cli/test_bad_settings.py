"""A setting that cannot be read ends any verb with one line naming it, exit 2, and
nothing started: not a Python traceback, not a controller on a broken temp root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT


def _rayplane(
    tmp_path: Path, argv: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`rayplane ARGV` in a fresh process with a home under *tmp_path* (not made yet)."""
    full = {**os.environ, "RAYPLANE_HOME": str(tmp_path / "home"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rayplane", *argv],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("RAYPLANE_APPLY_TIMEOUT", "soon", "RAYPLANE_APPLY_TIMEOUT='soon' is not a number"),
        ("RAYPLANE_TEMP_ROOT", "/tmp/" + "t" * 40, "is 45 bytes long"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, name: str, value: str, said: str
) -> None:
    example = str(ROOT / "examples" / "raycluster-basic.yaml")
    proc = _rayplane(tmp_path, ["apply", "-f", example], {name: value})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"rayplane: {name}=" in proc.stderr and said in proc.stderr
    assert not (tmp_path / "home").exists()  # no controller was started


@pytest.mark.parametrize(
    "argv",
    [
        ["metrics", "up", "--port", "70000"],
        ["metrics", "up", "--scrape-interval", "0"],
        ["top", "--interval", "0"],
    ],
)
def test_out_of_range_flags_are_refused_before_anything_starts(
    tmp_path: Path, argv: list[str]
) -> None:
    proc = _rayplane(tmp_path, argv)
    assert proc.returncode == 2, proc.stderr
    assert f"Invalid value for '{argv[-2]}'" in proc.stderr
    assert not (tmp_path / "home").exists()  # no Prometheus, no controller
