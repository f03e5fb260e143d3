"""apply, get, describe, delete: the resource verbs, over the local controller."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rayplane.api.configdata import CONFIG_KINDS, check, is_config_kind
from rayplane.api.loading import Document, LoadError, load
from rayplane.api.validation import KINDS, validate
from rayplane.cli.jobwatch import follow
from rayplane.cli.kinds import plural, qualified, resolve
from rayplane.cli.output import dump, err, out, print_findings, safe
from rayplane.cli.progress import Outcome, wait_for
from rayplane.local.client import ControllerClient, ControllerError
from rayplane.local.clusters import blocking_failure
from rayplane.local.jobs import SOURCE_DIR
from rayplane.local.notes import apply_notes
from rayplane.reconcile.kuberay import random_suffix
from rayplane.settings import SettingsError, load_gates, load_local

Namespace = Annotated[str, typer.Option("-n", "--namespace", help="Namespace.")]


def client(start: bool = False) -> ControllerClient:
    settings = load_local()
    ctl = ControllerClient(settings)
    if start:
        try:
            if ctl.ensure_running():
                err.print(f"started the local controller ({settings.home})")
        except ControllerError as exc:
            err.print(safe(exc))
            raise typer.Exit(1) from exc
    return ctl


def _fail(exc: ControllerError) -> typer.Exit:
    err.print(safe(exc))
    return typer.Exit(1)


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


def delete_order(targets: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Ray resources first, Secrets and ConfigMaps last: a RayCluster's delete-time Redis
    cleanup may still need the password Secret that the same file carries."""
    return [t for t in targets if t[0] not in CONFIG_KINDS] + [
        t for t in targets if t[0] in CONFIG_KINDS
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


def dashboard_url(status: dict[str, Any]) -> str | None:
    """http://IP:PORT from KubeRay-shaped status (head.podIP, endpoints.dashboard)."""
    port = (status.get("endpoints") or {}).get("dashboard")
    host = (status.get("head") or {}).get("podIP") or "127.0.0.1"
    return f"http://{host}:{port}" if port else None


def gcs_address(status: dict[str, Any]) -> str | None:
    port = (status.get("endpoints") or {}).get("gcs-server")
    host = (status.get("head") or {}).get("podIP") or "127.0.0.1"
    return f"{host}:{port}" if port else None


def service_outcome(detail: dict[str, Any] | None) -> Outcome:
    """Ready (serving), failed for good, or what it is waiting for, for a RayService."""
    if detail is None:
        return Outcome(True, True, "the RayService disappeared while waiting")
    status = detail.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    if ready and ready["status"] == "True" and (detail.get("local") or {}).get("endpoint"):
        return Outcome(True, False, "ready")
    if ready and ready.get("reason") in ("InitializingTimeout", "ValidationFailed"):
        return Outcome(True, True, f"{ready['reason']}: {ready.get('message', '')}")
    stuck = (detail.get("local") or {}).get("clusterFailure")
    if stuck:
        return Outcome(True, True, stuck)
    apps = (status.get("pendingServiceStatus") or status.get("activeServiceStatus") or {}).get(
        "applicationStatuses"
    ) or {}
    shown = ", ".join(f"{a}: {v.get('status')}" for a, v in apps.items()) or "no apps yet"
    reason = ready.get("reason", "") if ready else "Initializing"
    return Outcome(False, False, f"{reason}; serve apps: {shown}")


def cluster_outcome(detail: dict[str, Any] | None) -> Outcome:
    """Ready, failed, or why not yet, for a RayCluster's detail document."""
    if detail is None:
        return Outcome(True, True, "the RayCluster disappeared while waiting")
    status = detail.get("status") or {}
    if status.get("state") == "ready":
        return Outcome(True, False, "ready")
    failure = blocking_failure(status)
    if failure:
        return Outcome(True, True, failure)
    nodes = (detail.get("local") or {}).get("nodes", [])
    waiting = [
        f"{n['name']}: {n.get('reason') or n['state']}" for n in nodes if n["state"] != "ready"
    ]
    desired = (status.get("desiredWorkerReplicas") or 0) + 1
    if len(nodes) < desired:
        head_ready = any(n["kind"] == "head" and n["state"] == "ready" for n in nodes)
        why = "starting a few at a time" if head_ready else "waiting for the head (wait-gcs-ready)"
        waiting.append(f"{desired - len(nodes)} node(s) not created yet: {why}")
    return Outcome(False, False, "; ".join(waiting) or "waiting for status")


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
    failed = False
    for kind, ns, name in applied:
        if kind != "RayCluster":
            continue

        def fetch(k: str = kind, n: str = ns, m: str = name) -> dict[str, Any] | None:
            return ctl.get(k, n, m)

        outcome = wait_for(f"RayCluster {ns}/{name}", fetch, cluster_outcome, limit)
        if outcome.failed:
            err.print(f"[red]RayCluster {ns}/{name} is not ready[/red]: {safe(outcome.message)}")
            failed = True
            continue
        status = (ctl.get(kind, ns, name) or {}).get("status") or {}
        url, address = dashboard_url(status), gcs_address(status)
        out.print(f"RayCluster {ns}/{name} is ready. Dashboard: {safe(url)}")
        if address:
            out.print(f'  connect: ray.init(address="{safe(address)}")')
            out.print(f"  submit:  ray job submit --address {safe(url)} -- python my_script.py")
    for kind, ns, name in applied:
        if kind != "RayService":
            continue

        def fetch_svc(n: str = ns, m: str = name) -> dict[str, Any] | None:
            return ctl.get("RayService", n, m)

        outcome = wait_for(f"RayService {ns}/{name}", fetch_svc, service_outcome, limit)
        if outcome.failed:
            err.print(f"[red]RayService {ns}/{name} is not ready[/red]: {safe(outcome.message)}")
            failed = True
            continue
        endpoint = ((fetch_svc() or {}).get("local") or {}).get("endpoint")
        out.print(f"RayService {ns}/{name} is ready. Endpoint: {safe(endpoint)}/")
    for kind, ns, name in applied:
        if kind != "RayJob":
            continue

        def fetch_job(n: str = ns, m: str = name) -> dict[str, Any] | None:
            return ctl.get("RayJob", n, m)

        if follow(fetch_job, f"RayJob {ns}/{name}", timeout) != 0:
            failed = True
    if failed:
        raise typer.Exit(1)


def _age(created: str | None) -> str:
    if not created:
        return "?"
    seconds = (
        time.time()
        - time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))
        + time.mktime(time.gmtime(0))
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


