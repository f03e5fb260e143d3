"""Keep every local Ray node on 127.0.0.1: the one place that knows how.

Why this module exists
----------------------
On Linux, Ray 2.60 replaces a loopback node address with the machine's routable IP
(``ray._private.services.resolve_ip_for_localhost``). A local node started with
``--node-ip-address=127.0.0.1`` therefore registers as, say, 192.0.2.2, and its GCS,
raylet and agents listen on every interface. The embedded runtime must not expose an
unauthenticated cluster on the network, and every node of every cluster on this host has
to agree on one address, so this is not optional.

How it is solved
----------------
Ray has a single switch that means "this host's Ray lives on loopback": the constant
``ray._private.ray_constants.ENABLE_RAY_CLUSTER``, read from the environment variable
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when ``ray`` is imported. When it is false,
``services.get_node_ip_address()`` answers 127.0.0.1, so ``resolve_ip_for_localhost``
keeps loopback, and every component (GCS, raylet, dashboard, agents, client server,
autoscaler metrics) binds to 127.0.0.1 because it binds to the node IP when that is
loopback. It is an environment variable, so it reaches *every* process of the node,
including the ones Ray spawns later: core workers, the dashboard agent's own
``ray.init`` (without it the job agent hangs and job submission times out), and job
drivers, which call ``ray.init`` with a loopback address. The constant has no other
effect on Linux.

Its one side effect is a guard in ``ray start`` that refuses to start a *worker* node in
that mode ("Multi-node Ray clusters are not supported on Windows and OSX"). Rather than
flipping the constant back on and patching IP resolution (which would make the CLI
process itself see the routable IP again), :func:`lift_worker_guard` gives only the
``ray start`` command module a view of ``ray_constants`` in which the guard is open.
IP resolution in that same process stays in loopback mode. That substitution happens only
inside the CLI process run by :mod:`rayplane.local.ray_cli`; nothing else is patched.

Any other process that talks to a local cluster through ``ray.init`` (a driver, a test)
needs :data:`LOOPBACK_ENV` in its environment before it imports ``ray``; see
:func:`driver_env`.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any, Final

LOOPBACK_IP: Final = "127.0.0.1"

#: The environment variable Ray reads once, at import, to decide whether nodes use loopback.
CLUSTER_SWITCH_ENV: Final = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

#: Environment that puts every Ray process of a node in loopback mode. Always forced.
LOOPBACK_ENV: Final[Mapping[str, str]] = types.MappingProxyType({CLUSTER_SWITCH_ENV: "0"})

#: Defaults a node gets unless the caller sets them. ``RAY_AUTH_MODE`` is explicit because,
#: left unset, ``ray start --head`` turns token auth on whenever ``~/.ray/auth_token``
#: exists (contract section 5); no usage stats leave the machine.
NODE_ENV_DEFAULTS: Final[Mapping[str, str]] = types.MappingProxyType(
    {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
)

_CLI_MODULE: Final = "rayplane.local.ray_cli"
_NODE_IP_FLAG: Final = "--node-ip-address"


def node_env(env: Mapping[str, str], *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The full environment of a node process.

    ``base`` (default: this process's environment) is overlaid with the defaults, then the
    caller's ``env`` (so ``RAY_AUTH_MODE``, ``RAY_CLOUD_INSTANCE_ID``,
    ``RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S`` ... are the caller's choice), then the loopback
    switch, which no caller can turn off: a node off loopback is a bug, not an option.

    The directory of the Python that runs Ray comes first on PATH (unless the caller's
    ``env`` sets PATH itself): in a Ray image ``python`` is the one with Ray, so a job's
    ``entrypoint: python x.py`` must find this one, not a system Python without Ray when
    rayplane runs from a virtualenv that is not activated.
    """
    out = dict(os.environ if base is None else base)
    for key, value in NODE_ENV_DEFAULTS.items():
        out.setdefault(key, value)
    bin_dir = os.path.dirname(sys.executable)
    path = out.get("PATH", "")
    if bin_dir and path.split(os.pathsep)[0] != bin_dir:
        out["PATH"] = bin_dir + (os.pathsep + path if path else "")
    out.update(env)
    out.update(LOOPBACK_ENV)
    return out


