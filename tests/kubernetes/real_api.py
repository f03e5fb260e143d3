"""The operator's tests on a real kube-apiserver (built from source; see tools/kube).

One control plane serves the whole session (``kube_cluster`` in conftest.py): etcd,
kube-apiserver and kube-controller-manager are real; Pods' processes are simulated (no
kubelet): tests that need Pods Running and Ready call :meth:`Namespace.ready_pods`, which
writes what a kubelet would. Each test gets its own namespace, so tests never see each
other's objects, and the operator runs as its own ServiceAccount with the ClusterRole from
``deploy/``: what RBAC forbids it, the API server refuses.

What a fake could record but a real server does not, the API server's own audit log does:
:meth:`Namespace.requests` reads it (every request, its user, verb, URI and answer code).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from rayplane.kubernetes.kube import Connection
from rayplane.kubernetes.operator import Operator
from rayplane.kubernetes.operator_config import OperatorConfig
from rayplane.kubernetes.testing import nodesim
from rayplane.kubernetes.testing.install import OPERATOR_NS
from rayplane.kubernetes.testing.rest import KIND_PLURALS, apply, path_of, token_for
from tests.kubernetes.operator_harness import condition, run, running
from tests.support import example, wait_for_async

Obj = dict[str, Any]


@dataclass(frozen=True)
class Audited:
    """One request as the API server's audit log recorded it."""

    user: str
    verb: str
    method: str
    path: str
    query: dict[str, str]
    code: int
    resource: str
    namespace: str
    name: str
    subresource: str


def _method(verb: str) -> str:
    return {
        "create": "POST",
        "update": "PUT",
        "patch": "PATCH",
        "delete": "DELETE",
        "deletecollection": "DELETE",
    }.get(verb, "GET")


@dataclass
class Cluster:
    """The session's API server, reached as admin, plus what the operator needs to log in."""

    server: str
    ca_file: Path
    admin: httpx.Client
    audit_log: Path | None
    kubeconfig: Path
    operator_token: str = ""
    webhook_cert: tuple[Path, Path] | None = None
    ca_pem: bytes = b""
    simulated: bool = True
    # The local control plane's processes (name -> PID); empty for another cluster.
    processes: dict[str, int] = field(default_factory=dict)
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- plain API access, as admin --------------------------------------------------------

    def apply(self, obj: Obj, namespace: str | None = None, manager: str = "tests") -> Obj:
        """Server-side apply *obj* (as kubectl apply --server-side --force-conflicts)."""
        return apply(self.admin, obj, namespace, manager)

    def token_for(self, namespace: str, service_account: str) -> str:
        return token_for(self.admin, namespace, service_account)

    def audit(self) -> list[Audited]:
        """Every request the API server has answered so far (its audit log)."""
        if self.audit_log is None:
            raise AssertionError(
                "this test reads the API server's audit log: set RAYPLANE_TEST_AUDIT_LOG to "
                "the log file of the cluster under test (see docs/kubernetes.md)"
            )
        records = []
        for line in self.audit_log.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event.get("stage") != "ResponseComplete":
                continue
            uri = urlsplit(event["requestURI"])
            ref = event.get("objectRef") or {}
            records.append(
                Audited(
                    user=event["user"]["username"],
                    verb=event["verb"],
                    method=_method(event["verb"]),
                    path=uri.path,
                    query={k: v[0] for k, v in parse_qs(uri.query).items()},
                    code=int((event.get("responseStatus") or {}).get("code", 0)),
                    resource=ref.get("resource", ""),
                    namespace=ref.get("namespace", ""),
                    name=ref.get("name", ""),
                    subresource=ref.get("subresource", ""),
                )
            )
        return records

    def namespace(self, prefix: str, manual_pods: bool = True) -> Namespace:
        """A fresh namespace for one test (Pods there wait for :meth:`Namespace.ready_pods`)."""
        name = f"{prefix}-{next(self._names)}-{int(time.time()) % 100000}"
        # Where kubelets run Pods for real, nothing waits for a test to start them.
        manual = manual_pods and self.simulated
        labels = {nodesim.MANUAL_LABEL: nodesim.MANUAL} if manual else {}
        self.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        )
        return Namespace(self, name)

    def operator_config(self, namespace: str, **overrides: Any) -> OperatorConfig:
        settings: dict[str, Any] = {
            "connection": Connection(
                server=self.server, token=self.operator_token, ca_file=self.ca_file
            ),
            "namespaces": (namespace,),
            "leader_election": False,
            "leader_election_namespace": OPERATOR_NS,
            "health_address": None,
            "metrics_address": None,
        }
        settings.update(overrides)
        return OperatorConfig(**settings)


