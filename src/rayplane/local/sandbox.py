"""A node's own filesystem view, made by bubblewrap: the host as it is, plus its volumes.

``bwrap`` puts the node in a new mount namespace (a user namespace too when not root),
binds the host's root there unchanged, and binds each volume at its ``mountPath``. It
shares the host's network and PIDs, so the node's listeners stay on 127.0.0.1 and its
processes are stopped as any node's are (by PID, group and marker). Ray's raylet, workers
and job drivers inherit the view, as a Pod's processes share the container's.

A mount point that does not exist on the host (``/home/ray/samples`` on most machines)
cannot be created there: an unprivileged user may not, and root must not write outside
the home. So the deepest existing parent of such a path is rebuilt in the namespace as a
tmpfs holding binds of the host's entries plus the new mount point; the host is untouched.

``bwrap`` is the process the node's record names (the leader of the node's process
group, so a stop or a SIGKILL of the group reaches all of it), but the drain signal must go
to its child (``ray start``): bwrap does not forward SIGTERM, it would just die and leave
the node running. :func:`sandboxed_child` finds that child.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

import psutil

from rayplane.local.mounts import View

FIX = "apt-get install -y bubblewrap"
_PROBE_TIMEOUT_S = 10.0
_SAME_START_S = 0.05


@functools.cache
def unavailable() -> str:
    """Why nodes cannot get their own view here, with the fix; "" when they can."""
    exe = shutil.which("bwrap")
    if exe is None:
        return f"bubblewrap (bwrap) is not installed; install it: {FIX}"
    try:
        probe = subprocess.run(
            [exe, "--dev-bind", "/", "/", "--tmpfs", "/tmp", "true"],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run ({exc})"
    if probe.returncode != 0:
        return (
            f"bwrap cannot make a mount namespace here ({probe.stderr.strip()}); the kernel "
            "refuses user namespaces to this user: allow them (sysctl "
            "kernel.unprivileged_userns_clone=1, or on Ubuntu an AppArmor profile for bwrap)"
        )
    return ""


def _depth(path: str) -> int:
    return len(PurePosixPath(path).parts)


def _under(path: str, parent: str) -> bool:
    return path != parent and PurePosixPath(parent) in PurePosixPath(path).parents


def synthetic_dirs(targets: Iterable[str], exists: object = os.path.lexists) -> set[str]:
    """Host folders to rebuild as tmpfs so that each missing mount point can be made.

    A target inside another target needs none: its mount point is made in that bind's
    source, which is under the home.
    """
    check = exists if callable(exists) else os.path.lexists
    targets = list(targets)
    out: set[str] = set()
    for target in targets:
        if any(_under(target, other) for other in targets):
            continue
        if check(target):
            continue
        path = PurePosixPath(target)
        parent = path.parent
        while not check(str(parent)):
            parent = parent.parent
        out.add(str(parent))
    return out


def _children(folder: str) -> list[str]:
    args: list[str] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        path = entry.path
        if entry.is_symlink():
            args += ["--symlink", os.readlink(path), path]
        else:
            # dev-bind: the host's /dev (and /dev/shm, Ray's object store) keep working.
            args += ["--dev-bind", path, path]
    return args


def command(argv: Sequence[str], view: View) -> list[str]:
    """The bwrap command line that runs *argv* in *view*, in its working directory."""
    binds, working_dir = view.binds, view.working_dir
    exe = shutil.which("bwrap") or "bwrap"
    synth = synthetic_dirs([b.target for b in binds])
    args = [exe]
    if "/" in synth:
        args += _children("/")
    else:
        args += ["--dev-bind", "/", "/"]
    for folder in sorted(synth - {"/"}, key=_depth):
        args += ["--tmpfs", folder, *_children(folder)]
    for bind in sorted(binds, key=lambda b: _depth(b.target)):
        if not bind.source:
            if bind.size:
                args += ["--size", str(bind.size)]
            args += ["--tmpfs", bind.target]
            if bind.read_only:
                args += ["--remount-ro", bind.target]
        else:
            args += ["--ro-bind" if bind.read_only else "--bind", bind.source, bind.target]
    return [*args, "--chdir", working_dir, "--", *argv]


def sandboxed_child(pid: int, create_time: float) -> int | None:
    """The PID of the command bwrap runs, when *pid* is a bwrap we started; else None.

    The process is recognised by its executable being this machine's bwrap and its start
    time being the recorded one, never by a name alone.
    """
    exe = shutil.which("bwrap")
    if exe is None:
        return None
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > _SAME_START_S:
            return None
        if os.path.realpath(proc.exe()) != os.path.realpath(exe):
            return None
        children = proc.children()
    except psutil.Error:
        return None
    return children[0].pid if children else None
