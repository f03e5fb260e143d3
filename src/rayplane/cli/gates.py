"""KubeRay feature gates for the commands that validate: the flag on top of the environment.

`apply` validates with RAYPLANE_FEATURE_GATES (the local runtime's gates), and its errors
tell users to set that variable; `validate` and `render` must then agree with `apply`,
so they read it too, and `--feature-gates` overrides it gate by gate
(``rayplane.settings.load_gates``).
"""

from __future__ import annotations

import typer
from rich.markup import escape

from rayplane.api.validation import FeatureGates
from rayplane.cli.output import err
from rayplane.settings import SettingsError, load_gates


def resolve_gates(flag: str) -> FeatureGates:
    """The gates of RAYPLANE_FEATURE_GATES, then of *flag*; exit 2 on a malformed value,
    naming where it came from."""
    try:
        return load_gates(flag=flag)
    except SettingsError as exc:
        err.print(escape(str(exc)))
        raise typer.Exit(2) from exc
