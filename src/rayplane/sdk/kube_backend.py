"""The SDK's backend for Kubernetes: ray.io objects on an API server, as a user's kubectl.

Where :mod:`rayplane.kubernetes.kube` is the operator's async port (its own ServiceAccount,
its own field manager), this is the user's side, synchronous because a notebook cell is:
the kubeconfig's context and credentials (:func:`rayplane.settings.load_kubeconfig`),
server-side apply under the field manager ``rayplane`` (kubectl apply --server-side), and
the same generic resources and Pod view the operator uses (``KINDS``,
:func:`rayplane.kubernetes.pod_nodes.observed_node`), so both read a Pod alike.
The dashboard and the client port are reached through a port-forward this backend opens
and closes (:mod:`rayplane.sdk.portforward`).
"""

from __future__ import annotations

import builtins
import datetime as dt
import os
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

import httpx2
from lightkube import ApiError, Client
from lightkube.config.client_adapter import Client as http_client
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import SingleConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import CascadeType

from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.core_services import DEFAULT_PORTS
from rayplane.kubernetes.kube import KINDS
from rayplane.kubernetes.pod_nodes import observed_node
from rayplane.reconcile.gotime import parse_time
from rayplane.sdk.backend import (
    Applied,
    Backend,
    BackendError,
    NodeInfo,
    Obj,
    PortName,
    verb_of,
)
from rayplane.sdk.portforward import PortForward, PortForwardError, open_channel
from rayplane.settings import KubeconfigError, load_kubeconfig

FIELD_MANAGER = "rayplane"
TIMEOUT_S = 30.0

# The kinds a user applies through the SDK: KubeRay's three, and the Secrets and
# ConfigMaps their pods read.
_RESOURCES: dict[str, Any] = {
    "RayCluster": KINDS["RayCluster"],
    "RayJob": KINDS["RayJob"],
    "RayService": KINDS["RayService"],
    "Secret": KINDS["Secret"],
    "ConfigMap": create_namespaced_resource("", "v1", "ConfigMap", "configmaps"),
}
_ALIASES = {
    alias: kind for kind in _RESOURCES for alias in (kind.lower(), kind.lower() + "s", kind)
}
# What the API server fills in; sending it back in an apply is refused (managedFields) or
# pins a stale resourceVersion, so an object read back with get() applies as it was written.
_SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp")
# "...denied the request: RayCluster 'x' is invalid: path: message; path: message"
_WEBHOOK_DENIAL = re.compile(r"denied the request: .*? is invalid: (?P<findings>.*)$", re.S)
# Findings are joined with "; ", which their messages may contain too: a new one starts
# where a field path (no spaces) and ": " follow.
_NEXT_FINDING = re.compile(r"; (?=[A-Za-z_][\w.\[\]/-]*: )")
# Server-side apply checks types before the schema does, and answers a wrong type with a
# 500 and no causes: "failed to create typed patch object (ns/name; ...): .spec.x: why".
_TYPED_PATCH = re.compile(
    r"failed to create typed patch object \(.*?\): \.(?P<path>\S+): (?P<why>.*)$"
)


def _kind(kind: str) -> str:
    try:
        return _ALIASES[kind] if kind in _ALIASES else _ALIASES[kind.lower()]
    except KeyError as exc:
        known = ", ".join(_RESOURCES)
        raise BackendError(f"kind {kind!r} is not one the SDK manages ({known})") from exc


def _findings(status: Any) -> list[dict[str, Any]]:
    """Field causes of a refusal: the structural schema's, or our webhook's denial lines."""
    details = getattr(status, "details", None)
    causes = getattr(details, "causes", None) or []
    found = [
        {"path": str(c.field or ""), "message": str(c.message or c.reason or "")}
        for c in causes
        if c.field or c.message
    ]
    if found:
        return found
    typed = _TYPED_PATCH.search(str(getattr(status, "message", "") or ""))
    if typed is not None:
        return [{"path": typed.group("path"), "message": typed.group("why")}]
    denial = _WEBHOOK_DENIAL.search(str(getattr(status, "message", "") or ""))
    if denial is None:
        return []
    rows = []
    for line in _NEXT_FINDING.split(denial.group("findings")):
        path, sep, message = line.partition(": ")
        rows.append({"path": path, "message": message} if sep else {"path": "", "message": line})
    return rows


def _error(exc: Exception, what: str) -> BackendError:
    if isinstance(exc, ApiError):
        status = exc.status
        code = int(status.code or 0)
        return BackendError(f"{what}: {status.message}", code, _findings(status))
    if isinstance(exc, httpx2.HTTPStatusError):
        code = exc.response.status_code
        return BackendError(f"{what}: HTTP {code}", code)
    return BackendError(f"{what}: cannot reach the API server ({type(exc).__name__}: {exc})")


