"""The handle every kind shares: an object, the runtime it goes to, and the verbs on it.

A handle is a plain ray.io (or core/v1) object plus a runtime. Nothing is stored until
``apply``; ``apply`` validates first (the CLI's rules and gates), so an invalid object is
refused with each field path before the runtime sees any document of it, and then waits
with the same judges and progress as `rayplane apply` (:mod:`rayplane.sdk.waiting`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

import yaml

from rayplane.api.configdata import CONFIG_KINDS
from rayplane.api.findings import Finding
from rayplane.api.loading import Document, load
from rayplane.sdk.backend import Backend, BackendError, Obj, Verb
from rayplane.sdk.display import progress_console
from rayplane.sdk.documents import (
    apply_order,
    check_document,
    needs_generated_name,
    say_what_is_not_honoured,
    with_generated_name,
    with_source_dir,
)
from rayplane.sdk.errors import ApplyError, NotFoundError, WaitError
from rayplane.sdk.runtime import Runtime, default_runtime
from rayplane.sdk.status import Status, status_of
from rayplane.sdk.waiting import JUDGES, Judge, Outcome, gone_outcome, wait_for
from rayplane.settings import load_gates

PYTHON_SOURCE = "<python>"
"""The source of an object built in Python: its relative paths mean the current directory."""


class Resource:
    """One object of :attr:`kind` on a runtime (the process-wide local one by default)."""

    kind: ClassVar[str] = ""
    api_version: ClassVar[str] = ""

    def __init__(
        self,
        obj: Obj,
        runtime: Runtime | None = None,
        *,
        source: str = PYTHON_SOURCE,
        companions: list[Document] | None = None,
    ) -> None:
        """*obj* is the object as a dict (copied); *companions* are Secrets and ConfigMaps
        from the same file, applied before it (its nodes may read them)."""
        if not isinstance(obj, dict):
            raise ApplyError(f"a {self.kind} must be a mapping, not {type(obj).__name__}")
        if obj.get("kind") not in (None, self.kind):
            raise ApplyError(
                f"kind: {obj.get('kind')!r} given to {type(self).__name__}; "
                f"use the handle of that kind or set kind: {self.kind}"
            )
        self.object: Obj = copy.deepcopy(obj)
        self.object.setdefault("apiVersion", self.api_version)
        self.object["kind"] = self.kind
        if not isinstance(self.object.get("metadata"), dict):
            self.object["metadata"] = {}  # `metadata:` left empty; validation asks for a name
        self._runtime = runtime
        self._source = source
        self._companions = list(companions or [])
        self._applied = False
        self.verb: Verb | None = None
        """What the last ``apply`` did: created, configured or unchanged."""

    # building ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, obj: Obj, runtime: Runtime | None = None) -> Self:
        """A handle for *obj* (nothing is stored until ``apply``)."""
        return cls(obj, runtime)

    @classmethod
    def from_yaml(cls, path: str | Path, runtime: Runtime | None = None) -> Self:
        """The one object of this kind in the YAML file *path*; the file's Secrets and
        ConfigMaps come along and are applied first. Relative paths in it (a RayJob's
        ``working_dir``) stay relative to the file. A file that cannot be read raises
        LoadError (with the file and line); one without exactly one such object ApplyError."""
        docs = load([str(path)])
        mine = [d for d in docs if d.kind == cls.kind]
        if len(mine) != 1:
            found = ", ".join(f"{d.kind or '?'}/{d.name or '?'}" for d in docs) or "nothing"
            raise ApplyError(
                f"{path}: {len(mine)} {cls.kind} documents (found: {found}); "
                f"from_yaml needs exactly one. Split the file or use from_dict."
            )
        companions = [] if cls.kind in CONFIG_KINDS else [d for d in docs if d.kind in CONFIG_KINDS]
        return cls(mine[0].raw, runtime, source=mine[0].source, companions=companions)

    @classmethod
    def get(cls, name: str, namespace: str | None = None, runtime: Runtime | None = None) -> Self:
        """A handle for the stored object *name*; NotFoundError when there is none."""
        rt = runtime or default_runtime()
        ns = namespace or rt.namespace
        obj = rt.backend.get(cls.kind, ns, name)
        if obj is None:
            raise NotFoundError(f'{cls.kind} "{name}" not found in namespace {ns} ({rt.name})')
        handle = cls(obj, rt)
        handle._applied = True
        return handle

    # identity -----------------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        """Where this object goes; the process-wide local runtime unless one was given."""
        if self._runtime is None:
            self._runtime = default_runtime()
        return self._runtime

    @property
    def backend(self) -> Backend:
        return self.runtime.backend

    @property
    def name(self) -> str:
        """metadata.name ("" until a generateName object is applied)."""
        return str(self.object["metadata"].get("name") or "")

    @property
    def namespace(self) -> str:
        ns = self.object["metadata"].get("namespace")
        return str(ns or (self._runtime.namespace if self._runtime else "default"))

    def to_yaml(self) -> str:
        """The object as YAML, as `kubectl get -o yaml` shows it (no runtime-only detail)."""
        shown = {k: v for k, v in self.object.items() if k != "local"}
        return yaml.safe_dump(shown, sort_keys=False)

    def __repr__(self) -> str:
        where = self._runtime.name if self._runtime else "local"
        name = self.name or f"{self.object['metadata'].get('generateName', '')}*"
        return f"<{type(self).__name__} {self.namespace}/{name} ({where})>"

    # verbs --------------------------------------------------------------------------------

    def _document(self) -> Document:
        """The object as a user's document: what the runtime added (``status``, its
        ``local`` detail) left out, so a handle read back with ``get`` applies again."""
        return Document(self._intent(), self._source, 0)

    def _intent(self) -> Obj:
        return {k: v for k, v in self.object.items() if k not in ("status", "local")}

    def _placed(self, doc: Document) -> Document:
        """*doc* in the runtime's namespace when it names none (``rayplane.kubernetes(
        namespace=...)`` then means that namespace, as ``kubectl -n`` does)."""
        meta = doc.raw.get("metadata") or {}
        if meta.get("namespace") or self._runtime is None:
            return doc
        raw = {**doc.raw, "metadata": {**meta, "namespace": self._runtime.namespace}}
        return Document(raw, doc.source, doc.index)

    def validate(self) -> list[Finding]:
        """Every finding (errors and warnings) of this object and its companions."""
        gates = load_gates()
        return [f for doc in self._documents() for f in check_document(doc, gates)[0]]

    def _documents(self) -> list[Document]:
        """The companions and the object, each in the namespace it will be stored in."""
        return [self._placed(d) for d in (*self._companions, self._document())]

    def _check(self, docs: list[Document]) -> None:
        """Refuse before storing anything when any of *docs* is invalid."""
        gates = load_gates()
        bad: list[str] = []
        errors: list[Finding] = []
        for doc in docs:
            findings, ok = check_document(doc, gates)
            if not ok:
                bad.append(f"{doc.kind}/{doc.name or '?'}")
                errors.extend(f for f in findings if f.severity == "error")
        if bad:
            raise ApplyError(f"nothing was applied: {', '.join(bad)} is invalid", errors)

    def apply(self, wait: bool = True, timeout: float | None = None, progress: bool = True) -> Self:
        """Create or update the object (its companions first), then, with *wait*, wait
        until it is ready (a RayJob: until it has finished) showing its nodes' progress.

        Raises ApplyError (nothing stored) when it is invalid or refused, and WaitError
        with the reason when it fails or *timeout* seconds (the runtime's apply timeout
        when None) pass first.
        """
        documents = self._documents()
        own = documents[-1]
        self._check(documents)
        docs = apply_order(documents)
        if progress and self.backend.name == "local":
            say_what_is_not_honoured(docs, progress_console())
        for doc in docs:
            mine = doc is own
            if needs_generated_name(doc):
                doc = with_generated_name(doc, self._taken(doc))
            try:
                applied = self.backend.apply(with_source_dir(doc))
            except BackendError as exc:
                refused = [Finding(str(f.get("path")), str(f.get("message"))) for f in exc.findings]
                raise ApplyError(f"{doc.kind}/{doc.name}: {exc}", refused) from exc
            if mine:
                self.object = applied.object
                self.verb = applied.verb
                self._applied = True
        judge = JUDGES.get(self.kind)
        if wait and judge is not None:
            limit = timeout if timeout is not None else self.runtime.apply_timeout_s
            self._wait(judge, limit, progress)
        return self

    def _taken(self, doc: Document) -> Callable[[str], bool]:
        """Whether a name of *doc*'s kind is taken in its namespace on the runtime."""
        kind, ns = doc.kind, str(doc.raw["metadata"].get("namespace") or "default")
        return lambda name: self.backend.get(kind, ns, name) is not None

    def _wait(self, judge: Judge, timeout_s: float, progress: bool, title: str = "") -> Outcome:
        what = f"{self.kind} {self.namespace}/{self.name}"
        outcome = wait_for(title or what, self._fetch, judge, timeout_s, progress=progress)
        if outcome.failed:
            raise WaitError(what, outcome.message, timed_out=outcome.timed_out)
        return outcome

    def _fetch(self) -> Obj | None:
        """The object as the runtime has it now (kept as :attr:`object`), None when gone."""
        fresh = self.backend.get(self.kind, self.namespace, self.name)
        if fresh is not None:
            self.object = fresh
        return fresh

    def refresh(self) -> Self:
        """Read the object back from the runtime; NotFoundError when it is gone."""
        if self._fetch() is None:
            raise NotFoundError(f"{self.kind} {self.namespace}/{self.name} is not stored")
        return self

    def status(self) -> Status:
        """The object's state, reason and conditions, read fresh."""
        return status_of(self.refresh().object)

    def delete(self, wait: bool = True, timeout: float | None = None) -> bool:
        """Delete the object; False when there was nothing to delete. With *wait*, return
        once the runtime no longer has it (locally: no process of it is left), raising
        WaitError with what is still stopping after *timeout* seconds."""
        found = self.backend.delete(self.kind, self.namespace, self.name)
        self._applied = False
        if found and wait and self.kind not in CONFIG_KINDS:
            limit = timeout if timeout is not None else self.runtime.delete_timeout_s
            what = f"{self.kind} {self.namespace}/{self.name}"
            outcome = wait_for(
                f"deleting {what}",
                lambda: self.backend.get(self.kind, self.namespace, self.name),
                gone_outcome,
                limit,
                progress=False,
            )
            if outcome.failed:
                raise WaitError(f"deleting {what}", outcome.message, timed_out=outcome.timed_out)
        return found

    def __enter__(self) -> Self:
        if not self._applied:
            self.apply()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.delete()
            return
        try:
            self.delete()
        except Exception as cleanup:  # the body's error is the one to see; note ours on it
            exc.add_note(f"and deleting {self.kind} {self.namespace}/{self.name} failed: {cleanup}")
