"""`delete`: remove resources by name or file, and wait until their processes are gone."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rayplane.api.configdata import CONFIG_KINDS, is_config_kind
from rayplane.api.loading import LoadError, load
from rayplane.api.validation import KINDS
from rayplane.cli.kinds import qualified, resolve
from rayplane.cli.output import err, out, safe
from rayplane.cli.resources import Namespace
from rayplane.sdk.backend import BackendError
from rayplane.sdk.local_backend import LocalBackend
from rayplane.sdk.waiting import gone_outcome, wait_for
from rayplane.settings import load_local


def delete_order(targets: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Ray resources first, Secrets and ConfigMaps last: a RayCluster's delete-time Redis
    cleanup may still need the password Secret that the same file carries."""
    return [t for t in targets if t[0] not in CONFIG_KINDS] + [
        t for t in targets if t[0] in CONFIG_KINDS
    ]


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
    backend = LocalBackend(load_local(), start=False)
    missing = False
    for kind, ns, name in targets:
        try:
            found = backend.get(kind, ns, name)
            deleted = found is not None and backend.delete(kind, ns, name)
        except BackendError as exc:
            err.print(safe(exc))
            raise typer.Exit(1) from exc
        if found is None or not deleted:
            err.print(f'{kind} "{name}" not found in namespace {ns}')
            missing = True
            continue
        if wait and kind not in CONFIG_KINDS:  # removed at once: nothing to stop

            def fetch(k: str = kind, n: str = ns, m: str = name) -> dict[str, Any] | None:
                return backend.get(k, n, m)

            what = f"{kind} {ns}/{name}"
            outcome = wait_for(f"deleting {what}", fetch, gone_outcome, timeout, console=err)
            if outcome.failed:
                err.print(f"{what}: {safe(outcome.message)}")
                raise typer.Exit(1)
        out.print(f'{qualified(kind)} "{name}" deleted')
        if wait and kind not in CONFIG_KINDS:
            _say_gcs_cleanup(backend, found["metadata"]["uid"])
    if missing:
        raise typer.Exit(1)


def _say_gcs_cleanup(backend: LocalBackend, uid: str) -> None:
    """What the delete did to the cluster's GCS storage in Redis (its events say)."""
    for event in backend.client.request("GET", f"/events/{uid}"):
        if event["reason"].startswith("GCSStorage"):
            style = "yellow" if event["type"] == "Warning" else "green"
            err.print(f"  [{style}]{safe(event['message'])}[/{style}]")
