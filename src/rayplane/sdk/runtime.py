"""Where resources run: a :class:`Runtime` holds one Backend, local or Kubernetes.

``rayplane.local()`` is the default, created once per process on first use, so
``Cluster.from_yaml(path).apply()`` needs no setup; ``rayplane.kubernetes(...)`` picks a
cluster's API server instead, with the same handles on top.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from rayplane.sdk.backend import Backend
from rayplane.settings import load_local

DEFAULT_APPLY_TIMEOUT_S = 600.0
DEFAULT_DELETE_TIMEOUT_S = 120.0


class Runtime:
    """A backend, the namespace handles default to, and how long waits may take."""

    def __init__(
        self,
        backend: Backend,
        *,
        namespace: str = "default",
        apply_timeout_s: float = DEFAULT_APPLY_TIMEOUT_S,
        delete_timeout_s: float = DEFAULT_DELETE_TIMEOUT_S,
    ) -> None:
        self.backend = backend
        self.namespace = namespace
        self.apply_timeout_s = apply_timeout_s
        self.delete_timeout_s = delete_timeout_s

    @property
    def name(self) -> str:
        """Which runtime: "local" or "kubernetes"."""
        return self.backend.name

    def close(self) -> None:
        """Release the backend's connections and port-forwards."""
        self.backend.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = getattr(getattr(self.backend, "settings", None), "home", None)
        return f"<Runtime {self.name}{f' {where}' if where else ''} namespace={self.namespace}>"


def local(home: str | Path | None = None) -> Runtime:
    """The local runtime: the embedded controller of *home* (``$RAYPLANE_HOME`` or
    ``~/.rayplane`` when None), started in the background on first apply."""
    from rayplane.sdk.local_backend import LocalBackend

    settings = load_local()
    if home is not None:
        settings = dataclasses.replace(settings, home=Path(home).expanduser())
    return Runtime(LocalBackend(settings), apply_timeout_s=settings.apply_timeout_s)


def kubernetes(
    kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None
) -> Runtime:
    """A Kubernetes cluster running the rayplane (or KubeRay) operator: *kubeconfig* and
    *context* as kubectl takes them (None: the default ones); *namespace* is where handles
    look when none is given."""
    # Written beside this module by the Kubernetes part of issue 14; until it is there
    # mypy cannot see it (the ignore then goes unused, which is allowed).
    from rayplane.sdk.kube_backend import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        KubeBackend,
    )

    backend: Any = KubeBackend(kubeconfig, context)
    return Runtime(backend, namespace=namespace or "default")


_default: Runtime | None = None
_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The process-wide local runtime handles use when given none, made on first use."""
    global _default
    with _lock:
        if _default is None:
            _default = local()
        return _default


def set_default_runtime(runtime: Runtime | None) -> None:
    """Make *runtime* the one handles use when given none (None: back to a fresh local)."""
    global _default
    with _lock:
        _default = runtime
