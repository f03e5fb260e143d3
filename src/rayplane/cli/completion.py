"""Shell completion: `rayplane completion bash|zsh|fish`, and what a Tab completes.

Typer answers the shell's completion requests itself; this module gives the script to
source and the values it offers: resource types, and the names of objects stored on the
local controller. Completion must be instant and harmless, so names are read only from a
controller that already answers, with a one-second limit, and never start one; any
failure completes nothing rather than printing into the user's command line.
"""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from typer._completion_shared import get_completion_script  # typer.completion re-exports it

from rayplane.cli.kinds import ALIASES
from rayplane.cli.nodes_cmd import GROUP_WORDS, NODE_WORDS
from rayplane.local.client import ControllerClient, ControllerError
from rayplane.settings import SettingsError, load_local

SHELLS = ("bash", "zsh", "fish")
EXTRA_WORDS = ("nodes", "workergroups")
"""`get` words that are not kinds: they name a cluster's parts."""
_LIMIT_S = 1.0
_KINDS = {a: k for k, names in ALIASES.items() for a in (*names, k.lower())}


def completion_cmd(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the shell's completion script: `source <(rayplane completion bash)`."""
    if shell not in SHELLS:
        typer.echo(f"unsupported shell {shell!r}; use one of: {', '.join(SHELLS)}", err=True)
        raise typer.Exit(2)
    script = get_completion_script(
        prog_name="rayplane", complete_var="_RAYPLANE_COMPLETE", shell=shell
    )
    typer.echo(script)


def _controller() -> ControllerClient | None:
    """A client for a controller that may be running, with a short limit; None if none."""
    try:
        client = ControllerClient(load_local())
    except SettingsError:
        return None
    if not client.socket.exists():  # no controller: do not even try to connect
        client.close()
        return None
    # The CLI's own client waits 30 s for a busy controller; a Tab must not (and the
    # client has no setting for it).
    client._http.timeout = httpx.Timeout(_LIMIT_S)
    return client


def stored_names(kind: str, namespace: str | None) -> list[str]:
    """Names of *kind* on a running local controller; [] when none answers in time."""
    client = _controller()
    if client is None:
        return []
    try:
        found = client.list(kind, namespace)
    except (ControllerError, OSError, ValueError):
        return []
    finally:
        client.close()
    return sorted({str(doc["metadata"]["name"]) for doc in found})


def group_names(namespace: str, cluster: str) -> list[str]:
    """The worker groups of RayCluster *cluster*; [] when it cannot be read quickly."""
    client = _controller()
    if client is None or not cluster:
        return []
    try:
        found = client.get("RayCluster", namespace, cluster) or {}
    except (ControllerError, OSError, ValueError):
        return []
    finally:
        client.close()
    groups = (found.get("spec") or {}).get("workerGroupSpecs") or []
    return [str(g.get("groupName")) for g in groups]


def complete_resource(incomplete: str) -> list[str]:
    """`get`'s first word: the kinds' plural names, then nodes and workergroups."""
    words = [names[0] for names in ALIASES.values()] + list(EXTRA_WORDS)
    return [w for w in words if w.startswith(incomplete)]


def _namespace(ctx: typer.Context) -> str | None:
    if ctx.params.get("all_namespaces"):
        return None
    return str(ctx.params.get("namespace") or "default")


def complete_get_name(ctx: typer.Context, incomplete: str) -> list[str]:
    """`get KIND <Tab>`: names of that kind (clusters for nodes and workergroups)."""
    word = str(ctx.params.get("resource") or "").lower()
    kind = "RayCluster" if word in GROUP_WORDS + NODE_WORDS else _KINDS.get(word)
    if not kind:
        return []
    return [n for n in stored_names(kind, _namespace(ctx)) if n.startswith(incomplete)]


def complete_cluster(ctx: typer.Context, incomplete: str) -> list[str]:
    """A RayCluster's name in the namespace given so far."""
    return [n for n in stored_names("RayCluster", _namespace(ctx)) if n.startswith(incomplete)]


def complete_group(ctx: typer.Context, incomplete: str) -> list[str]:
    """`scale cluster NAME --group <Tab>`: that cluster's worker groups."""
    namespace = str(ctx.params.get("namespace") or "default")
    names = group_names(namespace, str(ctx.params.get("name") or ""))
    return [n for n in names if n.startswith(incomplete)]
