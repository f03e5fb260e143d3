"""A deleted node's temp folder leaves its path at once and is removed off the loop's thread.

A node whose runtime env installed pip packages leaves a copy of a virtualenv in its temp
folder; removing it inline held every other reconcile (and `delete`) for minutes.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any, cast

import pytest

from rayplane.local import raycluster_teardown
from rayplane.local.raycluster_teardown import Teardown
from rayplane.settings import LocalSettings


def _teardown(temp_root: Path) -> Teardown:
    settings = LocalSettings(home=temp_root.parent / "home", temp_root=temp_root)
    return Teardown(settings, cast(Any, None), cast(Any, None), cast(Any, None), cast(Any, None))


def test_the_folder_leaves_its_path_before_its_removal_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "t"
    node_dir = root / "nabc"
    (node_dir / "runtime_resources" / "pip").mkdir(parents=True)
    (node_dir / "runtime_resources" / "pip" / "big").write_bytes(b"x" * 1024)
    release = threading.Event()
    real_rmtree = shutil.rmtree

    def slow_rmtree(path: Path, ignore_errors: bool = False) -> None:
        release.wait(10)  # a removal that takes as long as the test lets it
        real_rmtree(path, ignore_errors=ignore_errors)

    teardown = _teardown(root)
    monkeypatch.setattr(raycluster_teardown.shutil, "rmtree", slow_rmtree)
    teardown._discard(node_dir)
    assert not node_dir.exists()
    assert [p.name for p in root.iterdir()] == [".nabc.removing"]
    release.set()
    teardown._stops.shutdown(wait=True)
    assert list(root.iterdir()) == []


def test_a_new_controller_removes_what_a_stopped_one_left_renamed(tmp_path: Path) -> None:
    root = tmp_path / "t"
    (root / ".nold.removing" / "sub").mkdir(parents=True)
    (root / "nlive").mkdir()
    teardown = _teardown(root)
    teardown._stops.shutdown(wait=True)
    assert [p.name for p in root.iterdir()] == ["nlive"]


def test_a_folder_already_gone_is_not_an_error(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    teardown = _teardown(root)
    teardown._discard(root / "never-made")
    teardown._stops.shutdown(wait=True)
    assert list(root.iterdir()) == []
