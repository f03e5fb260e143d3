"""`rayplane session NAME`: the head's dashboard and client ports on this machine.

kubectl-ray's ``session``: on Kubernetes a RayCluster's head answers inside the cluster
network only, so this opens a port-forward to the head Pod's dashboard (8265) and Ray
client (10001) ports through the API server, prints the local URLs, and holds them until
Ctrl-C. Local clusters need none of this: their ports already listen on 127.0.0.1
(``rayplane dashboard NAME``).
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Annotated

import typer

from rayplane.cli.kinds import split_ref
from rayplane.cli.output import err, out
from rayplane.sdk.backend import BackendError


def session_cmd(
    name: Annotated[
        str, typer.Argument(help="A RayCluster's name, or rayjob/NAME, rayservice/NAME.")
    ],
    namespace: Annotated[
        str | None,
        typer.Option("-n", "--namespace", help="Namespace (default: the context's)."),
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."
        ),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="kubeconfig context (default: current).")
    ] = None,
) -> None:
    """Port-forward a Kubernetes RayCluster's dashboard and client ports until Ctrl-C."""
    from rayplane.sdk.kube_backend import KubeBackend

    kind, obj_name = split_ref(name, default_kind="RayCluster")
    if kind not in ("RayCluster", "RayJob", "RayService"):
        err.print(f"{name}: a session needs a RayCluster, RayJob or RayService")
        raise typer.Exit(2)
    try:
        backend = KubeBackend(kubeconfig, context)
    except BackendError as exc:
        err.print(str(exc))
        err.print(
            "(a session is for clusters on Kubernetes; a local cluster already listens on "
            "127.0.0.1: rayplane dashboard NAME)"
        )
        raise typer.Exit(1) from exc
    ns = namespace or backend.namespace
    try:
        with ExitStack() as stack:
            stack.callback(backend.close)
            obj = backend.get(kind, ns, obj_name)
            if obj is None:
                err.print(f"{kind} {ns}/{obj_name} not found")
                raise typer.Exit(1)
            dashboard = stack.enter_context(backend.reach(obj, "dashboard"))
            client = stack.enter_context(backend.reach(obj, "client"))
            out.print(f"Ray dashboard: http://{dashboard}")
            out.print(f"Ray client:    ray://{client}")
            out.print(f"Forwarding to {kind} {ns}/{obj_name}; Ctrl-C to stop.")
            _hold()
    except BackendError as exc:
        err.print(str(exc))
        raise typer.Exit(1) from exc


def _hold() -> None:
    """Block until Ctrl-C; the forwards run on their own threads."""
    forever = threading.Event()
    try:
        while not forever.wait(3600):
            pass
    except KeyboardInterrupt:
        out.print("stopped")
