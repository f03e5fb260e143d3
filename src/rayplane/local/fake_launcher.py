"""A launcher that starts nothing: the runtime port's stand-in for tests and benches.

Like httpx's MockTransport it is small on purpose: it records what a node would have been
started with and answers liveness and health from memory, so a test drives a whole
RayCluster through the real controller without a Ray process or a monkeypatch.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rayplane.local.mounts import View
from rayplane.local.process import NodeProcess

# Far above any real PID (Linux's pid_max is at most 2**22), so no check can meet a stranger.
_FIRST_PID = 1 << 30


@dataclass(frozen=True)
class Launch:
    """One start the controller asked for."""

    argv: tuple[str, ...]
    env: dict[str, str]
    log_path: Path
    cwd: Path | None
    process: NodeProcess


class FakeLauncher:
    """Every start succeeds; a started node is alive and, with *ready*, healthy at once."""

    def __init__(self, *, ready: bool = True) -> None:
        self.ready = ready
        self.launches: list[Launch] = []
        self.views: list[View | None] = []
        self.stopped: list[int] = []
        self._alive: set[int] = set()
        self._pids = itertools.count(_FIRST_PID)

    @property
    def envs(self) -> list[dict[str, str]]:
        """The environment of each start, in order."""
        return [launch.env for launch in self.launches]

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        view: View | None = None,
    ) -> NodeProcess:
        pid = next(self._pids)
        self.views.append(view)
        started = NodeProcess(pid=pid, pgid=pid, create_time=float(pid), marker=f"fake-{pid}")
        self.launches.append(Launch(tuple(argv), dict(env), log_path, cwd, started))
        self._alive.add(pid)
        return started

    def alive(self, pid: int, create_time: float) -> bool:
        return pid in self._alive and create_time == float(pid)

    def healthy(self, agent_port: int, dashboard_port: int | None = None) -> tuple[bool, str]:
        return (True, "success") if self.ready else (False, "agent not answering (fake)")

    def stop(self, pid: int, create_time: float, grace_s: float, *, marker: str | None) -> None:
        if pid in self._alive:
            self._alive.discard(pid)
            self.stopped.append(pid)

    def crash(self, pid: int) -> None:
        """The process exits on its own, as a node whose raylet failed."""
        self._alive.discard(pid)

    def close(self) -> None:
        return None
