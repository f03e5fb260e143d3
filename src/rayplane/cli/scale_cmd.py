"""`scale cluster NAME --group G --replicas N`: kubectl-ray's verb, with progress.

The new object comes from :func:`rayplane.sdk.scaling.scaled` (refused outside the
group's min/max, as kubectl-ray refuses it), is stored through the local backend, and the
command then waits until the group has that many ready nodes, showing each node as
``apply`` does. A RayCluster's ``state`` stays ``ready`` while a group grows, so the wait
reads the group's nodes, not the state.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

import typer

from rayplane.cli.completion import complete_cluster, complete_group
from rayplane.cli.create_cmd import print_backend_error
from rayplane.cli.output import err, out, safe
from rayplane.sdk.backend import BackendError
from rayplane.sdk.local_backend import LocalBackend
from rayplane.sdk.scaling import ScaleError, scaled
from rayplane.sdk.waiting import group_outcome, wait_for

scale_app = typer.Typer(
    help="Scale a resource: scale cluster NAME --group G --replicas N.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

# What the runtime writes into a stored object; not part of what a user applies.
_SERVER_FIELDS = ("uid", "generation", "resourceVersion", "creationTimestamp", "managedFields")


@scale_app.command("cluster")
def scale_cluster_cmd(
    name: Annotated[
        str, typer.Argument(help="The RayCluster's name.", autocompletion=complete_cluster)
    ],
    group: Annotated[
        str,
        typer.Option(
            "--group",
            "-g",
            "--worker-group",
            "-w",
            help="The worker group (groupName).",
            autocompletion=complete_group,
        ),
    ],
    replicas: Annotated[
        int | None, typer.Option("--replicas", "-r", help="Desired worker replicas.")
    ] = None,
    min_replicas: Annotated[
        int | None, typer.Option("--min-replicas", help="Set the group's minReplicas too.")
    ] = None,
    max_replicas: Annotated[
        int | None, typer.Option("--max-replicas", help="Set the group's maxReplicas too.")
    ] = None,
    namespace: Annotated[str, typer.Option("-n", "--namespace", help="Namespace.")] = "default",
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once stored.")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds to wait.")] = None,
) -> None:
    """Set a worker group's replicas (within its min/max) and wait for its nodes."""
    backend = LocalBackend(start=False)
    where = f"RayCluster {namespace}/{name}"
    try:
        current = backend.get("RayCluster", namespace, name)
    except BackendError as exc:
        print_backend_error(where, exc)
        raise typer.Exit(1) from exc
    if current is None:
        err.print(f"{safe(where)} not found; `rayplane get rayclusters -A` lists them.")
        raise typer.Exit(1)
    try:
        wanted = scaled(
            _applicable(current),
            group,
            replicas,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )
    except ScaleError as exc:
        err.print(f"scale cluster: {safe(exc)}")
        raise typer.Exit(1) from exc
    before = _group(current, group)
    after = _group(wanted, group)
    changes = [
        f"{label} {before.get(key, default)} to {after.get(key, default)}"
        for label, key, default in (
            ("replicas", "replicas", 0),
            ("minReplicas", "minReplicas", 0),
            ("maxReplicas", "maxReplicas", "unset"),
        )
        if before.get(key, default) != after.get(key, default)
    ]
    if not changes:
        out.print(
            f"worker group {safe(group)} of {safe(where)} already has replicas "
            f"{after.get('replicas', 0)}; nothing to change."
        )
        return
    if (current.get("spec") or {}).get("enableInTreeAutoscaling"):
        err.print(
            f"note: {safe(where)} is autoscaled: Ray's autoscaler may change replicas "
            "again on demand or when idle; --min-replicas/--max-replicas bound what it does."
        )
    try:
        backend.apply(wanted)
    except BackendError as exc:
        print_backend_error(where, exc)
        raise typer.Exit(1) from exc
    out.print(f"scaled worker group {safe(group)} of {safe(where)}: {safe(', '.join(changes))}")
    if no_wait:
        return
    limit = timeout if timeout is not None else backend.settings.apply_timeout_s
    fetch = functools.partial(backend.get, "RayCluster", namespace, name)
    try:
        outcome = wait_for(
            f"{where} group {group}", fetch, group_outcome(group, backend.nodes), limit
        )
    except BackendError as exc:
        print_backend_error(where, exc)
        raise typer.Exit(1) from exc
    if outcome.failed:
        err.print(
            f"[red]worker group {safe(group)} of {safe(where)} did not reach its size[/red]: "
            f"{safe(outcome.message)}"
        )
        raise typer.Exit(1)
    out.print(f"worker group {safe(group)} of {safe(where)}: {safe(outcome.message)}")


def _applicable(obj: dict[str, Any]) -> dict[str, Any]:
    """The stored object as one would apply it: without status, the controller's
    ``local`` block or the fields the runtime owns."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    return {k: v for k, v in obj.items() if k not in ("status", "local")} | {"metadata": meta}


def _group(obj: dict[str, Any], name: str) -> dict[str, Any]:
    groups = (obj.get("spec") or {}).get("workerGroupSpecs") or []
    return next((g for g in groups if g.get("groupName") == name), {})
