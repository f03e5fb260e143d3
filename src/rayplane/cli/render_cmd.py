"""`rayplane render`: the Kubernetes objects the operator would create, without a cluster.

A dry run of the Kubernetes runtime: validate, then print every Pod, Service, Job,
ServiceAccount/Role/RoleBinding (and, for RayJob and RayService, the RayCluster) that the
operator would create for the resources, as KubeRay would create them. Pipe it to
``kubectl apply --dry-run=server -f -`` to have an API server check it too.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from rayplane.api.common import Resource
from rayplane.api.validation import KINDS, validate
from rayplane.cli.documents import load_or_exit
from rayplane.cli.gates import resolve_gates
from rayplane.cli.output import dump, err, print_findings
from rayplane.kubernetes.builders import BuildError
from rayplane.kubernetes.builders.names import stable_suffix
from rayplane.kubernetes.render import is_cleanup_job, managed_elsewhere, render


def render_cmd(
    filename: Annotated[
        list[str],
        typer.Option("-f", "--filename", help="File, directory or - (stdin) with the resources."),
    ],
    output: Annotated[str, typer.Option("-o", "--output", help="yaml or json.")] = "yaml",
    feature_gates: Annotated[
        str,
        typer.Option(
            "--feature-gates",
            help="KubeRay feature gates, e.g. RayCronJob=true (on top of RAYPLANE_FEATURE_GATES).",
        ),
    ] = "",
) -> None:
    """Print the Kubernetes objects the operator would create for the resources (dry run)."""
    gates = resolve_gates(feature_gates)
    if output not in ("yaml", "json"):
        err.print(f"-o {output}: unsupported output format; use yaml or json.")
        raise typer.Exit(2)
    docs = load_or_exit(filename)

    reports = []
    bad = 0
    for doc in docs:
        if doc.kind not in KINDS and not str(_api_version(doc.raw)).startswith("ray.io"):
            err.print(
                f"note: {doc.kind or 'a document'} {doc.name} ({doc.where}) is not a ray.io "
                "kind; skipped."
            )
            continue
        report = validate(doc.raw, gates)
        if not report.ok:
            bad += 1
            what = f"{report.kind or '?'}/{report.name or '?'}"
            err.print(f"[red]invalid[/red] {what} ({doc.where}):")
        print_findings(report.findings)
        reports.append((doc, report))
    if bad:
        err.print(f"nothing was rendered: {bad} invalid resource{'s' * (bad != 1)}.")
        raise typer.Exit(1)

    objects: list[dict[str, Any]] = []
    for doc, report in reports:
        assert report.resource is not None  # report.ok
        resource = _named(report.resource, doc.where)
        label = f"{resource.kind}/{resource.name}"
        manager = managed_elsewhere(resource)
        if manager:
            err.print(f"note: {label} is managed by {manager}; the operator creates nothing.")
        try:
            rendered = render(resource)
        except BuildError as exc:
            err.print(f"[red]error[/red] {label} ({doc.where}): {exc}")
            raise typer.Exit(1) from exc
        for manifest in rendered:
            if is_cleanup_job(manifest):
                name = manifest["metadata"]["name"]
                err.print(
                    f"note: Job {name} is created only when {label} is deleted "
                    "(GCS fault tolerance: it removes the cluster's data from Redis)."
                )
        objects.extend(rendered)

    if output == "json":
        sys.stdout.write(json.dumps(_as_list(objects), indent=2) + "\n")
    else:
        sys.stdout.write(dump(objects, "yaml"))


def _named(resource: Resource, where: str) -> Resource:
    """A resource with only generateName gets its name from the API server on create; the
    dry run makes a stable one (the same input renders the same names) and says so."""
    meta = resource.metadata
    if meta.name or not meta.generate_name:
        return resource
    name = meta.generate_name + stable_suffix(f"{where}/{meta.generate_name}")
    err.print(
        f"note: {resource.kind} generateName {meta.generate_name!r} ({where}) is named on "
        f"create; rendered as {name}."
    )
    return resource.model_copy(update={"metadata": meta.model_copy(update={"name": name})})


def _api_version(raw: object) -> object:
    return raw.get("apiVersion", "") if isinstance(raw, dict) else ""


def _as_list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Always a v1 List in JSON, so the shape does not depend on how many objects there are."""
    return {"apiVersion": "v1", "kind": "List", "items": objects}
