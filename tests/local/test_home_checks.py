"""An existing $RAYPLANE_HOME that others own or may write to is fixed or refused.

The home holds Secret values and the socket the CLI sends them to; a home another user
controls would hand them over. Changing a directory's owner needs root (as in CI): those
tests are skipped for other users, and the pure check covers the message either way.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rayplane.local.client import ControllerClient, ControllerError
from rayplane.local.controller import Controller
from rayplane.settings import LocalSettings, home_problem

OTHER_UID = 65534  # nobody
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing an owner needs root")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def start(home: Path, tmp_path: Path) -> None:
    ctl = Controller(LocalSettings(home=home, temp_root=tmp_path / "t"))
    ctl.clusters.close()
    ctl.services.close()
    ctl.store.close()


def test_a_new_home_is_owner_only(tmp_path: Path) -> None:
    start(tmp_path / "new" / "home", tmp_path)
    assert mode(tmp_path / "new" / "home") == 0o700


def test_our_own_world_writable_home_is_set_to_0700(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o777)
    start(home, tmp_path)
    assert mode(home) == 0o700


def test_the_refusal_names_the_path_the_problem_and_the_fix() -> None:
    path = Path("/srv/shared/rayplane")
    other = home_problem(path, is_dir=True, mode=0o700, owner=OTHER_UID, me=1000)
    assert other is not None and "\n" not in other
    assert str(path) in other and f"uid {OTHER_UID}" in other
    assert f"chown -R 1000 {path}" in other
    writable = home_problem(path, is_dir=True, mode=0o777, owner=1000, me=1000)
    assert writable is not None and "writable by group or others" in writable
    assert f"chmod 700 {path}" in writable
    assert home_problem(path, is_dir=True, mode=0o755, owner=1000, me=1000) is None


@as_root
def test_a_home_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    os.chown(home, OTHER_UID, OTHER_UID)
    with pytest.raises(SystemExit, match=f"owned by uid {OTHER_UID}"):
        start(home, tmp_path)
    assert list(home.iterdir()) == []  # nothing was created in it
    client = ControllerClient(LocalSettings(home=home))
    with pytest.raises(ControllerError, match="chown"):
        client.request("GET", "/healthz")  # refused before talking to its socket
    client.close()


@as_root
def test_a_writable_home_with_another_users_file_in_it_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o777)
    planted = home / "state.db"
    planted.write_text("")
    os.chown(planted, OTHER_UID, OTHER_UID)
    with pytest.raises(SystemExit, match=r"state\.db in it belongs to uid"):
        start(home, tmp_path)
    assert mode(home) == 0o777  # left for the user to look at, not silently trusted
