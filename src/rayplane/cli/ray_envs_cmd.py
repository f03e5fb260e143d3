"""`rayplane ray-envs list|install|remove`: the per-version Ray virtualenvs under the home.

`install` builds ahead of time what a cluster with that rayVersion would build on first
start (RAYPLANE_RAY_VERSIONS=install), with pip's progress condensed to one live line;
`remove` frees the disk. See docs/ray-versions.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rayplane.cli.output import err, out, safe
from rayplane.local.ray_envs import RayEnvError, check_version, ensure, list_envs, remove
from rayplane.settings import SettingsError, load_local

VersionArg = Annotated[str, typer.Argument(help="A Ray release, e.g. 2.59.0.")]

ray_envs_app = typer.Typer(help="Per-version Ray virtualenvs for clusters' rayVersion.")


def _home() -> Path:
    try:
        return load_local().home
    except SettingsError as exc:
        err.print(safe(exc))
        raise typer.Exit(2) from exc


def _version(version: str) -> str:
    try:
        return check_version(version, "VERSION")
    except RayEnvError as exc:
        err.print(safe(exc))
        raise typer.Exit(2) from exc


@ray_envs_app.command("list")
def list_cmd() -> None:
    """The Ray versions built, their folder, size and how long the build took."""
    envs = list_envs(_home())
    if not envs:
        out.print("no Ray virtualenvs (RAYPLANE_RAY_VERSIONS=install builds them on demand)")
        return
    table = Table("VERSION", "SIZE", "BUILD", "PATH", box=None)
    for env in envs:
        table.add_row(env.version, f"{env.size_mb:.0f}Mi", f"{env.build_s:.0f}s", str(env.path))
    out.print(table)


@ray_envs_app.command("install")
def install_cmd(version: VersionArg) -> None:
    """Build VERSION's virtualenv now (ray[default] from the package index)."""
    wanted = _version(version)
    home = _home()
    started = time.monotonic()
    try:
        with err.status(f"building the Ray {wanted} virtualenv") as status:
            python = ensure(
                home, wanted, progress=lambda line: status.update(f"Ray {wanted}: {safe(line)}")
            )
    except RayEnvError as exc:
        err.print(f"[red]failed[/red]: {safe(exc)}")
        raise typer.Exit(1) from exc
    out.print(f"Ray {wanted}: {python} ({time.monotonic() - started:.0f} s)")


@ray_envs_app.command("remove")
def remove_cmd(version: VersionArg) -> None:
    """Delete VERSION's virtualenv; a cluster that needs it again rebuilds it."""
    wanted = _version(version)
    if not remove(_home(), wanted):
        err.print(f"no virtualenv for Ray {wanted}")
        raise typer.Exit(1)
    out.print(f"removed the Ray {wanted} virtualenv")
