"""`apply`: validate every document, store them on the local controller, wait until ready."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from rayplane.api.configdata import CONFIG_KINDS, check, is_config_kind
from rayplane.api.loading import Document, LoadError, load
from rayplane.api.validation import KINDS, validate
from rayplane.cli.jobwatch import follow
from rayplane.cli.kinds import qualified
from rayplane.cli.output import err, out, print_findings, safe
from rayplane.cli.progress import wait_for
from rayplane.cli.readiness import cluster_outcome, service_outcome
from rayplane.cli.resources import client, dashboard_url, gcs_address
from rayplane.local.client import ControllerError
from rayplane.local.notes import apply_notes
from rayplane.local.rayjob_controller import SOURCE_DIR
from rayplane.reconcile.kuberay import random_suffix
from rayplane.settings import SettingsError, load_gates

Fetch = Callable[[], dict[str, Any] | None]


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
        if doc.kind not in KINDS and not is_config_kind(doc.raw):
            err.print(
                f"note: {doc.kind or 'a document'} {doc.name} ({doc.where}) is not a "
                "ray.io kind, Secret or ConfigMap; skipped."
            )
            continue
        if is_config_kind(doc.raw):
            checked = check(doc.raw)
            findings, ok = checked.items, not checked.errors
        else:
            report = validate(doc.raw, gates)
            findings, ok = report.findings, report.ok
        if not ok:
            bad += 1
            err.print(f"[red]invalid[/red] {doc.kind}/{doc.name or '?'} ({doc.where}):")
        print_findings(findings)
        keep.append(doc)
    if bad:
        err.print(f"nothing was applied: {bad} invalid resource{'s' * (bad != 1)}.")
        raise typer.Exit(1)
    return keep


def say_what_is_not_honoured(docs: list[Document]) -> None:
    """Before anything is applied: security settings the local runtime does not give
    (loudly, first), then rayStartParams it leaves out. Nothing claims a protection it
    does not provide, and nothing is dropped without a word."""
    said = [(doc, *apply_notes(doc.raw)) for doc in docs]
    for doc, warnings, _ in said:
        for warning in warnings:
            err.print(f"[bold red]WARNING[/bold red] {doc.kind}/{doc.name}: {escape(warning)}")
    for doc, _, dropped in said:
        for note in dropped:
            err.print(f"note: {doc.kind}/{doc.name}: {note}", markup=False)


def apply_order(docs: list[Document]) -> list[Document]:
    """Secrets and ConfigMaps first, then the rest in file order.

    A RayCluster's node reads its Secret when it starts; stored first, the Secret is there
    before the cluster's first pass, wherever the file puts it.
    """
    return [d for d in docs if d.kind in CONFIG_KINDS] + [
        d for d in docs if d.kind not in CONFIG_KINDS
    ]


def with_generated_name(doc: Document, taken: Callable[[str], bool]) -> Document:
    """A document that has only ``metadata.generateName``, given a name as the API server's
    create gives one: the prefix and five random characters, not yet *taken*.

    KubeRay's own RayJob samples are written for ``kubectl create`` this way. ``kubectl
    apply`` refuses them; here each apply creates a new object instead, and says its name.
    """
    meta = dict(doc.raw.get("metadata") or {})
    prefix = str(meta["generateName"])
    while True:
        name = prefix + random_suffix()
        if not taken(name):
            break
    meta["name"] = name
    return dataclasses.replace(doc, raw={**doc.raw, "metadata": meta})


def with_source_dir(doc: Document) -> dict[str, Any]:
    """The document, annotated with the directory relative paths in it are relative to.

    A RayJob's `working_dir: ./src` means "next to this YAML" to the user who wrote it;
    the controller runs elsewhere, so it needs the directory to upload the right files.
    The annotation is additive and ignored by KubeRay.
    """
    raw = dict(doc.raw)
    if doc.kind in ("RayCluster", *CONFIG_KINDS):
        return raw
    base = Path.cwd() if doc.source == "<stdin>" else Path(doc.source).resolve().parent
    meta = dict(raw.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), SOURCE_DIR: str(base)}
    raw["metadata"] = meta
    return raw


def apply_cmd(
    filename: Annotated[list[str], typer.Option("-f", "--filename", help="File, dir or -.")],
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once stored.")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds to wait.")] = None,
) -> None:
    """Create or update resources on the local runtime and wait until they are ready."""
    docs = apply_order(read_resources(filename))
    say_what_is_not_honoured(docs)
    ctl = client(start=True)
    applied: list[tuple[str, str, str]] = []
    for doc in docs:
        ns = (doc.raw.get("metadata") or {}).get("namespace") or "default"
        generated = not doc.name and bool((doc.raw.get("metadata") or {}).get("generateName"))
        if generated:
            kind = doc.kind

            def taken(name: str, k: str = kind, n: str = ns) -> bool:
                return ctl.get(k, n, name) is not None

            doc = with_generated_name(doc, taken)
        before = ctl.get(doc.kind, ns, doc.name)
        try:
            after = ctl.apply(with_source_dir(doc))
        except ControllerError as exc:
            err.print(f"{safe(doc.kind)}/{safe(doc.name)}: {safe(exc)}")
            if isinstance(exc.payload, dict) and exc.payload.get("findings"):
                for finding in exc.payload["findings"]:
                    err.print(f"  {safe(finding['path'])}: {safe(finding['message'])}")
            raise typer.Exit(1) from exc
        verb = (
            "created"
            if before is None
            else (
                "configured"
                if after["metadata"]["generation"] != before["metadata"]["generation"]
                else "unchanged"
            )
        )
        how = " (named from metadata.generateName)" if generated else ""
        out.print(f"{qualified(doc.kind)}/{doc.name} {verb}{how}")
        applied.append((doc.kind, ns, doc.name))
    if no_wait:
        return
    limit = timeout if timeout is not None else ctl.settings.apply_timeout_s
    waits: tuple[tuple[str, Callable[[Fetch, str, str], bool]], ...] = (
        ("RayCluster", lambda fetch, ns, name: _cluster_ready(fetch, ns, name, limit)),
        ("RayService", lambda fetch, ns, name: _service_ready(fetch, ns, name, limit)),
        ("RayJob", lambda fetch, ns, name: follow(fetch, f"RayJob {ns}/{name}", timeout) == 0),
    )
    failed = False
    for wanted, wait in waits:  # clusters, then services, then jobs
        for kind, ns, name in applied:
            if kind == wanted and not wait(functools.partial(ctl.get, kind, ns, name), ns, name):
                failed = True
    if failed:
        raise typer.Exit(1)


def _cluster_ready(fetch: Fetch, ns: str, name: str, limit: float) -> bool:
    """Wait for a RayCluster; when ready, say how to reach it."""
    outcome = wait_for(f"RayCluster {ns}/{name}", fetch, cluster_outcome, limit)
    if outcome.failed:
        err.print(f"[red]RayCluster {ns}/{name} is not ready[/red]: {safe(outcome.message)}")
        return False
    status = (fetch() or {}).get("status") or {}
    url, address = dashboard_url(status), gcs_address(status)
    out.print(f"RayCluster {ns}/{name} is ready. Dashboard: {safe(url)}")
    if address:
        out.print(f'  connect: ray.init(address="{safe(address)}")')
        out.print(f"  submit:  ray job submit --address {safe(url)} -- python my_script.py")
    return True


def _service_ready(fetch: Fetch, ns: str, name: str, limit: float) -> bool:
    """Wait for a RayService; when it serves, say its endpoint."""
    outcome = wait_for(f"RayService {ns}/{name}", fetch, service_outcome, limit)
    if outcome.failed:
        err.print(f"[red]RayService {ns}/{name} is not ready[/red]: {safe(outcome.message)}")
        return False
    endpoint = ((fetch() or {}).get("local") or {}).get("endpoint")
    out.print(f"RayService {ns}/{name} is ready. Endpoint: {safe(endpoint)}/")
    return True
