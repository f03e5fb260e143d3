"""A controller on a temporary home, without its loop running: tests call handle()."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rayplane.local.controller import Controller
from rayplane.settings import LocalSettings


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Controller]:
    ctl = Controller(LocalSettings(home=tmp_path / "home", temp_root=tmp_path / "t"))
    yield ctl
    ctl.clusters.close()
    ctl.services.close()
    ctl.launcher.close()
    ctl.store.close()
