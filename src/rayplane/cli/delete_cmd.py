"""`delete`: remove resources by name or file, and wait until their processes are gone."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rayplane.api.configdata import CONFIG_KINDS, is_config_kind
from rayplane.api.loading import LoadError, load
from rayplane.api.validation import KINDS
from rayplane.cli.kinds import qualified, resolve
from rayplane.cli.output import err, out, safe
from rayplane.cli.progress import Outcome, wait_for
from rayplane.cli.resources import Namespace, client, fail
from rayplane.local.client import ControllerError


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
    ctl = client()
    missing = False
    for kind, ns, name in targets:
        try:
            found = ctl.delete(kind, ns, name)
        except ControllerError as exc:
            raise fail(exc) from exc
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
