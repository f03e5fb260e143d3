"""`rayplane operator`: run the Kubernetes operator (the same as `python -m rayplane.kubernetes`).

The flags are KubeRay's (see `rayplane operator --help`); they are parsed by the operator's
own argument parser, so the container image and the CLI accept exactly the same ones.
"""

from __future__ import annotations

import typer


def operator_cmd(ctx: typer.Context) -> None:
    """Run the Kubernetes operator: a drop-in replacement for KubeRay's (flags: --help)."""
    from rayplane.kubernetes.cli import main

    raise typer.Exit(main(list(ctx.args)))


OPERATOR_CONTEXT = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}
