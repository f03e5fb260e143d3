"""Reaching a cluster's Ray from Python: ``ray.init`` in this process, or the address and
environment a driver process needs, and the lines `apply` prints to say how.

Why this module sets Ray's loopback switch itself
-------------------------------------------------
A local cluster listens on 127.0.0.1 only, and ``ray.init("127.0.0.1:PORT")`` rewrites a
loopback address to the machine's routable IP unless Ray's loopback switch is off
(:mod:`rayplane.local.loopback` explains the switch). Ray reads the switch from the
environment once, when ``ray`` is imported, so a notebook that imported ray before
connecting would retry the rewritten address for minutes. :func:`connect` therefore sets
the environment variable (for this process's children, and for an import still to come)
*and* the constant it would have set (``ray._private.ray_constants.ENABLE_RAY_CLUSTER``),
which every reader in Ray looks up at call time. The e2e test connects after ``import
ray`` to prove that is enough.

Why the GCS locally and Ray Client on Kubernetes
------------------------------------------------
A driver that connects through the GCS address is a full Ray driver: it also talks to
the raylet, the object manager and workers, each on its own port of the node's IP. On
one machine all of those are on 127.0.0.1, so the local runtime hands out the GCS
address (Ray Data, the object store and the dashboard's job view behave as on the head,
and the driver's Ray need not match the cluster's to the patch version as Ray Client
requires). A single port-forward to a Pod cannot carry those extra connections, so on
Kubernetes the driver goes through the head's Ray Client server (KubeRay's ``client``
port, 10001) as ``ray://``: one gRPC stream that a port-forward carries. The
port-forward is opened by :meth:`Backend.reach` and kept open while connected;
:func:`disconnect` (or the end of the process) closes it.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from rayplane.errors import RayplaneError
from rayplane.local.loopback import LOOPBACK_ENV, driver_env
from rayplane.reconcile.auth import auth_env
from rayplane.sdk.auth import cluster_token
from rayplane.sdk.backend import Backend, Obj

__all__ = [
    "ConnectError",
    "connect",
    "disconnect",
    "driver_address",
    "driver_environment",
    "hint_lines",
    "use_loopback",
    "use_token",
]

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_CONSTANTS = "ray._private.ray_constants"


class ConnectError(RayplaneError):
    """``connect`` cannot give a working connection; the message says why and the fix."""


@dataclass
class _Connection:
    """What :func:`connect` made, so a second call for the same cluster is a no-op and a
    call for another cluster can say what this process is connected to."""

    key: tuple[str, str, str, str]
    label: str
    address: str
    context: Any
    held: ExitStack


_current: _Connection | None = None
_atexit_registered = False


def _meta(obj: Obj) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (
        str(obj.get("kind") or "RayCluster"),
        str(meta.get("namespace") or "default"),
        str(meta.get("name") or ""),
    )


def _label(obj: Obj) -> str:
    kind, ns, name = _meta(obj)
    return f"{kind} {ns}/{name}"


def _is_loopback(address: str) -> bool:
    if "://" in address:
        return False  # ray:// goes through Ray Client, which never rewrites its address
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _check_ready(obj: Obj) -> None:
    """A RayCluster that is not ready has no GCS to connect to: say so now, instead of
    letting ``ray.init`` retry an address nobody answers."""
    if obj.get("kind") not in (None, "RayCluster"):
        return
    status = obj.get("status") or {}
    state = status.get("state")
    if state != "ready":
        why = (obj.get("local") or {}).get("clusterFailure") or status.get("reason") or ""
        raise ConnectError(
            f"{_label(obj)} is not ready (status.state: {state or 'none yet'})"
            + (f": {why}" if why else "")
            + "; wait for it with apply() (or `rayplane apply`), then connect."
        )


@contextmanager
def _driver_address(backend: Backend, obj: Obj) -> Iterator[str]:
    _check_ready(obj)
    if backend.name == "kubernetes":
        with backend.reach(obj, "client") as hostport:
            yield f"ray://{hostport}"
    else:
        with backend.reach(obj, "gcs-server") as hostport:
            yield hostport


def driver_address(backend: Backend, obj: Obj) -> AbstractContextManager[str]:
    """The address a driver passes to ``ray.init`` (or puts in ``RAY_ADDRESS``), valid
    while the context is open: ``127.0.0.1:PORT`` (the GCS) locally, ``ray://HOST:PORT``
    through a port-forward on Kubernetes. Raises ConnectError for a cluster not ready."""
    return _driver_address(backend, obj)


def driver_environment(
    address: str, base: Mapping[str, str] | None = None, *, token: str | None = None
) -> dict[str, str]:
    """Environment for a driver process: ``RAY_ADDRESS``, plus Ray's loopback switch when
    the address is a loopback GCS (see :func:`rayplane.local.loopback.driver_env`), plus
    ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` for a cluster with token auth (a
    driver's gRPC calls carry the token; Ray 2.60 sends none without the mode)."""
    env = driver_env(base) if _is_loopback(address) else dict(os.environ if base is None else base)
    env["RAY_ADDRESS"] = address
    if token:
        env.update(auth_env(token))
    return env


def use_loopback() -> None:
    """Put this process's Ray in loopback mode, whether or not ``ray`` is imported yet.

    The environment variable covers an import still to come and the processes this one
    starts; the constant is what the variable would have set at import, and Ray reads it
    at call time (``services.get_node_ip_address``).
    """
    os.environ.update(LOOPBACK_ENV)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # as driver_env, and the nodes, have it
    constants = sys.modules.get(_CONSTANTS)
    if constants is not None:
        setattr(constants, "ENABLE_RAY_CLUSTER", False)  # noqa: B010 - a module of Ray's


def use_token(token: str | None) -> None:
    """Make this process's Ray send *token* (nothing without one).

    The variables cover an import still to come and child processes. A Ray imported
    already has read the mode into its config and may have cached "no token"; both are
    refreshed the way Ray refreshes them itself when it turns token auth on
    (``authentication_token_setup._enable_token_auth``).
    """
    if not token:
        return
    os.environ.update(auth_env(token))
    raylet: Any = sys.modules.get("ray._raylet")
    if raylet is not None:
        raylet.Config.initialize("")
        raylet.AuthenticationTokenLoader.instance().reset_cache()


def _connected_to(ray: Any) -> str:
    if _current is not None:
        return f"{_current.label} ({_current.address})"
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # only for the message; any answer is better than none
        return "another cluster"


def connect(backend: Backend, obj: Obj, **ray_init_kwargs: Any) -> Any:
    """``ray.init`` to the cluster of *obj* from this process; returns Ray's context.

    Calling it again for the same cluster returns the same context. If this process is
    already connected to another Ray, ConnectError says to which and how to leave it.
    ``ray_init_kwargs`` go to ``ray.init`` (``runtime_env``, ``namespace``, ...), except
    ``address``, which is the point of this function.
    """
    global _current
    if "address" in ray_init_kwargs:
        raise ConnectError(
            "connect() chooses the address itself; drop address= "
            f"(got {ray_init_kwargs['address']!r}), or call ray.init yourself"
        )
    key = (backend.name, *_meta(obj))
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            if _current is not None and _current.key == key:
                return _current.context
            raise ConnectError(
                f"this Python process is already connected to Ray at {_connected_to(ray)}; "
                f"call ray.shutdown() (or rayplane.sdk.connect.disconnect()) before "
                f"connecting to {_label(obj)}"
            )
    _release()  # a connection the user ended with ray.shutdown() leaves its forward open
    held = ExitStack()
    try:
        token = cluster_token(backend, obj)
        address = held.enter_context(driver_address(backend, obj))
        if _is_loopback(address):
            use_loopback()
        use_token(token)
        import ray

        context = ray.init(address=address, **ray_init_kwargs)
    except BaseException:
        held.close()
        raise
    _current = _Connection(key, _label(obj), address, context, held)
    _register_atexit()
    return context


def disconnect() -> None:
    """``ray.shutdown()`` and close what :func:`connect` held open (a port-forward)."""
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    _release()


def _release() -> None:
    global _current
    if _current is not None:
        held, _current = _current.held, None
        held.close()


def _register_atexit() -> None:
    """Leave Ray, then close a port-forward, at exit (in that order: Ray Client's own exit
    hook would otherwise talk to a forward that is already gone)."""
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(disconnect)
        _atexit_registered = True


def hint_lines(obj: Obj) -> list[str]:
    """What `apply` prints once a RayCluster is ready: each line works pasted as printed.

    ``connect:`` is Python (a REPL or a notebook cell, whether ``ray`` was imported or
    not); ``shell:`` and ``submit:`` are shell lines. A raw ``ray.init("127.0.0.1:...")``
    is not printed on purpose: pasted into a Python whose environment lacks the loopback
    switch, it retries a rewritten address for minutes (issue 14).
    """
    _, ns, name = _meta(obj)
    on_kube = "local" not in obj
    args = [json.dumps(name)]
    if ns != "default":
        args.append(json.dumps(ns))
    if on_kube:
        args.append("runtime=rayplane.kubernetes()")
    flags = f" -n {shlex.quote(ns)}" if ns != "default" else ""
    target = f"{shlex.quote(name)}{flags}"
    return [
        f"connect: import rayplane; rayplane.Cluster.get({', '.join(args)}).connect()",
        f"shell:   rayplane connect {target}",
        f"submit:  rayplane job submit --cluster {target} --working-dir . -- python my_script.py",
    ]