def driver_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a process that will ``ray.init("127.0.0.1:<gcs port>")``.

    Without the switch, ``ray.init`` rewrites 127.0.0.1 to the routable IP and cannot reach
    a GCS that listens on loopback only.
    """
    out = dict(os.environ if env is None else env)
    out.setdefault("RAY_AUTH_MODE", NODE_ENV_DEFAULTS["RAY_AUTH_MODE"])
    out.update(LOOPBACK_ENV)
    return out


def ray_start_argv(args: list[str], *, python: str = sys.executable) -> list[str]:
    """Command line that runs ``ray start <args>`` through :mod:`rayplane.local.ray_cli`.

    ``--node-ip-address=127.0.0.1`` is added here (and enforced by the entry point) so a
    command line built elsewhere cannot forget it. Pass ``--block`` yourself.
    """
    return [python, "-m", _CLI_MODULE, "start", *args]


def enforce_node_ip(start_args: list[str]) -> list[str]:
    """``ray start`` arguments with the node IP pinned to loopback.

    A loopback ``--node-ip-address`` given by the caller is replaced, any other value is
    rejected: a local node off loopback is a bug, not an option.
    """
    out: list[str] = []
    it = iter(start_args)
    for arg in it:
        if arg == _NODE_IP_FLAG:
            value = next(it, "")
        elif arg.startswith(_NODE_IP_FLAG + "="):
            value = arg.split("=", 1)[1]
        else:
            out.append(arg)
            continue
        if value not in (LOOPBACK_IP, "localhost"):
            raise ValueError(f"local Ray nodes must use {LOOPBACK_IP}, got {_NODE_IP_FLAG}={value}")
    out.append(f"{_NODE_IP_FLAG}={LOOPBACK_IP}")
    return out


class _GuardOpenConstants(types.ModuleType):
    """``ray_constants`` as seen by ``ray.scripts.scripts``, with the worker guard open.

    Every attribute is read through to the real module at access time, except
    ``ENABLE_RAY_CLUSTER``, which the CLI reads only to decide whether a worker may start
    (and whether to print a hint). ``services`` keeps the real module, so IP resolution in
    this process stays in loopback mode.
    """

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__(real.__name__, real.__doc__)
        self._real = real

    def __getattr__(self, name: str) -> Any:
        if name == "ENABLE_RAY_CLUSTER":
            return True
        return getattr(self._real, name)


def lift_worker_guard() -> None:
    """Let ``ray start --address`` run in loopback mode, in this process only.

    Must run after the loopback switch is in the environment and before the CLI runs.
    Fails loudly if Ray's layout changed, rather than silently starting off loopback.
    """
    if os.environ.get(CLUSTER_SWITCH_ENV) != LOOPBACK_ENV[CLUSTER_SWITCH_ENV]:
        raise RuntimeError(f"{CLUSTER_SWITCH_ENV}=0 must be set before ray is imported")
    import ray._private.ray_constants as real_constants
    import ray._private.services as services
    import ray.scripts.scripts as scripts

    if real_constants.ENABLE_RAY_CLUSTER:
        raise RuntimeError("ray was imported before the loopback switch was set")
    node_ip: Callable[[], str] = services.get_node_ip_address
    if node_ip() != LOOPBACK_IP:
        raise RuntimeError("Ray does not resolve the node IP to loopback in loopback mode")
    if getattr(scripts, "ray_constants", None) is not real_constants:
        raise RuntimeError("ray.scripts.scripts no longer imports ray_constants as a module")
    setattr(scripts, "ray_constants", _GuardOpenConstants(real_constants))  # noqa: B010
