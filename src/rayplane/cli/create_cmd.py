"""`create cluster NAME`: a RayCluster from flags, without writing YAML (kubectl-ray's verb).

The object comes from :func:`rayplane.sdk.builder.build_cluster`, the same builder as
``Cluster.build`` in Python, so the CLI and the SDK make the same cluster from the same
numbers. ``--dry-run`` prints it as YAML to keep, edit or ``kubectl apply``; otherwise it
is stored on the local runtime and waited for exactly as ``apply`` waits for a RayCluster.
"""

from __future__ import annotations

import functools
from typing import Annotated

import typer

from rayplane.api.loading import Document
from rayplane.cli.apply_cmd import cluster_ready
from rayplane.cli.kinds import qualified
from rayplane.cli.output import dump, err, out, safe
from rayplane.cli.resources import started_backend
from rayplane.sdk.backend import BackendError
from rayplane.sdk.builder import build_cluster
from rayplane.sdk.documents import say_what_is_not_honoured

create_app = typer.Typer(
    help="Create a resource from flags (no YAML): create cluster NAME.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def print_backend_error(what: str, exc: BackendError) -> None:
    """The runtime's refusal on one line, then each finding with its field path."""
    err.print(f"{safe(what)}: {safe(exc)}")
    for finding in exc.findings:
        err.print(f"  {safe(finding.get('path'))}: {safe(finding.get('message'))}")


@create_app.command("cluster")
def create_cluster_cmd(
    name: Annotated[str, typer.Argument(help="The RayCluster's name.")],
    workers: Annotated[
        int, typer.Option("--workers", "--worker-replicas", help="Worker replicas.")
    ] = 1,
    worker_cpus: Annotated[
        str, typer.Option("--worker-cpus", "--worker-cpu", help="CPUs per worker (2, 500m).")
    ] = "1",
    worker_memory: Annotated[
        str, typer.Option("--worker-memory", help="Memory per worker (a quantity: 4Gi).")
    ] = "1Gi",
    head_cpus: Annotated[
        str, typer.Option("--head-cpus", "--head-cpu", help="CPUs of the head (0 keeps tasks off).")
    ] = "1",
    head_memory: Annotated[
        str, typer.Option("--head-memory", help="Memory of the head (a quantity: 4Gi).")
    ] = "2Gi",
    min_workers: Annotated[
        int | None, typer.Option("--min-workers", "--min-replicas", help="minReplicas (0).")
    ] = None,
    max_workers: Annotated[
        int | None,
        typer.Option("--max-workers", "--max-replicas", help="maxReplicas (max(workers, 10))."),
    ] = None,
    autoscaling: Annotated[
        bool, typer.Option("--autoscaling", help="enableInTreeAutoscaling: Ray's autoscaler.")
    ] = False,
    group: Annotated[str, typer.Option("--group", help="The worker group's name.")] = "workergroup",
    ray_version: Annotated[
        str | None, typer.Option("--ray-version", help="rayVersion (the installed Ray).")
    ] = None,
    image: Annotated[
        str | None, typer.Option("--image", help="Image (rayproject/ray:<ray version>).")
    ] = None,
    namespace: Annotated[str, typer.Option("-n", "--namespace", help="Namespace.")] = "default",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the RayCluster as YAML; create nothing.")
    ] = False,
    output: Annotated[
        str, typer.Option("-o", "--output", help="yaml or json (--dry-run).")
    ] = "yaml",
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once stored.")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds to wait.")] = None,
) -> None:
    """Create a RayCluster (a head and one worker group) from flags, and wait until ready."""
    if output not in ("yaml", "json"):
        err.print(f"-o {safe(output)}: unsupported output format; use yaml or json.")
        raise typer.Exit(2)
    try:
        obj = build_cluster(
            name,
            workers=workers,
            worker_cpus=worker_cpus,
            worker_memory=worker_memory,
            head_cpus=head_cpus,
            head_memory=head_memory,
            min_workers=min_workers,
            max_workers=max_workers,
            autoscaling=autoscaling,
            namespace=namespace,
            ray_version=ray_version,
            image=image,
            group=group,
        )
    except ValueError as exc:
        err.print(f"create cluster: {safe(_as_flags(str(exc)))}")
        raise typer.Exit(2) from exc
    if dry_run:
        out.print(dump([obj], output), markup=False, end="" if output == "yaml" else "\n")
        return
    say_what_is_not_honoured([Document(obj, "<flags>", 0)], err)
    backend = started_backend()
    try:
        if backend.get("RayCluster", namespace, name) is not None:
            err.print(
                f"RayCluster {safe(namespace)}/{safe(name)} already exists; change it with "
                f"`rayplane scale cluster {safe(name)}` or `rayplane apply -f`, or delete it "
                "first."
            )
            raise typer.Exit(1)
        backend.apply(obj)
    except BackendError as exc:
        print_backend_error(f"RayCluster/{name}", exc)
        raise typer.Exit(1) from exc
    out.print(f"{qualified('RayCluster')}/{safe(name)} created")
    if no_wait:
        return
    limit = timeout if timeout is not None else backend.settings.apply_timeout_s
    fetch = functools.partial(backend.get, "RayCluster", namespace, name)
    try:
        ready = cluster_ready(fetch, namespace, name, limit)
    except BackendError as exc:  # the controller stopped answering: that ends the wait too
        print_backend_error(f"RayCluster {namespace}/{name}", exc)
        raise typer.Exit(1) from exc
    if not ready:
        raise typer.Exit(1)


_FLAG_NAMES = {
    "workers=": "--workers ",
    "worker_cpus=": "--worker-cpus ",
    "worker_memory=": "--worker-memory ",
    "head_cpus=": "--head-cpus ",
    "head_memory=": "--head-memory ",
    "min_workers=": "--min-workers ",
    "max_workers=": "--max-workers ",
    "ray_version=": "--ray-version ",
    "namespace=": "--namespace ",
    "group=": "--group ",
    "image=": "--image ",
    "name=": "NAME ",
    "min_workers": "--min-workers",
    "max_workers": "--max-workers",
}


def _as_flags(message: str) -> str:
    """The builder names Python arguments (``worker_cpus='x'``); say the flags instead."""
    for argument, flag in sorted(_FLAG_NAMES.items(), key=lambda item: -len(item[0])):
        message = message.replace(argument, flag)
    return message
