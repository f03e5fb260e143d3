"""Which Kubernetes API server the SDK and the CLI talk to, and as whom: the kubeconfig.

kubectl's order, so that a notebook on a laptop and one in a JupyterHub Pod both find
their cluster without arguments: an explicit *path*, else the first file named by
``KUBECONFIG``, else the in-cluster ServiceAccount (a notebook Pod), else
``~/.kube/config``. *context* picks a context; None takes the file's current-context.
The operator logs in differently (``--server``/``--token`` or its ServiceAccount, see
:mod:`rayplane.settings.operator`); this is for clients acting as a user.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rayplane.errors import RayplaneError

if TYPE_CHECKING:
    from lightkube.config.kubeconfig import SingleConfig

KUBECONFIG_ENV = "KUBECONFIG"
# lightkube's SERVICE_ACCOUNT; lightkube itself is imported on use (the CLI's start-up
# reads settings, and only Kubernetes commands need it).
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_KUBECONFIG = Path("~/.kube/config")


class KubeconfigError(RayplaneError, ValueError):
    """No usable kubeconfig; the message names the file or context and what to pass."""


def _chosen_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    """The file to read, or None for the in-cluster ServiceAccount."""
    if path is not None:
        return Path(path).expanduser()
    listed = [p for p in env.get(KUBECONFIG_ENV, "").split(os.pathsep) if p]
    if listed:
        # kubectl merges the list; taking the first file that exists covers the usual
        # single-file case without a second merge implementation.
        existing = [Path(p).expanduser() for p in listed if Path(p).expanduser().is_file()]
        return existing[0] if existing else Path(listed[0]).expanduser()
    if "KUBERNETES_SERVICE_HOST" in env and Path(SERVICE_ACCOUNT, "token").is_file():
        return None
    home = env.get("HOME")
    return Path(home, *DEFAULT_KUBECONFIG.parts[1:]) if home else DEFAULT_KUBECONFIG.expanduser()


def read_kubeconfig(
    path: str | os.PathLike[str] | None, context: str | None, env: Mapping[str, str]
) -> SingleConfig:
    """The cluster, user and namespace of *context* in the kubeconfig *env* leads to.

    Raises :class:`KubeconfigError` naming the file (or context) and the fix instead of
    lightkube's bare "not found". :func:`rayplane.settings.load_kubeconfig` calls this
    with the process environment.
    """
    from lightkube.config.kubeconfig import KubeConfig
    from lightkube.core.exceptions import ConfigError

    chosen = _chosen_file(path, env)
    try:
        if chosen is None:
            config = KubeConfig.from_service_account()
        else:
            if not chosen.is_file():
                raise KubeconfigError(
                    f"kubeconfig {chosen} does not exist: pass kubeconfig=PATH "
                    f"(--kubeconfig PATH) or set {KUBECONFIG_ENV}"
                )
            config = KubeConfig.from_file(chosen)
    except (ConfigError, OSError, KeyError, ValueError) as exc:
        if isinstance(exc, KubeconfigError):
            raise
        where = chosen or "the in-cluster ServiceAccount"
        raise KubeconfigError(f"kubeconfig {where} cannot be read: {exc}") from exc
    if context is not None and context not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or "none"
        raise KubeconfigError(
            f"kubeconfig {chosen}: context {context!r} is not defined (contexts: {known})"
        )
    try:
        single = config.get(context)
    except (ConfigError, KeyError) as exc:
        raise KubeconfigError(
            f"kubeconfig {chosen}: {exc}; pass context=NAME (--context NAME)"
        ) from exc
    assert single is not None  # get() without a default raises instead of returning None
    return single
