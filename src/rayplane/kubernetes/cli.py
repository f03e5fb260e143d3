"""The operator's entry point, shared by ``python -m rayplane.kubernetes`` and
``rayplane operator``: KubeRay's flags (``rayplane.settings.operator_flags``) and
environment, read once by the settings builder, then the operator runs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence

from rayplane.kubernetes.operator import run_operator
from rayplane.kubernetes.operator_config import OperatorConfig
from rayplane.settings import Settings, SettingsError, load_operator


def config_from_argv(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> OperatorConfig:
    """What ``main`` runs with: the command line *argv* over the environment *environ*
    (the process's own when None)."""
    return OperatorConfig.from_settings(load_operator(argv, environ))


def run(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.operator.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    return run_operator(OperatorConfig.from_settings(settings))


def main(argv: list[str] | None = None) -> int:
    """Run the operator; a bad flag or variable is one line on stderr and exit code 2,
    as argparse answers an unknown flag, not a traceback."""
    try:
        settings = load_operator(argv)
    except SettingsError as exc:
        print(f"rayplane operator: {exc}", file=sys.stderr)
        return 2
    return run(settings)
