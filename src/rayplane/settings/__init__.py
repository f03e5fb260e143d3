"""rayplane's settings: one root (:class:`Settings`), its groups, and the one builder.

See docs/settings.md for every environment variable and flag.
"""

from rayplane.settings.home import HomeError, home_problem, prepare_home, prepare_temp_root
from rayplane.settings.kubeconfig import KubeconfigError
from rayplane.settings.kuberay import KUBERAY_ENV_VARS, KubeRayEnv
from rayplane.settings.loader import (
    SettingsError,
    load,
    load_gates,
    load_kubeconfig,
    load_kuberay,
    load_local,
    load_operator,
)
from rayplane.settings.local import LocalSettings
from rayplane.settings.operator import OperatorSettings
from rayplane.settings.root import Settings

__all__ = [
    "KUBERAY_ENV_VARS",
    "HomeError",
    "KubeRayEnv",
    "KubeconfigError",
    "LocalSettings",
    "OperatorSettings",
    "Settings",
    "SettingsError",
    "home_problem",
    "load",
    "load_gates",
    "load_kubeconfig",
    "load_kuberay",
    "load_local",
    "load_operator",
    "prepare_home",
    "prepare_temp_root",
]
