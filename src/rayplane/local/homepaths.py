"""Paths under $RAYPLANE_HOME built from a resource's identity, checked before any use.

A namespace or name is user input. The controller refuses bad ones at its API, but a row
can still reach the store another way (an older version, a hand-edited database), and a
name like ``..`` joined onto the home would make a delete remove the folder that holds
the home. So every path made from an identity is built here, resolved (symlinks too) and
refused unless it lies strictly inside ``home/<area>``; nothing is created or removed
before that check.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from rayplane.errors import RayplaneError

log = logging.getLogger("rayplane.homepaths")


class UnsafePath(RayplaneError, ValueError):
    """A path from a resource's identity that would leave its area of the home."""


def under_home(home: Path, area: str, *parts: str) -> Path:
    """``home/area/parts...``, resolved, or UnsafePath when it is not strictly inside
    ``home/area`` (an empty, ``.``/``..`` or slash-holding part, or a symlink out)."""
    root = (home / area).resolve()
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\0" in part:
            raise UnsafePath(
                f"refusing the path {area}/{'/'.join(parts)} under {home}: the part {part!r} "
                "is not a plain name (a namespace or name must be a DNS-1123 name such as "
                "'my-cluster')"
            )
    path = root.joinpath(*parts).resolve()
    if root not in path.parents:
        raise UnsafePath(
            f"refusing {path}: it is not inside {root} (a symlink under the home points "
            "out of it; remove that link)"
        )
    return path


def make_dir(home: Path, area: str, *parts: str) -> Path:
    """The checked directory, created (owner-only, as the rest of the home) if missing."""
    path = under_home(home, area, *parts)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def remove_tree(home: Path, area: str, *parts: str) -> bool:
    """Remove the checked directory if present; False (logged) when the path is refused.

    Refusing without raising lets the delete of a resource with a forged identity finish:
    nothing could have been created for it under the home, so there is nothing to remove.
    """
    try:
        path = under_home(home, area, *parts)
    except UnsafePath as exc:
        log.warning("%s; nothing removed", exc)
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True