def _applicable(obj: Obj, namespace: str) -> Obj:
    """*obj* as a server-side apply body: no status, no server-filled metadata."""
    body = {k: v for k, v in obj.items() if k not in ("status", "local")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    meta["namespace"] = namespace
    body["metadata"] = meta
    return body


def cluster_name(obj: Obj) -> str | None:
    """The RayCluster behind *obj*: itself, a RayJob's, or a RayService's active one."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    if kind == "RayCluster":
        return str(obj["metadata"]["name"])
    if kind == "RayJob":
        selector = (obj.get("spec") or {}).get("clusterSelector") or {}
        name = status.get("rayClusterName") or selector.get(L.CLUSTER)
        return str(name) if name else None
    if kind == "RayService":
        for key in ("activeServiceStatus", "pendingServiceStatus"):
            name = (status.get(key) or {}).get("rayClusterName")
            if name:
                return str(name)
    return None


def _state(pod: Obj) -> tuple[str, str]:
    """(pending|starting|ready|failed|stopping, reason) of a Pod, in Kubernetes' words."""
    node = observed_node(pod)
    reason = ": ".join(part for part in (node.reason or "", node.message) if part)
    if node.deleting:
        return "stopping", reason
    if node.phase in ("Failed", "Succeeded"):
        return "failed", reason or str((pod.get("status") or {}).get("reason") or node.phase)
    if node.ready:
        return "ready", ""
    if node.phase == "Running":
        return "starting", reason
    if not (pod.get("spec") or {}).get("nodeName"):
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") != "True":
                why = condition.get("reason") or "Unscheduled"
                return "pending", f"{why}: {condition.get('message') or ''}".rstrip(": ")
        return "pending", reason or "not scheduled to a node yet"
    return "starting", reason


def node_info(pod: Obj, now: dt.datetime | None = None) -> NodeInfo:
    """A Pod as a progress table row."""
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    state, reason = _state(pod)
    created = parse_time(meta.get("creationTimestamp"))
    now = now or dt.datetime.now(dt.UTC)
    status = pod.get("status") or {}
    extra = {
        "phase": status.get("phase") or "Pending",
        "podIP": status.get("podIP"),
        "nodeName": (pod.get("spec") or {}).get("nodeName"),
    }
    return NodeInfo(
        name=str(meta["name"]),
        group=str(labels.get(L.GROUP, "")),
        kind="head" if labels.get(L.NODE_TYPE) == L.HEAD else "worker",
        state=state,
        reason=reason,
        age_s=max(0.0, (now - created).total_seconds()) if created else 0.0,
        extra={k: v for k, v in extra.items() if v},
    )


def container_port(pod: Obj, port: PortName) -> int:
    """The head container's port named *port* (KubeRay's names), else KubeRay's default."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for entry in container.get("ports") or []:
            if entry.get("name") == port and entry.get("containerPort"):
                return int(entry["containerPort"])
    return int(DEFAULT_PORTS[port])


class KubeBackend:
    """A Kubernetes API server, as the kubeconfig's *context* (None: its current one).

    ``namespace`` is the context's namespace: where objects without one go.
    """

    name: Literal["local", "kubernetes"] = "kubernetes"

    def __init__(
        self,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        *,
        config: SingleConfig | None = None,
    ) -> None:
        try:
            self.config = config or load_kubeconfig(kubeconfig, context)
        except KubeconfigError as exc:
            raise BackendError(str(exc)) from exc
        self.namespace = self.config.namespace
        self.client = Client(
            self.config, field_manager=FIELD_MANAGER, timeout=httpx2.Timeout(TIMEOUT_S)
        )
        self._ws_client: httpx2.Client | None = None
        self._forwards: set[PortForward] = set()
        # reach() may be called from two threads (a job's dashboard, a Ray client).
        self._lock = threading.Lock()

    # -- objects ---------------------------------------------------------------------------

    def apply(self, obj: Obj) -> Applied:
        kind = _kind(str(obj.get("kind")))
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise BackendError(
                f"{kind}: metadata.name is required to apply on Kubernetes "
                "(generateName needs a create; give the object a name)"
            )
        ns = str(meta.get("namespace") or self.namespace)
        before = self.get(kind, ns, name)
        res = _RESOURCES[kind]
        try:
            applied = self.client.apply(
                res.from_dict(_applicable(obj, ns)), field_manager=FIELD_MANAGER, force=True
            )
        except (ApiError, httpx2.HTTPError) as exc:
            raise _error(exc, f"apply {kind} {ns}/{name}") from exc
        after = applied.to_dict()
        return Applied(after, verb_of(before, after))

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        kind = _kind(kind)
        try:
            found = self.client.get(_RESOURCES[kind], name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise _error(exc, f"get {kind} {namespace}/{name}") from exc
        except httpx2.HTTPError as exc:
            raise _error(exc, f"get {kind} {namespace}/{name}") from exc
        result: Obj = found.to_dict()
        return result

    def list(self, kind: str, namespace: str | None = None) -> builtins.list[Obj]:
        kind = _kind(kind)
        ns: Any = "*" if namespace is None else namespace
        try:
            return [o.to_dict() for o in self.client.list(_RESOURCES[kind], namespace=ns)]
        except (ApiError, httpx2.HTTPError) as exc:
            raise _error(exc, f"list {kind} in {namespace or 'all namespaces'}") from exc

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        kind = _kind(kind)
        try:
            self.client.delete(
                _RESOURCES[kind], name, namespace=namespace, cascade=CascadeType.BACKGROUND
            )
        except ApiError as exc:
            if exc.status.code == 404:
                return False
            raise _error(exc, f"delete {kind} {namespace}/{name}") from exc
        except httpx2.HTTPError as exc:
            raise _error(exc, f"delete {kind} {namespace}/{name}") from exc
        return True

    # -- the cluster's Pods ----------------------------------------------------------------

    def _pods(self, namespace: str, labels: dict[str, str]) -> builtins.list[Obj]:
        wanted: dict[str, Any] = dict(labels)
        try:
            pods = self.client.list(KINDS["Pod"], namespace=namespace, labels=wanted)
            return [p.to_dict() for p in pods]
        except (ApiError, httpx2.HTTPError) as exc:
            selector = ",".join(f"{k}={v}" for k, v in labels.items())
            raise _error(exc, f"list Pods {selector} in {namespace}") from exc

    def nodes(self, obj: Obj) -> builtins.list[NodeInfo]:
        cluster = cluster_name(obj)
        if cluster is None:
            return []
        ns = str(obj["metadata"].get("namespace") or self.namespace)
        now = dt.datetime.now(dt.UTC)
        rows = [node_info(p, now) for p in self._pods(ns, {L.CLUSTER: cluster})]
        return sorted(rows, key=lambda n: (n.kind != "head", n.group, n.name))

    def head_pod(self, obj: Obj) -> Obj:
        """The head Pod of the cluster behind *obj* (a live one, Running first)."""
        ns = str(obj["metadata"].get("namespace") or self.namespace)
        what = f"{obj.get('kind')} {ns}/{obj['metadata'].get('name')}"
        cluster = cluster_name(obj)
        if cluster is None:
            raise BackendError(f"{what} has no RayCluster yet (is it still initializing?)")
        selector = {L.CLUSTER: cluster, L.NODE_TYPE: L.HEAD}
        pods = [p for p in self._pods(ns, selector) if not p["metadata"].get("deletionTimestamp")]
        if not pods:
            raise BackendError(
                f"{what}: no head Pod with labels ray.io/cluster={cluster},"
                f"ray.io/node-type=head in namespace {ns} (is the operator running?)"
            )
        pods.sort(key=lambda p: (p.get("status") or {}).get("phase") != "Running")
        return pods[0]

    # -- reaching the head -----------------------------------------------------------------

    def reach(self, obj: Obj, port: PortName) -> AbstractContextManager[str]:
        return self._reach(obj, port)

    def _websocket_client(self) -> httpx2.Client:
        with self._lock:
            if self._ws_client is None:
                # HTTP/1.1 (a WebSocket upgrade), with the kubeconfig's TLS and credentials.
                params = ConnectionParams(timeout=httpx2.Timeout(TIMEOUT_S), http2=False)
                self._ws_client = http_client(self.config, params)
            return self._ws_client

    def port_forward(self, pod: Obj, number: int) -> PortForward:
        """A (not yet started) port-forward to *number* on *pod*."""
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/portforward"
        client = self._websocket_client()
        return PortForward(lambda: open_channel(client, path, number))

    @contextmanager
    def _reach(self, obj: Obj, port: PortName) -> Iterator[str]:
        pod = self.head_pod(obj)
        number = container_port(pod, port)
        forward = self.port_forward(pod, number)
        meta = pod["metadata"]
        try:
            address = forward.start()
        except PortForwardError as exc:
            raise BackendError(_forward_refusal(meta, port, number, exc), exc.status) from exc
        with self._lock:
            self._forwards.add(forward)
        try:
            yield address
        finally:
            forward.close()
            with self._lock:
                self._forwards.discard(forward)

    def close(self) -> None:
        with self._lock:
            forwards = builtins.list(self._forwards)
            self._forwards.clear()
        for forward in forwards:
            forward.close()
        if self._ws_client is not None:
            self._ws_client.close()
            self._ws_client = None
        self.client.close()


def _forward_refusal(meta: Obj, port: str, number: int, exc: PortForwardError) -> str:
    """Why the head's port cannot be forwarded, with what it means for the user."""
    text = (
        f"cannot port-forward to {port} (port {number}) of Pod "
        f"{meta['namespace']}/{meta['name']}: {exc}"
    )
    if "does not have a host assigned" in str(exc):
        text += (
            ". The Pod is not running on any node (not scheduled yet, or no kubelet runs "
            "it), so there is nothing to forward to; wait until it is Running"
        )
    elif exc.status == 403:
        text += (
            ". Forbidden: your user needs RBAC 'create' on pods/portforward in this "
            "namespace, or a proxy between the API server and the node refused it"
        )
    elif exc.status in (0, 500, 502, 503):
        text += ". The API server could not reach the kubelet of the Pod's node"
    return text


def _conforms(backend: KubeBackend) -> Backend:
    """mypy checks here that KubeBackend is a Backend (the protocol is structural)."""
    return backend


__all__ = ["KubeBackend", "cluster_name", "container_port", "node_info"]
