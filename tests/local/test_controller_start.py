"""Starting the local controller: a start that cannot work says why at once, in the
command's own output, instead of "did not start within 30s; see controller.log"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rayplane.local import client as client_module
from rayplane.local.client import ControllerClient, ControllerError
from rayplane.settings import LocalSettings


def test_a_controller_that_exits_at_start_is_reported_with_its_last_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'boom: the home is on fire' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(client_module.sys, "executable", str(fake))
    ctl = ControllerClient(LocalSettings(home=tmp_path / "home", temp_root=tmp_path / "t"))
    try:
        with pytest.raises(ControllerError, match=r"exited at start \(code 3\): boom: the home"):
            ctl.ensure_running()
    finally:
        ctl.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a folder to another user")
def test_a_temp_root_of_another_user_is_refused_before_a_controller_starts(
    tmp_path: Path,
) -> None:
    theirs = tmp_path / "t"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    ctl = ControllerClient(LocalSettings(home=tmp_path / "home", temp_root=theirs))
    try:
        with pytest.raises(ControllerError, match=r"RAYPLANE_TEMP_ROOT .* is owned by uid 65534"):
            ctl.ensure_running()
    finally:
        ctl.close()
    assert not (tmp_path / "home" / "controller.log").exists()  # nothing was started
