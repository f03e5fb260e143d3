"""One local Ray node as one process group: start it, watch it, stop it, leave nothing.

The store records ``(pid, pgid, create_time, marker)`` of each node so a restarted
controller can adopt its nodes, and so that deleting a cluster can find every process it
started. Three facts shape this module:

* A PID can be reused. Every check pairs the PID with the process's start time, and a
  process whose start time differs is someone else's.
* Not every process of a node stays in its process group or under its root. Ray's job
  supervisor starts a job's driver (and a watcher) with ``start_new_session=True``, and a
  process whose parent dies is re-parented to init. So a stop collects victims three ways:
  the process tree of the root, the members of the node's process group, and every process
  whose environment carries the node's unique marker (:data:`MARKER_ENV`), which Ray passes
  on to everything it starts. A marker is an ID we injected, not a name, so it can only
  match processes this node started.
* ``ray start --block`` handles SIGTERM itself: it drains the node (up to
  ``RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S``) and then stops its children, as a pod's PID 1
  does on Kubernetes. So the graceful signal goes to the root only by default; signalling
  the whole group would stop the raylet and workers under the drain.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil

from rayplane.local.loopback import node_env

MARKER_ENV: Final = "RAYPLANE_NODE_MARKER"
"""Environment variable holding the node's marker; inherited by all its processes."""

_CREATE_TIME_TOLERANCE_S: Final = 0.05
_POLL_S: Final = 0.1

# Popen objects of nodes this process started, kept so that exited nodes are reaped
# (no zombies) and Popen does not warn about a child still running when collected.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class NodeProcess:
    """What the store must keep to find, check and stop a node later."""

    pid: int
    pgid: int
    create_time: float
    marker: str


@dataclass(frozen=True)
class StopResult:
    """How a stop went: whether the root exited on its own within the grace period."""

    graceful: bool
    elapsed_s: float
    killed: tuple[int, ...]


def spawn(
    argv: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    *,
    cwd: Path | None = None,
    base_env: Mapping[str, str] | None = None,
) -> NodeProcess:
    """Start ``argv`` as a new session (its own process group), output to ``log_path``.

    The environment is :func:`rayplane.local.loopback.node_env` of ``env`` (loopback forced,
    auth and usage-stats defaults, the Python that runs Ray first on PATH) plus a fresh
    marker. The log is opened in append mode so that a restarted node keeps its history.
    """
    marker = uuid.uuid4().hex
    full_env = node_env(env, base=base_env)
    full_env[MARKER_ENV] = marker
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[proc.pid] = proc
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        # Exited already; the log says why. Record the time so is_alive() is just False.
        create_time = time.time()
    return NodeProcess(pid=proc.pid, pgid=proc.pid, create_time=create_time, marker=marker)


def _reap(pid: int) -> None:
    """Collect the exit status of a node this process started, if it has exited."""
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]


def _process(pid: int, create_time: float) -> psutil.Process | None:
    """The live process with this PID and start time, or None (gone, reused or zombie)."""
    _reap(pid)
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > _CREATE_TIME_TOLERANCE_S:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return proc


def is_alive(pid: int, create_time: float) -> bool:
    """Whether the process started at ``create_time`` with this PID still runs."""
    return _process(pid, create_time) is not None


def _alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.Error:
            continue
    return out


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def node_processes(
    pid: int, create_time: float, *, pgid: int | None = None, marker: str | None = None
) -> list[psutil.Process]:
    """Every live process of a node: root tree, plus group members and marker carriers.

    Group members count only while the root is alive or when they carry the marker: once
    the root is gone its PGID could in principle belong to a stranger's group.
    """
    found: dict[int, psutil.Process] = {}
    root = _process(pid, create_time)
    if root is not None:
        for proc in _tree(root):
            found[proc.pid] = proc
    if pgid is None and marker is None:
        return _alive(found.values())
    for proc in psutil.process_iter():
        if proc.pid in found or proc.pid == os.getpid():
            continue
        try:
            ours = root is not None and pgid is not None and os.getpgid(proc.pid) == pgid
            if not ours and marker is not None:
                ours = proc.environ().get(MARKER_ENV) == marker
            if ours:
                found[proc.pid] = proc
        except (psutil.Error, OSError):
            continue
    # Children of marker carriers that scrubbed their environment.
    for proc in list(found.values()):
        for child in _tree(proc)[1:]:
            found.setdefault(child.pid, child)
    return _alive(found.values())


def stop_group(
    pgid: int,
    pid: int,
    create_time: float,
    grace_s: float,
    *,
    marker: str | None = None,
    signal_group: bool = False,
    term_pid: int | None = None,
    kill_wait_s: float = 10.0,
) -> StopResult:
    """Stop a node and every process it started; safe to call when it is already gone.

    SIGTERM goes to the root (``ray start --block``), which drains and stops its children;
    with ``signal_group`` it goes to the whole process group instead, and with
    ``term_pid`` to that process (the command a wrapper such as bwrap runs). After ``grace_s``,
    or as soon as the root has exited, everything of the node still alive is SIGKILLed:
    the group, the processes seen in the tree before and after the SIGTERM, and the
    marker carriers. Never signals by name.
    """
    start = time.monotonic()
    deadline = start + grace_s
    victims = {p.pid: p for p in node_processes(pid, create_time, pgid=pgid, marker=marker)}
    root = _process(pid, create_time)
    if root is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if signal_group:
                os.killpg(pgid, signal.SIGTERM)
            elif term_pid is not None:
                os.kill(term_pid, signal.SIGTERM)
            else:
                root.send_signal(signal.SIGTERM)
        while time.monotonic() < deadline and is_alive(pid, create_time):
            # Keep the snapshot fresh: a draining node may still start processes.
            for proc in node_processes(pid, create_time):
                victims.setdefault(proc.pid, proc)
            time.sleep(_POLL_S)
    graceful = root is not None and not is_alive(pid, create_time)

    for proc in node_processes(pid, create_time, pgid=pgid, marker=marker):
        victims.setdefault(proc.pid, proc)
    remaining = _alive(victims.values())
    if graceful and remaining:
        # The root has stopped its children; let those still shutting down finish,
        # within what is left of the grace period.
        _, remaining = psutil.wait_procs(remaining, timeout=max(0.0, deadline - time.monotonic()))
    if root is not None and is_alive(pid, create_time):
        # The group is certainly ours while its leader is: one signal reaches all of it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    killed: list[int] = []
    for proc in remaining:
        try:
            proc.kill()  # psutil checks the PID still names the same process
            killed.append(proc.pid)
        except psutil.Error:
            continue
    psutil.wait_procs(remaining, timeout=kill_wait_s)
    _reap(pid)
    return StopResult(
        graceful=graceful, elapsed_s=time.monotonic() - start, killed=tuple(sorted(killed))
    )


def _normalize_ip(ip: str) -> str:
    """``::ffff:127.0.0.1`` (gRPC binds IPv4 on an IPv6 socket) is ``127.0.0.1``."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def listening_addresses(
    pid: int, create_time: float | None = None, *, marker: str | None = None
) -> set[tuple[str, int]]:
    """Every (ip, port) a process tree listens on over TCP, IPv4-mapped IPs normalised.

    Used by tests to prove a node is on loopback only, and to learn its ports.
    """
    if create_time is None:
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.Error:
            return set()
    out: set[tuple[str, int]] = set()
    for proc in node_processes(pid, create_time, marker=marker):
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        for conn in conns:
            if conn.status == psutil.CONN_LISTEN and conn.laddr:
                out.add((_normalize_ip(conn.laddr.ip), conn.laddr.port))
    return out
