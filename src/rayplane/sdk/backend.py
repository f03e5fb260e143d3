"""The SDK's one port to a runtime: plain ray.io objects in and out, wherever they run.

Everything above this port (the resource handles, waiting with progress, `connect`, the
CLI) is written once against :class:`Backend`; :mod:`rayplane.sdk.local_backend` talks to
the embedded controller and :mod:`rayplane.sdk.kube_backend` to a Kubernetes API server.
httpx's single transport port is the model: one small protocol, one tiny fake for tests.
"""

from __future__ import annotations

import builtins
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from rayplane.errors import RayplaneError

Obj = dict[str, Any]
Verb = Literal["created", "configured", "unchanged"]
PortName = Literal["dashboard", "gcs-server", "client", "serve"]
"""KubeRay's names for the head's ports (the head Service's port names)."""


class BackendError(RayplaneError):
    """The runtime refused a request or could not be reached.

    ``status`` is the HTTP status when there was one (0 otherwise); ``findings`` carries
    the validation findings (each with ``path`` and ``message``) of a refused object.
    """

    def __init__(
        self, message: str, status: int = 0, findings: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.findings = findings or []


@dataclass(frozen=True)
class Applied:
    """What `apply` did to one object, and the object as the runtime stored it."""

    object: Obj
    verb: Verb


def verb_of(before: Obj | None, after: Obj) -> Verb:
    """What an apply did, as kubectl says it: created, or configured when the generation
    moved (the spec changed), else unchanged. Both runtimes bump the generation as the
    API server does, so one rule serves both backends."""
    if before is None:
        return "created"
    moved = after["metadata"].get("generation") != before["metadata"].get("generation")
    return "configured" if moved else "unchanged"


@dataclass(frozen=True)
class NodeInfo:
    """One Ray node (a Pod on Kubernetes, a `ray start` process locally), as progress
    tables and `get nodes` show it."""

    name: str
    group: str
    kind: Literal["head", "worker"]
    state: str
    """pending, starting, ready, failed or stopping."""
    reason: str = ""
    age_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    """Runtime-specific detail (local: pid, log, ports; Kubernetes: podIP, phase)."""


class Backend(Protocol):
    """A runtime that stores ray.io objects and runs them."""

    @property
    def name(self) -> Literal["local", "kubernetes"]:
        """Which runtime this is (read-only, so a backend may declare its own literal)."""
        ...

    def apply(self, obj: Obj) -> Applied:
        """Create or update *obj* (it has metadata.name); raise BackendError if refused."""
        ...

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The object with its status, or None when it does not exist.

        On the local runtime the object also carries the controller's ``local`` block
        (nodes, events, notes, endpoint, clusterFailure); readers must not need it.
        """
        ...

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Objects of *kind* in *namespace* (every namespace when None)."""
        ...

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Ask for deletion; False when there was nothing to delete. Does not wait."""
        ...

    def nodes(self, obj: Obj) -> builtins.list[NodeInfo]:
        """The Ray nodes of the cluster behind *obj* (a RayCluster, or the RayJob's or
        RayService's current cluster), as last read with :meth:`get`."""
        ...

    def reach(self, obj: Obj, port: PortName) -> AbstractContextManager[str]:
        """``host:port`` of the head's *port* reachable from this process, while the
        context is open. Locally that is the loopback port itself; on Kubernetes a
        port-forward the backend opens and closes."""
        ...

    def close(self) -> None:
        """Release connections (and port-forwards) this backend holds."""
        ...