@dataclass
class Namespace:
    """One test's namespace on the session's API server, with the helpers tests use."""

    cluster: Cluster
    name: str

    @property
    def url(self) -> str:
        return self.cluster.server

    @property
    def ca_file(self) -> Path:
        return self.cluster.ca_file

    def create(self, obj: Obj) -> Obj:
        """Create *obj* in this namespace as a user would (admin; admission applies)."""
        obj = json.loads(json.dumps(obj))
        obj["metadata"]["namespace"] = self.name
        answer = self.cluster.admin.post(path_of(KIND_PLURALS[obj["kind"]], self.name), json=obj)
        assert answer.status_code == 201, answer.text
        created: Obj = answer.json()
        return created

    def get(self, plural: str, name: str, namespace: str | None = None) -> Obj | None:
        answer = self.cluster.admin.get(path_of(plural, namespace or self.name, name))
        if answer.status_code == 404:
            return None
        assert answer.is_success, answer.text
        found: Obj = answer.json()
        return found

    def objects(self, plural: str, selector: str = "") -> list[Obj]:
        params = {"labelSelector": selector} if selector else {}
        answer = self.cluster.admin.get(path_of(plural, self.name), params=params)
        assert answer.is_success, answer.text
        items: list[Obj] = answer.json()["items"]
        return items

    def live(self, plural: str, selector: str = "") -> list[Obj]:
        """Objects not being deleted (a Pod the GC deletes stays a moment, terminating)."""
        return [
            o for o in self.objects(plural, selector) if not o["metadata"].get("deletionTimestamp")
        ]

    def status(self, plural: str, name: str) -> Obj:
        return (self.get(plural, name) or {}).get("status") or {}

    def request(self, method: str, path: str, body: Any = None, content_type: str = "") -> Obj:
        """A user's write through the API server (as kubectl would send it); it must succeed."""
        headers = {"Content-Type": content_type} if content_type else {}
        answer = self.cluster.admin.request(
            method, path, content=json.dumps(body) if body is not None else None, headers=headers
        )
        assert answer.is_success, answer.text
        result: Obj = answer.json()
        return result

    async def ready_pods(self, selector: str = "") -> int:
        """Do what a kubelet would: bind every pending Pod and report it Running and Ready.

        On a cluster with real kubelets, wait until they have made every Pod Ready.
        """
        if not self.cluster.simulated:

            def all_ready() -> bool:
                return all(
                    any(
                        c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (p.get("status") or {}).get("conditions") or []
                    )
                    for p in self.live("pods", selector)
                )

            await self.wait_for(all_ready, timeout=900)
            return 0
        async with self._client() as client:
            return await nodesim.start_pods(client, self.name, selector)

    async def finish_pod(self, pod: Obj, exit_code: int = 0) -> None:
        async with self._client() as client:
            await nodesim.finish_pod(client, pod, exit_code)

    def _client(self) -> httpx.AsyncClient:
        return nodesim.client_from_kubeconfig(self.cluster.kubeconfig)

    def requests(self, user: str | None = None) -> list[Audited]:
        """This namespace's requests from the audit log (of *user*, when given)."""
        return [
            r
            for r in self.cluster.audit()
            if r.namespace == self.name and (user is None or r.user == user)
        ]

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1
    ) -> Any:
        """Poll *predicate* until it returns something truthy; TimeoutError after *timeout*.

        The same signature as the fake API's, so a scenario runs on either.
        """
        return await wait_for_async(predicate, timeout, str(predicate), interval=interval)


@contextlib.asynccontextmanager
async def operator(ns: Namespace, **overrides: Any) -> AsyncIterator[Operator]:
    """Our operator, as its ServiceAccount, watching *ns*, until the block ends."""
    config = ns.cluster.operator_config(ns.name, **overrides)
    async with running(config, ns.wait_for, stop_timeout=30.0) as op:
        yield op


__all__ = ["Cluster", "Namespace", "condition", "example", "operator", "path_of", "run"]
