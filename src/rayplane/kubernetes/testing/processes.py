"""The programs the test services are built into, and the processes started from them.

``scripts/install-test-services`` builds etcd, kube-apiserver, kube-controller-manager
(and KubeRay) from pinned Go module sources into a cache folder keyed by the pins;
:func:`binary` finds one there. A :class:`Started` process is stopped only if its PID
still names the process that was started (PID and start time), in its own process group.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from rayplane.errors import RayplaneError
from rayplane.kubernetes.testing.pki import Pair

REPO = Path(__file__).resolve().parents[4]
TOOLS = REPO / "tools" / "kube"


class ControlPlaneError(RayplaneError, RuntimeError):
    """The control plane could not be built, started or reached; the message says why."""


def cache_root() -> Path:
    """Where Go's caches and the built programs live (reused across runs and checkouts)."""
    base = os.environ.get("RAYPLANE_CACHE") or str(Path.home() / ".cache" / "rayplane")
    return Path(base)


def build_key(module: Path = TOOLS) -> str:
    """The programs' folder name: a hash of the Go module's pins, so a new pin rebuilds."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((module / name).read_bytes())
    return digest.hexdigest()[:12]


def bin_dir(module: Path = TOOLS) -> Path:
    return cache_root() / "bin" / f"{module.name}-{build_key(module)}"


def binary(name: str, module: Path = TOOLS) -> Path:
    path = bin_dir(module) / name
    if not path.is_file():
        raise ControlPlaneError(
            f"{path} is missing: run scripts/install-test-services to build it from "
            f"{module.relative_to(REPO)} (Go module sources, cached in {cache_root()})"
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Started:
    """A process this control plane started: stopped only if PID and start time still match."""

    name: str
    pid: int
    create_time: float
    log: str

    def alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return abs(proc.create_time() - self.create_time) < 0.01 and proc.is_running()
        except psutil.Error:
            return False

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.alive():
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(self.pid, os.WNOHANG)
            time.sleep(0.1)
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)


def tls_context(ca_file: Path, client: Pair | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return context


def http_ok(
    url: str, ca_file: Path | None = None, client: Pair | None = None, verify: bool = True
) -> bool:
    try:
        context: ssl.SSLContext | bool = (
            tls_context(ca_file, client) if ca_file is not None else verify
        )
        return httpx.get(url, verify=context, timeout=2.0).is_success
    except httpx.HTTPError:
        return False


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise ControlPlaneError(f"timed out after {timeout:.0f} s waiting until {what}")


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