# KubeRay's printer columns (additionalPrinterColumns of its CRDs), as `kubectl get` shows.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "RayCluster": [
        ("DESIRED WORKERS", "desiredWorkerReplicas"),
        ("AVAILABLE WORKERS", "availableWorkerReplicas"),
        ("CPUS", "desiredCPU"),
        ("MEMORY", "desiredMemory"),
        ("GPUS", "desiredGPU"),
        ("STATUS", "state"),
    ],
    "RayJob": [
        ("JOB STATUS", "jobStatus"),
        ("DEPLOYMENT STATUS", "jobDeploymentStatus"),
        ("RAY CLUSTER NAME", "rayClusterName"),
        ("START TIME", "startTime"),
        ("END TIME", "endTime"),
    ],
    "RayService": [
        ("SERVICE STATUS", "serviceStatus"),
        ("NUM SERVE ENDPOINTS", "numServeEndpoints"),
    ],
    # kubectl's columns; read from the object itself (these kinds have no status)
    "Secret": [("TYPE", "type"), ("DATA", "data")],
    "ConfigMap": [("DATA", "data")],
}


def _row(doc: dict[str, Any], kind: str) -> list[str]:
    if kind in CONFIG_KINDS:
        keys = str(len(doc.get("data") or {}) + len(doc.get("binaryData") or {}))
        return [str(doc.get("type") or "Opaque"), keys] if kind == "Secret" else [keys]
    status = doc.get("status") or {}
    row = [
        str(status.get(key, "") if status.get(key) is not None else "") for _, key in COLUMNS[kind]
    ]
    if doc["metadata"].get("deletionTimestamp") and kind == "RayCluster":
        row[-1] = "deleting"
    return row


def get_cmd(
    resource: Annotated[
        str, typer.Argument(help="rayclusters | rayjobs | rayservices | secrets | configmaps")
    ],
    name: Annotated[str | None, typer.Argument()] = None,
    namespace: Namespace = "default",
    all_namespaces: Annotated[bool, typer.Option("-A", "--all-namespaces")] = False,
    output: Annotated[
        str, typer.Option("-o", "--output", help="table, wide, yaml or json")
    ] = "table",
) -> None:
    """List resources, or show one (-o wide: desired/ready workers per group)."""
    kind = resolve(resource)
    ctl = client()
    try:
        if name:
            one = ctl.get(kind, namespace, name)
            if one is None:
                err.print(f'{kind} "{name}" not found in namespace {namespace}')
                raise typer.Exit(1)
            one.pop("local", None)
            docs = [one]
        else:
            docs = ctl.list(kind, None if all_namespaces else namespace)
    except ControllerError as exc:
        if not name and "not running" in str(exc):
            docs = []
        else:
            raise _fail(exc) from exc
    if output in ("yaml", "json"):
        out.print(dump(docs, output), markup=False, end="")
        return
    if not docs:
        hint = ""
        if not all_namespaces and not name:
            try:
                others = ctl.list(kind)
            except ControllerError:
                others = []
            if others:
                hint = f" ({len(others)} in other namespaces; add -A to see them)"
        err.print(
            f"No {plural(kind)} found in {'any namespace' if all_namespaces else namespace}.{hint}"
        )
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    headers = ["NAME", *(header for header, _ in COLUMNS[kind]), "AGE"]
    wide = output == "wide" and kind == "RayCluster"
    if wide:
        headers.append("GROUPS (READY/DESIRED)")
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    for header in headers:
        table.add_column(header)
    for doc in docs:
        row = [doc["metadata"]["name"], *_row(doc, kind)]
        row.append(_age(doc["metadata"].get("creationTimestamp")))
        if wide:
            row.append(_groups_cell(ctl, doc))
        if all_namespaces:
            row.insert(0, doc["metadata"]["namespace"])
        table.add_row(*(safe(cell) for cell in row))
    out.print(table)


