"""Where resources run: a :class:`Runtime` holds one Backend, local or Kubernetes.

``rayplane.local()`` is the default, created once per process on first use, so
``Cluster.from_yaml(path).apply()`` needs no setup; ``rayplane.kubernetes(...)`` picks a
cluster's API server instead, with the same handles on top.
"""

from __future__ import annotations

import dataclasses
import threading
from contextlib import ExitStack
from pathlib import Path

from rayplane.sdk.backend import Backend, Obj, PortName
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
        self._held: dict[tuple[str, str], str] = {}
        self._holds = ExitStack()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Which runtime: "local" or "kubernetes"."""
        return self.backend.name

    def reach(self, obj: Obj, port: PortName) -> str:
        """``host:port`` of *obj*'s head *port*, valid until :meth:`close`.

        Locally that is the loopback port, read fresh each time (a restarted head may get
        another one). On Kubernetes the backend's port-forward is opened once per object
        and port and held open until the runtime is closed, so a ``dashboard_url`` stays
        usable; ``runtime.backend.reach`` gives a scoped one instead.
        """
        if self.backend.name == "local":
            with self.backend.reach(obj, port) as where:
                return where
        key = (str(obj["metadata"].get("uid") or obj["metadata"]["name"]), port)
        with self._lock:
            if key not in self._held:
                self._held[key] = self._holds.enter_context(self.backend.reach(obj, port))
            return self._held[key]

    def close(self) -> None:
        """Close the port-forwards :meth:`reach` holds, then the backend's connections."""
        with self._lock:
            self._held.clear()
            try:
                self._holds.close()
            finally:
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
    look when none is given (default: the context's namespace, as kubectl has it)."""
    from rayplane.sdk.kube_backend import KubeBackend

    backend = KubeBackend(kubeconfig, context)
    return Runtime(backend, namespace=namespace or backend.namespace)


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
