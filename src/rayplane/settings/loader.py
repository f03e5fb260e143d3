"""The one place rayplane reads its settings from the process environment and flags.

Entry points (the ``rayplane`` CLI, ``rayplane operator`` / ``python -m
rayplane.kubernetes``, the local controller and the autoscaler child process) call these
builders once and pass what they return down; nothing below them reads ``os.environ`` for
a setting. Each builder takes the environment as a mapping (``os.environ`` when None), so
a test hands it a dict instead of monkeypatching the module that reads it.

``RAYPLANE_FEATURE_GATES`` is the local runtime's and the CLI's; the operator, like
KubeRay's, takes its gates from ``--feature-gates`` only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from rayplane.api.validation import FeatureGates
from rayplane.errors import RayplaneError
from rayplane.settings.kubeconfig import read_kubeconfig
from rayplane.settings.kuberay import KUBERAY_ENV_VARS, KubeRayEnv
from rayplane.settings.local import RAY_VERSIONS_CHOICES, LocalSettings
from rayplane.settings.operator_flags import operator_settings
from rayplane.settings.root import Settings

if TYPE_CHECKING:
    from lightkube.config.kubeconfig import SingleConfig

GATES_ENV = "RAYPLANE_FEATURE_GATES"
GATES_FLAG = "--feature-gates"
RAY_VERSIONS_ENV = "RAYPLANE_RAY_VERSIONS"


class SettingsError(RayplaneError, ValueError):
    """A setting cannot be parsed; the message starts with where it came from."""


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc


#: Ray binds Unix sockets at <temp root>/n<8>/session_<26-char time>_<pid>/sockets/
#: plasma_store: 74 bytes or so past the root, against the kernel's 107-byte limit. A
#: longer root makes every node die at start with no word of why; refuse it up front.
TEMP_ROOT_MAX_BYTES = 32


def _temp_root(raw: str) -> Path:
    size = len(os.fsencode(raw))
    if size > TEMP_ROOT_MAX_BYTES:
        raise SettingsError(
            f"RAYPLANE_TEMP_ROOT={raw!r} is {size} bytes long: Ray's Unix socket paths under "
            f"it would pass the kernel's 107-byte limit and no node would start. Use a path of "
            f"at most {TEMP_ROOT_MAX_BYTES} bytes, e.g. /tmp/rayplane-$USER."
        )
    return Path(raw)


def load_local(environ: Mapping[str, str] | None = None) -> LocalSettings:
    """The local runtime's settings from RAYPLANE_* (unset or empty: the default)."""
    env = _environ(environ)
    home = env.get("RAYPLANE_HOME")
    temp = env.get("RAYPLANE_TEMP_ROOT")
    base = LocalSettings()
    return LocalSettings(
        home=Path(home).expanduser() if home else base.home,
        temp_root=_temp_root(temp) if temp else base.temp_root,
        apply_timeout_s=_float(env, "RAYPLANE_APPLY_TIMEOUT", base.apply_timeout_s),
        stop_grace_s=_float(env, "RAYPLANE_STOP_GRACE", base.stop_grace_s),
        drain_timeout_s=_float(env, "RAYPLANE_DRAIN_TIMEOUT", base.drain_timeout_s),
        gcs_cleanup_timeout_s=_float(
            env, "RAYPLANE_GCS_CLEANUP_TIMEOUT", base.gcs_cleanup_timeout_s
        ),
        reconcile_interval_s=_float(env, "RAYPLANE_RECONCILE_INTERVAL", base.reconcile_interval_s),
        max_starting_nodes=int(
            _float(env, "RAYPLANE_MAX_STARTING_NODES", float(base.max_starting_nodes))
        ),
        time_zone=env.get("TZ"),
        local_autoscaler=env.get("RAYPLANE_LOCAL_AUTOSCALER", "1").lower()
        not in ("0", "false", "no", "off"),
        object_store_bytes=int(
            _float(env, "RAYPLANE_OBJECT_STORE_BYTES", float(base.object_store_bytes))
        ),
        autoscaler_interval_s=_float(
            env, "AUTOSCALER_UPDATE_INTERVAL_S", base.autoscaler_interval_s
        ),
        metrics_port=int(_float(env, "RAYPLANE_METRICS_PORT", float(base.metrics_port))),
        ray_versions=_ray_versions(env, base.ray_versions),
    )


def _ray_versions(environ: Mapping[str, str], default: str) -> str:
    raw = environ.get(RAY_VERSIONS_ENV, "").strip().lower()
    if not raw:
        return default
    if raw not in RAY_VERSIONS_CHOICES:
        raise SettingsError(
            f"{RAY_VERSIONS_ENV}={raw!r} is not one of {', '.join(RAY_VERSIONS_CHOICES)}: "
            "'install' builds a virtualenv for a cluster's rayVersion, 'installed' runs the "
            "installed Ray."
        )
    return raw


def load_kubeconfig(
    path: str | os.PathLike[str] | None = None,
    context: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SingleConfig:
    """The kubeconfig context a user's client (SDK, CLI) talks to: *path*, else
    $KUBECONFIG, else the in-cluster ServiceAccount, else ~/.kube/config (kubectl's order;
    see :mod:`rayplane.settings.kubeconfig`)."""
    return read_kubeconfig(path, context, _environ(environ))


def load_gates(environ: Mapping[str, str] | None = None, flag: str = "") -> FeatureGates:
    """RAYPLANE_FEATURE_GATES, then *flag* on top of it, gate by gate (later wins)."""
    text = _environ(environ).get(GATES_ENV, "")
    for where, value in ((GATES_ENV, text), (GATES_FLAG, flag)):
        try:
            FeatureGates.parse(value)
        except ValueError as exc:
            raise SettingsError(f"{where}: {exc}") from exc
    return FeatureGates.parse(f"{text},{flag}")


def load_kuberay(environ: Mapping[str, str] | None = None) -> KubeRayEnv:
    """The KubeRay variables that are set, and only those."""
    env = _environ(environ)
    return KubeRayEnv(MappingProxyType({k: env[k] for k in KUBERAY_ENV_VARS if k in env}))


def load(environ: Mapping[str, str] | None = None, *, feature_gates: str = "") -> Settings:
    """Everything the CLI and the local runtime run with; *feature_gates* is the flag."""
    env = _environ(environ)
    return Settings(
        local=load_local(env),
        gates=load_gates(env, feature_gates),
        kuberay=load_kuberay(env),
    )


def load_operator(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """The operator's settings from its command line (KubeRay's flags) and environment."""
    env = _environ(environ)
    operator, gates = operator_settings(argv, env)
    try:
        parsed = FeatureGates.parse(gates)
    except ValueError as exc:
        raise SettingsError(f"{GATES_FLAG}: {exc}") from exc
    return Settings(operator=operator, gates=parsed, kuberay=load_kuberay(env))
