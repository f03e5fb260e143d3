"""A scratch RAYPLANE_HOME whose controller (started by the CLI under test) is stopped after."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rayplane.local.client import ControllerClient, ControllerError
from rayplane.settings import load_local
from tests.support import short_temp_root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "home"
    monkeypatch.setenv("RAYPLANE_HOME", str(path))
    temp = short_temp_root()
    monkeypatch.setenv("RAYPLANE_TEMP_ROOT", str(temp))
    yield path
    ctl = ControllerClient(load_local())
    with contextlib.suppress(ControllerError):
        ctl.request("POST", "/shutdown")
    ctl.close()
    shutil.rmtree(temp, ignore_errors=True)
