"""Turning documents into what a runtime stores: checked, ordered, named, annotated.

`rayplane apply` and the SDK's ``apply`` both go through here, so a file is refused,
ordered, named from ``generateName`` and annotated with its source directory the same way
whichever of the two applies it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from rayplane.api.configdata import CONFIG_KINDS, check, is_config_kind
from rayplane.api.findings import Finding
from rayplane.api.loading import Document
from rayplane.api.validation import KINDS, FeatureGates, validate
from rayplane.local.notes import apply_notes
from rayplane.local.rayjob_controller import SOURCE_DIR
from rayplane.reconcile.kuberay import random_suffix
from rayplane.sdk.display import safe
from rayplane.settings import SettingsError, load_local
from rayplane.settings.local import RAY_VERSIONS_INSTALLED


def is_supported(doc: Document) -> bool:
    """A ray.io kind, a Secret or a ConfigMap: what the runtimes store."""
    return doc.kind in KINDS or is_config_kind(doc.raw)


def check_document(doc: Document, gates: FeatureGates) -> tuple[list[Finding], bool]:
    """Every finding of *doc* (errors and warnings), and whether it may be stored."""
    if is_config_kind(doc.raw):
        checked = check(doc.raw)
        return checked.items, not checked.errors
    report = validate(doc.raw, gates)
    return report.findings, report.ok


def apply_order(docs: list[Document]) -> list[Document]:
    """Secrets and ConfigMaps first, then the rest in file order.

    A RayCluster's node reads its Secret when it starts; stored first, the Secret is there
    before the cluster's first pass, wherever the file puts it.
    """
    return [d for d in docs if d.kind in CONFIG_KINDS] + [
        d for d in docs if d.kind not in CONFIG_KINDS
    ]


def needs_generated_name(doc: Document) -> bool:
    """Only ``metadata.generateName`` is set: the object is named when it is created."""
    return not doc.name and bool((doc.raw.get("metadata") or {}).get("generateName"))


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

    A RayJob's `working_dir: ./src` means "next to this YAML" to the user who wrote it (or
    the notebook's directory, for an object built in Python); the controller runs
    elsewhere, so it needs the directory to upload the right files. The annotation is
    additive and ignored by KubeRay.
    """
    raw = dict(doc.raw)
    if doc.kind in ("RayCluster", *CONFIG_KINDS):
        return raw
    base = source_dir(doc.source)
    meta = dict(raw.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), SOURCE_DIR: str(base)}
    raw["metadata"] = meta
    return raw


def source_dir(source: str) -> Path:
    """The directory a document's relative paths mean: its file's, or the current one for
    stdin and objects built in Python (sources in angle brackets)."""
    if source.startswith("<"):
        return Path.cwd()
    return Path(source).resolve().parent


def say_what_is_not_honoured(docs: list[Document], console: Console) -> None:
    """Before anything is applied: security settings the local runtime does not give
    (loudly, first), then rayStartParams it leaves out and which Ray runs for a rayVersion
    other than the installed one. Nothing claims a protection it does not provide, and
    nothing is dropped without a word."""
    try:
        ray_versions = load_local().ray_versions
    except SettingsError:
        ray_versions = RAY_VERSIONS_INSTALLED  # the controller refuses it with the reason
    said = [(doc, *apply_notes(doc.raw, ray_versions)) for doc in docs]
    for doc, warnings, _ in said:
        for warning in warnings:
            console.print(
                f"[bold red]WARNING[/bold red] {safe(doc.kind)}/{safe(doc.name)}: {safe(warning)}"
            )
    for doc, _, dropped in said:
        for note in dropped:
            console.print(f"note: {doc.kind}/{doc.name}: {note}", markup=False)
