"""What the resource verbs share: the local controller's client (and its backend, started
on demand), the namespace option, and where a cluster's status says its dashboard is."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rayplane.cli.output import err, safe
from rayplane.local.client import ControllerClient, ControllerError
from rayplane.sdk.auth import secret_token
from rayplane.sdk.backend import BackendError
from rayplane.sdk.local_backend import LocalBackend
from rayplane.settings import load_local

Namespace = Annotated[str, typer.Option("-n", "--namespace", help="Namespace.")]


def client() -> ControllerClient:
    """The local controller's client; it does not start one (reading verbs never do)."""
    return ControllerClient(load_local())


def detail_token(detail: dict[str, Any]) -> str | None:
    """The Ray auth token of the cluster a local `describe` detail names (``local.auth``),
    read from its Secret; None when the cluster has no token auth or the Secret is not
    there yet (the dashboard then answers 401, which the caller reports)."""
    auth = (detail.get("local") or {}).get("auth") or {}
    if auth.get("mode") != "token":
        return None
    name, namespace = str(auth.get("secret")), str(auth.get("namespace") or "default")
    try:
        secret = client().get("Secret", namespace, name)
        return secret_token(secret, f"{namespace}/{name}") if secret else None
    except (ControllerError, BackendError):
        return None


def started_backend() -> LocalBackend:
    """The local runtime's backend, its controller started (and said so) if none runs;
    exit 1 with the reason when it cannot be started. For the verbs that create things."""
    backend = LocalBackend(load_local())
    try:
        if backend.ensure_running():
            err.print(f"started the local controller ({safe(backend.settings.home)})")
    except BackendError as exc:
        err.print(safe(exc))
        raise typer.Exit(1) from exc
    return backend


def fail(exc: ControllerError) -> typer.Exit:
    """Say the controller's error and exit 1 (raise the result)."""
    err.print(safe(exc))
    return typer.Exit(1)


def dashboard_url(status: dict[str, Any]) -> str | None:
    """http://IP:PORT from KubeRay-shaped status (head.podIP, endpoints.dashboard)."""
    port = (status.get("endpoints") or {}).get("dashboard")
    host = (status.get("head") or {}).get("podIP") or "127.0.0.1"
    return f"http://{host}:{port}" if port else None
