"""`apply`: validate every document, store them on the local controller, wait until ready."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from rayplane.api.loading import Document, LoadError, load
from rayplane.cli.jobwatch import follow
from rayplane.cli.kinds import qualified
from rayplane.cli.output import err, out, print_findings, safe
from rayplane.cli.resources import dashboard_url, started_backend
from rayplane.sdk.backend import BackendError
from rayplane.sdk.connect import hint_lines
from rayplane.sdk.documents import (
    apply_order,
    check_document,
    is_supported,
    needs_generated_name,
    say_what_is_not_honoured,
    with_generated_name,
    with_source_dir,
)
from rayplane.sdk.waiting import cluster_outcome, service_outcome, wait_for
from rayplane.settings import SettingsError, load_gates

Fetch = Callable[[], dict[str, Any] | None]

__all__ = [
    "apply_cmd",
    "apply_order",
    "cluster_ready",
    "read_resources",
    "with_generated_name",
    "with_source_dir",
]


def read_resources(files: list[str]) -> list[Document]:
    """Load and validate every document; exit before anything is created if one is bad."""
    try:
        docs = load(files)
    except LoadError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from exc
    if not docs:
        err.print("no documents found in " + ", ".join(files))
        raise typer.Exit(2)
    try:
        gates = load_gates()
    except SettingsError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from exc
    keep: list[Document] = []
    bad = 0
    for doc in docs:
        if not is_supported(doc):
            err.print(
                f"note: {doc.kind or 'a document'} {doc.name} ({doc.where}) is not a "
                "ray.io kind, Secret or ConfigMap; skipped."
            )
            continue
        findings, ok = check_document(doc, gates)
        if not ok:
            bad += 1
            err.print(f"[red]invalid[/red] {doc.kind}/{doc.name or '?'} ({doc.where}):")
        print_findings(findings)
        keep.append(doc)
    if bad:
        err.print(f"nothing was applied: {bad} invalid resource{'s' * (bad != 1)}.")
        raise typer.Exit(1)
    return keep


def apply_cmd(
    filename: Annotated[list[str], typer.Option("-f", "--filename", help="File, dir or -.")],
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once stored.")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds to wait.")] = None,
) -> None:
    """Create or update resources on the local runtime and wait until they are ready."""
    docs = apply_order(read_resources(filename))
    say_what_is_not_honoured(docs, err)
    backend = started_backend()
    applied: list[tuple[str, str, str]] = []
    for doc in docs:
        ns = (doc.raw.get("metadata") or {}).get("namespace") or "default"
        generated = needs_generated_name(doc)
        if generated:
            kind = doc.kind

            def taken(name: str, k: str = kind, n: str = ns) -> bool:
                return backend.get(k, n, name) is not None

            doc = with_generated_name(doc, taken)
        try:
            verb = backend.apply(with_source_dir(doc)).verb
        except BackendError as exc:
            err.print(f"{safe(doc.kind)}/{safe(doc.name)}: {safe(exc)}")
            for finding in exc.findings:
                err.print(f"  {safe(finding['path'])}: {safe(finding['message'])}")
            raise typer.Exit(1) from exc
        how = " (named from metadata.generateName)" if generated else ""
        out.print(f"{qualified(doc.kind)}/{doc.name} {verb}{how}")
        applied.append((doc.kind, ns, doc.name))
    if no_wait:
        return
    limit = timeout if timeout is not None else backend.settings.apply_timeout_s
    waits: tuple[tuple[str, Callable[[Fetch, str, str], bool]], ...] = (
        ("RayCluster", lambda fetch, ns, name: cluster_ready(fetch, ns, name, limit)),
        ("RayService", lambda fetch, ns, name: _service_ready(fetch, ns, name, limit)),
        ("RayJob", lambda fetch, ns, name: follow(fetch, f"RayJob {ns}/{name}", timeout) == 0),
    )
    failed = False
    for wanted, wait in waits:  # clusters, then services, then jobs
        for kind, ns, name in applied:
            if kind != wanted:
                continue

            def fetch(k: str = kind, n: str = ns, m: str = name) -> dict[str, Any] | None:
                return backend.get(k, n, m)

            if not wait(fetch, ns, name):
                failed = True
    if failed:
        raise typer.Exit(1)


def cluster_ready(fetch: Fetch, ns: str, name: str, limit: float) -> bool:
    """Wait for a RayCluster; when ready, say how to reach it."""
    outcome = wait_for(f"RayCluster {ns}/{name}", fetch, cluster_outcome, limit, console=err)
    if outcome.failed:
        err.print(f"[red]RayCluster {ns}/{name} is not ready[/red]: {safe(outcome.message)}")
        return False
    obj = fetch() or {}
    url = dashboard_url(obj.get("status") or {})
    out.print(f"RayCluster {ns}/{name} is ready. Dashboard: {safe(url)}")
    for line in hint_lines(obj):  # each works pasted as printed (issue 14)
        out.print(f"  {safe(line)}")
    return True


def _service_ready(fetch: Fetch, ns: str, name: str, limit: float) -> bool:
    """Wait for a RayService; when it serves, say its endpoint."""
    outcome = wait_for(f"RayService {ns}/{name}", fetch, service_outcome, limit, console=err)
    if outcome.failed:
        err.print(f"[red]RayService {ns}/{name} is not ready[/red]: {safe(outcome.message)}")
        return False
    endpoint = ((fetch() or {}).get("local") or {}).get("endpoint")
    out.print(f"RayService {ns}/{name} is ready. Endpoint: {safe(endpoint)}/")
    return True
