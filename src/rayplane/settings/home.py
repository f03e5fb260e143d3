"""The home's safety checks: $RAYPLANE_HOME holds Secrets and the controller's socket.

They sit with the settings because the home is the one setting that is also a trust
boundary: it must be checked before the controller or a client reads anything from it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rayplane.errors import RayplaneError


class HomeError(RayplaneError):
    """$RAYPLANE_HOME cannot be used safely; the message says why and the fix."""


def home_problem(path: Path, *, is_dir: bool, mode: int, owner: int, me: int) -> str | None:
    """Why the existing *path* (its stat values given) must not be a home, or None.

    The home holds Secret values and the controller's socket, and the controller runs
    what it finds there: another user who owns it, or may write to it, could read the
    Secrets or plant a state file or socket the controller would trust.
    """
    if not is_dir:
        return f"RAYPLANE_HOME {path} is not a directory; point RAYPLANE_HOME at a directory"
    if owner != me:
        return (
            f"RAYPLANE_HOME {path} is owned by uid {owner}, not by you (uid {me}), so its "
            f"owner could read your Secrets or change what the controller runs; use a home "
            f"of your own (export RAYPLANE_HOME=~/.rayplane) or take it: chown -R {me} {path}"
        )
    if mode & 0o022:
        return (
            f"RAYPLANE_HOME {path} is writable by group or others (mode {mode & 0o777:04o}); "
            f"fix it with: chmod 700 {path}"
        )
    return None


def prepare_home(home: Path) -> list[str]:
    """Create the home owner-only, or check an existing one; notes on what was fixed.

    A home that is ours but group- or world-writable is set to 0700 (an older rayplane,
    or a umask, made it so) unless something in it belongs to another user: then the
    writable mode was used, and HomeError refuses it rather than trust what was planted.
    A home owned by another user is always refused.
    """
    try:
        home.mkdir(mode=0o700, parents=True)
        return []
    except FileExistsError:
        pass
    me = os.geteuid()
    st = home.stat()
    problem = home_problem(
        home, is_dir=stat.S_ISDIR(st.st_mode), mode=st.st_mode, owner=st.st_uid, me=me
    )
    if problem is None:
        return []
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != me:
        raise HomeError(problem)
    foreign = next((p for p in home.iterdir() if p.lstat().st_uid != me), None)
    if foreign is not None:
        raise HomeError(
            f"{problem}; {foreign} in it belongs to uid {foreign.lstat().st_uid}, so "
            "another user has written there: check it, remove it, then chmod"
        )
    home.chmod(0o700)
    return [f"RAYPLANE_HOME {home} was writable by group or others; set it to mode 0700"]


def prepare_temp_root(root: Path) -> None:
    """Create Ray nodes' temp root owner-only, or check an existing one.

    Ray binds its sockets under it and trusts what it finds there (session folders,
    sockets); a root another user owns or may write to could take them over. The default
    is one per user (``/tmp/rayplane-<uid>``) so two users of a machine never share it.
    """
    me = os.geteuid()
    try:
        root.mkdir(mode=0o700, parents=True)
        return
    except FileExistsError:
        pass
    st = root.lstat()
    why = None
    if not stat.S_ISDIR(st.st_mode):
        why = "is not a directory"
    elif st.st_uid != me:
        why = f"is owned by uid {st.st_uid}, not by you (uid {me})"
    elif st.st_mode & 0o022:
        why = f"is writable by group or others (mode {st.st_mode & 0o777:04o})"
    if why:
        raise HomeError(
            f"RAYPLANE_TEMP_ROOT {root} {why}, so another user could reach your Ray "
            f"nodes' sockets; use one of your own: export RAYPLANE_TEMP_ROOT=/tmp/rayplane-{me}"
        )
