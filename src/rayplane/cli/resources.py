"""What the resource verbs share: the local controller's client, the namespace option, and
where a cluster's status says its dashboard and GCS are."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rayplane.cli.output import err, safe
from rayplane.local.client import ControllerClient, ControllerError
from rayplane.settings import load_local

Namespace = Annotated[str, typer.Option("-n", "--namespace", help="Namespace.")]


def client(start: bool = False) -> ControllerClient:
    settings = load_local()
    ctl = ControllerClient(settings)
    if start:
        try:
            if ctl.ensure_running():
                err.print(f"started the local controller ({settings.home})")
        except ControllerError as exc:
            err.print(safe(exc))
            raise typer.Exit(1) from exc
    return ctl


def fail(exc: ControllerError) -> typer.Exit:
    """Say the controller's error and exit 1 (raise the result)."""
    err.print(safe(exc))
    return typer.Exit(1)


def dashboard_url(status: dict[str, Any]) -> str | None:
    """http://IP:PORT from KubeRay-shaped status (head.podIP, endpoints.dashboard)."""
    port = (status.get("endpoints") or {}).get("dashboard")
    host = (status.get("head") or {}).get("podIP") or "127.0.0.1"
    return f"http://{host}:{port}" if port else None

