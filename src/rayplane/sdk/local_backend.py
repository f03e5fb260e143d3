"""The SDK's backend for the local runtime: the embedded controller over its Unix socket."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

from rayplane.local.client import ControllerClient, ControllerError
from rayplane.sdk.backend import Applied, BackendError, NodeInfo, Obj, PortName, verb_of
from rayplane.settings import LocalSettings, load_local

# KubeRay's port names -> the keys of status.endpoints the local controller writes.
_ENDPOINT = {
    "dashboard": "dashboard",
    "gcs-server": "gcs-server",
    "client": "client",
    "serve": "serve",
}


def _error(exc: ControllerError) -> BackendError:
    findings = exc.payload.get("findings") if isinstance(exc.payload, dict) else None
    return BackendError(str(exc), exc.status, list(findings or []))


class LocalBackend:
    """Talks to the local controller, starting it on first use when *start* is true."""

    name: Literal["local"] = "local"

    def __init__(self, settings: LocalSettings | None = None, *, start: bool = True) -> None:
        self.settings = settings if settings is not None else load_local()
        self.client = ControllerClient(self.settings)
        self._start = start
        self._started = False

    def ensure_running(self) -> bool:
        """Start the controller unless one answers; True when this call started it."""
        if self._started:
            return False
        try:
            started = self.client.ensure_running()
        except ControllerError as exc:
            raise _error(exc) from exc
        self._started = True
        return started

    def apply(self, obj: Obj) -> Applied:
        if self._start:
            self.ensure_running()
        meta = obj.get("metadata") or {}
        kind, ns, name = str(obj["kind"]), str(meta.get("namespace") or "default"), meta["name"]
        try:
            before = self.client.get(kind, ns, name)
            after = self.client.apply(obj)
        except ControllerError as exc:
            raise _error(exc) from exc
        return Applied(after, verb_of(before, after))

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return self.client.get(kind, namespace, name)
        except ControllerError as exc:
            raise _error(exc) from exc

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        try:
            return self.client.list(kind, namespace)
        except ControllerError as exc:
            raise _error(exc) from exc

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        try:
            return self.client.delete(kind, namespace, name) is not None
        except ControllerError as exc:
            raise _error(exc) from exc

    def nodes(self, obj: Obj) -> builtins.list[NodeInfo]:
        rows: builtins.list[dict[str, Any]] = (obj.get("local") or {}).get("nodes") or []
        return [
            NodeInfo(
                name=str(r["name"]),
                group=str(r["group"]),
                kind="head" if r.get("kind") == "head" else "worker",
                state=str(r["state"]),
                reason=str(r.get("reason") or ""),
                age_s=float(r.get("age") or 0.0),
                extra={k: r[k] for k in ("pid", "log", "ports", "tempDir") if k in r},
            )
            for r in rows
        ]

    def reach(self, obj: Obj, port: PortName) -> AbstractContextManager[str]:
        return self._reach(obj, port)

    @contextmanager
    def _reach(self, obj: Obj, port: PortName) -> Iterator[str]:
        status = obj.get("status") or {}
        number = (status.get("endpoints") or {}).get(_ENDPOINT[port])
        if not number:
            what = f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}"
            raise BackendError(f"{what} has no {port} port yet (is it ready?)")
        host = (status.get("head") or {}).get("podIP") or "127.0.0.1"
        yield f"{host}:{number}"

    def close(self) -> None:
        self.client.close()
