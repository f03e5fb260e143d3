"""KubeRay feature gates for the commands that validate: the flag on top of the environment.

`apply` validates with RAYPLANE_FEATURE_GATES (the local runtime's gates), and its errors
tell users to set that variable; `validate` and `render` must then agree with `apply`,
so they read it too, and `--feature-gates` overrides it gate by gate.
"""

from __future__ import annotations

import os

import typer
from rich.markup import escape

from rayplane.api.validation import FeatureGates
from rayplane.cli.output import err

ENV = "RAYPLANE_FEATURE_GATES"


def resolve_gates(flag: str) -> FeatureGates:
    """The gates of RAYPLANE_FEATURE_GATES, then of *flag* (later settings win); exit 2 on
    a malformed value, naming where it came from."""
    for where, text in ((ENV, os.environ.get(ENV, "")), ("--feature-gates", flag)):
        try:
            FeatureGates.parse(text)
        except ValueError as exc:
            err.print(f"{where}: {escape(str(exc))}")
            raise typer.Exit(2) from exc
    return FeatureGates.parse(f"{os.environ.get(ENV, '')},{flag}")
