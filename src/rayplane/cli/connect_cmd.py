"""`connect` and `run`: a driver process with the right Ray address and environment.

``ray.init()`` in the child connects with no arguments: ``RAY_ADDRESS`` names the cluster
and, for a local one, Ray's loopback switch is set before the child imports ray (without
it ``ray.init`` on 127.0.0.1 retries a rewritten address for minutes). Nothing but the
child's output goes to stdout, so `rayplane run NAME -- python x.py > out` captures only
the script's; the exit code is the child's.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Annotated

import typer

from rayplane.cli.output import err, safe
from rayplane.cli.resources import Namespace
from rayplane.sdk.auth import cluster_token
from rayplane.sdk.backend import Backend, BackendError, Obj
from rayplane.sdk.connect import ConnectError, driver_address, driver_environment
from rayplane.sdk.local_backend import LocalBackend

Command = Annotated[
    list[str] | None, typer.Argument(help="The command to run, after --.", show_default=False)
]


def runtime_backend(start: bool = False) -> Backend:
    """The runtime the driver verbs act on (the local one; a --kubeconfig would pick the
    Kubernetes backend here)."""
    return LocalBackend(start=start)


def find_cluster(backend: Backend, namespace: str, name: str) -> Obj:
    """The RayCluster, or exit 1 saying it is not there (or the runtime cannot be asked)."""
    try:
        obj = backend.get("RayCluster", namespace, name)
    except BackendError as exc:
        err.print(safe(exc))
        raise typer.Exit(1) from exc
    if obj is None:
        err.print(
            f'RayCluster "{safe(name)}" not found in namespace {safe(namespace)} '
            "(`rayplane get rayclusters -A` lists them)"
        )
        raise typer.Exit(1)
    return obj


def run_driver(name: str, namespace: str, argv: list[str], *, say: bool = False) -> int:
    """Run *argv* with the cluster's driver environment; the child's exit code."""
    backend = runtime_backend()
    try:
        obj = find_cluster(backend, namespace, name)
        token = cluster_token(backend, obj)  # the child's Ray sends it (token auth)
        with driver_address(backend, obj) as address:
            env = driver_environment(address, token=token)
            if say:
                err.print(
                    f"RayCluster {safe(namespace)}/{safe(name)}: RAY_ADDRESS={safe(address)}; "
                    "ray.init() connects to it."
                )
            return _child(argv, env)
    except (ConnectError, BackendError) as exc:
        err.print(safe(exc))
        return 1
    finally:
        backend.close()


def _child(argv: list[str], env: dict[str, str]) -> int:
    """Run the child in the foreground. Ctrl-C belongs to it (an interactive Python turns
    it into KeyboardInterrupt), so this process ignores SIGINT until the child ends, and
    keeps any port-forward open meanwhile."""
    try:
        proc = subprocess.Popen(argv, env=env)
    except OSError as exc:
        err.print(f"cannot run {safe(argv[0])}: {safe(exc.strerror or exc)}")
        return 127
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - code if code < 0 else code  # killed by signal N: the shell's 128+N


def connect_cmd(
    name: Annotated[str, typer.Argument(help="The RayCluster.")],
    command: Command = None,
    namespace: Namespace = "default",
) -> None:
    """Start Python (or `-- CMD...`) connected to a RayCluster: RAY_ADDRESS and Ray's
    loopback switch are set, so `ray.init()` just works."""
    argv = list(command) if command else [sys.executable]
    raise typer.Exit(run_driver(name, namespace, argv, say=not command))


def run_cmd(
    name: Annotated[str, typer.Argument(help="The RayCluster.")],
    command: Command = None,
    namespace: Namespace = "default",
) -> None:
    """Run `-- CMD...` (e.g. -- python script.py) as a driver of a RayCluster; exits with
    the command's exit code."""
    if not command:
        err.print("rayplane run NAME -- CMD...: give the command to run after --")
        raise typer.Exit(2)
    raise typer.Exit(run_driver(name, namespace, list(command)))