def _groups_cell(ctl: ControllerClient, doc: dict[str, Any]) -> str:
    """'workers 1/3' per worker group: nodes registered with Ray / the group's target."""
    from rayplane.cli.describe import worker_groups

    meta = doc["metadata"]
    try:
        detail = ctl.get("RayCluster", meta["namespace"], meta["name"]) or {}
    except ControllerError:
        detail = {}
    nodes = (detail.get("local") or {}).get("nodes") or []
    rows = worker_groups(doc.get("spec") or {}, nodes)
    return ", ".join(f"{r['name']} {r['ready']}/{r['desired']}" for r in rows)


def describe_cmd(
    resource: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    namespace: Namespace = "default",
) -> None:
    """Show a resource with its status, nodes, ports, logs and recent events."""
    from rayplane.cli.describe import render, render_config

    kind = resolve(resource)
    try:
        detail = client().get(kind, namespace, name)
    except ControllerError as exc:
        raise _fail(exc) from exc
    if detail is None:
        err.print(f'{kind} "{name}" not found in namespace {namespace}')
        raise typer.Exit(1)
    if kind in CONFIG_KINDS:
        render_config(detail)
        return
    render(detail)


def delete_cmd(
    resource: Annotated[str | None, typer.Argument()] = None,
    names: Annotated[list[str] | None, typer.Argument()] = None,
    filename: Annotated[list[str] | None, typer.Option("-f", "--filename")] = None,
    namespace: Namespace = "default",
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True,
    timeout: Annotated[float, typer.Option("--timeout")] = 120.0,
) -> None:
    """Delete resources; waits until their processes are gone (--no-wait to return at once)."""
    targets: list[tuple[str, str, str]] = []
    if filename:
        try:
            docs = load(filename)
        except LoadError as exc:
            err.print(str(exc))
            raise typer.Exit(2) from exc
        for doc in docs:
            if doc.kind in KINDS or is_config_kind(doc.raw):
                ns = (doc.raw.get("metadata") or {}).get("namespace") or namespace
                targets.append((doc.kind, ns, doc.name))
        targets = delete_order(targets)
    elif resource:
        if "/" in resource:
            word, first = resource.split("/", 1)
            kind = resolve(word)
            targets = [(kind, namespace, n) for n in [first, *(names or [])]]
        else:
            kind = resolve(resource)
            targets = [(kind, namespace, n) for n in names or []]
    if not targets:
        err.print("say what to delete: delete raycluster NAME, or delete -f FILE")
        raise typer.Exit(2)
    ctl = client()
    missing = False
    for kind, ns, name in targets:
        try:
            found = ctl.delete(kind, ns, name)
        except ControllerError as exc:
            raise _fail(exc) from exc
        if found is None:
            err.print(f'{kind} "{name}" not found in namespace {ns}')
            missing = True
            continue
        if wait and kind not in CONFIG_KINDS:  # removed at once: nothing to stop

            def gone(detail: dict[str, Any] | None) -> Outcome:
                if detail is None:
                    return Outcome(True, False, "deleted")
                nodes = (detail.get("local") or {}).get("nodes", [])
                return Outcome(False, False, f"{len(nodes)} node(s) still stopping")

            def fetch(k: str = kind, n: str = ns, m: str = name) -> dict[str, Any] | None:
                return ctl.get(k, n, m)

            outcome = wait_for(f"deleting {kind} {ns}/{name}", fetch, gone, timeout)
            if outcome.failed:
                err.print(f"{kind} {ns}/{name}: {safe(outcome.message)}")
                raise typer.Exit(1)
        out.print(f'{qualified(kind)} "{name}" deleted')
        if wait and kind not in CONFIG_KINDS:
            for event in ctl.request("GET", f"/events/{found['metadata']['uid']}"):
                if event["reason"].startswith("GCSStorage"):
                    style = "yellow" if event["type"] == "Warning" else "green"
                    err.print(f"  [{style}]{safe(event['message'])}[/{style}]")
    if missing:
        raise typer.Exit(1)
