"""Paths built from a resource's identity: inside their area of the home, or refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayplane.local.homepaths import UnsafePath, make_dir, remove_tree, under_home


def test_paths_from_an_identity_stay_inside_their_area(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert make_dir(home, "logs", "default", "c1") == (home / "logs/default/c1").resolve()
    for parts in (("..",), ("..", ".."), ("a/../..",), ("",), (".",), ("ns", "..")):
        with pytest.raises(UnsafePath):
            under_home(home, "logs", *parts)
    # A symlink planted under the home does not lead a delete out of it.
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("x")
    (home / "logs" / "evil").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafePath, match="symlink"):
        under_home(home, "logs", "evil", "c1")
    assert remove_tree(home, "logs", "evil") is False
    assert (tmp_path / "outside" / "keep.txt").exists()
    assert remove_tree(home, "logs", "default", "c1") is True
    assert not (home / "logs" / "default" / "c1").exists()
