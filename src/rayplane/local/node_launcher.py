"""The runtime port: what the local runtime does with a node's process.

DESIGN.md promises one seam between "what the cluster should be" and "how a node runs".
This is it, in the manner of httpx's transport or SkyPilot's provision interface: the
controllers start, observe and stop node processes only through a :class:`NodeLauncher`.
The controller is handed :class:`ProcessLauncher` (real process groups, the agent's
health endpoint); tests and the hot-path bench hand it
:class:`rayplane.local.fake_launcher.FakeLauncher` and no process starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import httpx

from rayplane.clients.health import dashboard_healthy, node_healthy
from rayplane.local import process, sandbox
from rayplane.local.loopback import LOOPBACK_IP
from rayplane.local.mounts import View
from rayplane.local.process import NodeProcess

__all__ = ["NodeLauncher", "NodeProcess", "ProcessLauncher"]


class NodeLauncher(Protocol):
    """Start, observe and stop the process of one node (or a RayJob's submitter)."""

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        view: View | None = None,
    ) -> NodeProcess:
        """Launch *argv* in its own process group with output to *log_path*, in its own
        filesystem *view* (volumes at their mount paths) when one is given."""
        ...

    def alive(self, pid: int, create_time: float) -> bool:
        """Whether the process started at *create_time* with this PID still runs."""
        ...

    def healthy(self, agent_port: int, dashboard_port: int | None = None) -> tuple[bool, str]:
        """(registered with Ray, why) for the node whose agent listens on *agent_port*;
        with *dashboard_port* (a head's) its dashboard must answer too."""
        ...

    def stop(self, pid: int, create_time: float, grace_s: float, *, marker: str | None) -> None:
        """Stop the process and everything it started; safe when it is already gone."""
        ...

    def close(self) -> None:
        """Release what the launcher holds (connections); started processes keep running."""
        ...


class ProcessLauncher:
    """The real port: process groups from :mod:`rayplane.local.process`, health over HTTP."""

    def __init__(self) -> None:
        self._http = httpx.Client(timeout=1.0)

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        view: View | None = None,
    ) -> NodeProcess:
        if view is None:
            return process.spawn(argv, env, log_path, cwd=cwd)
        return process.spawn(sandbox.command(argv, view), env, log_path, cwd=cwd)

    def alive(self, pid: int, create_time: float) -> bool:
        return process.is_alive(pid, create_time)

    def healthy(self, agent_port: int, dashboard_port: int | None = None) -> tuple[bool, str]:
        ready, why = node_healthy(self._http, LOOPBACK_IP, agent_port)
        if ready and dashboard_port is not None:
            return dashboard_healthy(self._http, LOOPBACK_IP, dashboard_port)
        return ready, why

    def stop(self, pid: int, create_time: float, grace_s: float, *, marker: str | None) -> None:
        # Under bwrap the drain signal goes to its child (ray start); bwrap would just die.
        term = sandbox.sandboxed_child(pid, create_time)
        process.stop_group(pid, pid, create_time, grace_s, marker=marker, term_pid=term)

    def close(self) -> None:
        self._http.close()
