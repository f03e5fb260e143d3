"""An in-process fake of the Kubernetes API server, over real HTTP (optionally HTTPS).

No API server can run on the machines this project is built on, so the operator (kopf's
watches and webhook, lightkube's requests) and the stock Ray autoscaler's KubeRay node
provider are tested against this instead. It models what they rely on:

* discovery (``/api``, ``/apis``, resource lists), so kopf finds the resources;
* ``metadata.resourceVersion`` from one global counter, and **409 Conflict** when a write
  names a stale one (PUT, merge patch, status writes), or creates an existing name;
* ``generateName``, uids, ``creationTimestamp``, ``generation`` bumped on spec changes;
* the **status subresource**: status sent to the main resource is ignored, and
  ``/status`` writes change nothing but status (CRDs with ``subresources.status``, Pods,
  Services, Jobs);
* **label selectors** (equality and set based) and simple field selectors on list/watch;
* **list + watch**: ``ADDED``/``MODIFIED``/``DELETED`` events, resumable from a
  resourceVersion (410 Gone once it is too old), ``timeoutSeconds``;
* **finalizers and deletionTimestamp**: a delete only marks an object that has finalizers;
  it disappears when the last finalizer is removed;
* **ownerReference garbage collection**: deleting an object deletes its dependents
  (background propagation; ``Orphan`` strips the references instead);
* **JSON patch** (RFC 6902, ``test`` included), **merge patch** (RFC 7386; strategic merge
  is treated as a merge patch) and server-side apply (as a merge, creating if missing).

There is no kubelet, scheduler or controller manager: tests move Pods to Running/Ready
(:meth:`FakeKubernetes.set_pod_phase`) and finish Jobs (:meth:`FakeKubernetes.finish_job`)
themselves, or pass ``auto_ready_pods`` to have every new Pod become Ready after a delay.
:meth:`FakeKubernetes.inject` makes chosen requests fail (e.g. one 409 on a status write).
No admission, no schema validation or pruning, no RBAC: a token, when set, must only match.

Run it standalone with ``python -m rayplane.kubernetes.testing --port 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import datetime as dt
import ipaddress
import itertools
import json
import re
import secrets
import ssl
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import jsonpatch
import yaml
from aiohttp import web

from rayplane.errors import RayplaneError

Obj = dict[str, Any]
P = ParamSpec("P")
T = TypeVar("T")


def _threadsafe(method: Callable[P, T]) -> Callable[P, T]:
    """Run a direct-access method on the fake's own loop when it runs in a thread."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        self = args[0]
        assert isinstance(self, FakeKubernetes)
        loop = self._thread_loop
        if loop is None or threading.current_thread() is self._thread:
            return method(*args, **kwargs)
        done: dict[str, Any] = {}
        ready = threading.Event()

        def call() -> None:
            try:
                done["value"] = method(*args, **kwargs)
            except BaseException as exc:
                done["error"] = exc
            finally:
                ready.set()

        loop.call_soon_threadsafe(call)
        ready.wait()
        if "error" in done:
            raise done["error"]
        value: T = done["value"]
        return value

    return wrapper


JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class ResourceType:
    """One kind the fake serves: where it lives in the API and how it behaves."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}"


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "pods", "Pod", status_subresource=True),
    ResourceType("", "v1", "services", "Service", status_subresource=True),
    ResourceType("", "v1", "events", "Event"),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount"),
    ResourceType("", "v1", "secrets", "Secret"),
    ResourceType("", "v1", "configmaps", "ConfigMap"),
    ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, True),
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, status_subresource=True),
    ResourceType("batch", "v1", "jobs", "Job", status_subresource=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceType("events.k8s.io", "v1", "events", "Event"),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", status_subresource=True),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    ResourceType("ray.io", "v1", "rayclusters", "RayCluster", status_subresource=True),
    ResourceType("ray.io", "v1", "rayjobs", "RayJob", status_subresource=True),
    ResourceType("ray.io", "v1", "rayservices", "RayService", status_subresource=True),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        status_subresource=True,
    ),
)

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class ApiError(RayplaneError):
    """An error answered as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def status(self) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


@dataclass
class Injected:
    """A planned failure: the next *times* requests matching it get *code* back."""

    method: str
    plural: str
    subresource: str | None = None
    name: str | None = None
    code: int = 409
    times: int = 1
    hits: int = 0

    def matches(self, method: str, plural: str, sub: str | None, name: str | None) -> bool:
        return (
            self.times > 0
            and self.method == method
            and self.plural == plural
            and self.subresource == sub
            and (self.name is None or self.name == name)
        )


@dataclass(frozen=True)
class Recorded:
    """One request the fake answered (for assertions on what a client sent)."""

    method: str
    path: str
    query: Mapping[str, str]
    content_type: str
    body: Any
    status: int


@dataclass
class _Watcher:
    rtype: ResourceType
    namespace: str | None
    selector: Callable[[Obj], bool]
    queue: asyncio.Queue[Obj | None] = field(default_factory=asyncio.Queue)


# -- selectors ----------------------------------------------------------------------------------

_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


def label_selector(text: str | None) -> Callable[[Mapping[str, str]], bool]:
    """A predicate over a label map for a Kubernetes label selector string."""
    terms: list[tuple[str, str, frozenset[str]]] = []  # (operator, key, values)
    for term in _split_terms(text or ""):
        match = _SET_TERM.match(term)
        if match:
            values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
            terms.append((match.group(2), match.group(1), values))
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            terms.append(("notin", key, frozenset({value})))
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
            terms.append(("in", key, frozenset({value})))
        elif term.startswith("!"):
            terms.append(("absent", term[1:].strip(), frozenset()))
        else:
            terms.append(("exists", term, frozenset()))

    def matches(labels: Mapping[str, str]) -> bool:
        for op, key, values in terms:
            found = labels.get(key)
            if op == "in" and found not in values:
                return False
            if op == "notin" and found in values:
                return False
            if op == "exists" and key not in labels:
                return False
            if op == "absent" and key in labels:
                return False
        return True

    return matches


def field_selector(text: str | None) -> Callable[[Obj], bool]:
    """``metadata.name``/``metadata.namespace`` (and any dotted path) with = / == / !=."""
    checks: list[Callable[[Obj], bool]] = []
    for term in _split_terms(text or ""):
        negate = "!=" in term
        path, value = (p.strip() for p in re.split(r"!=|==|=", term, maxsplit=1))

        def check(obj: Obj, path: str = path, value: str = value, negate: bool = negate) -> bool:
            current: Any = obj
            for part in path.split("."):
                current = current.get(part) if isinstance(current, dict) else None
            found = "" if current is None else str(current)
            return (found != value) if negate else (found == value)

        checks.append(check)
    return lambda obj: all(check(obj) for check in checks)


# -- patches ------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _lenient(operations: list[Any], doc: Obj) -> list[Any]:
    """Kubernetes' JSON patch (evanphx/json-patch v4) lets ``replace`` set a missing object
    member; RFC 6902 does not. The Ray autoscaler relies on it (it replaces
    ``scaleStrategy`` whether or not the group has one), so do as Kubernetes does."""
    result = []
    for op in operations:
        if isinstance(op, dict) and op.get("op") == "replace" and isinstance(op.get("path"), str):
            parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
            parent: Any = doc
            for part in parts[:-1]:
                if isinstance(parent, dict):
                    parent = parent.get(part)
                elif isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
                    parent = parent[int(part)]
                else:
                    parent = None
            if isinstance(parent, dict) and parts and parts[-1] not in parent:
                op = {**op, "op": "add"}
        result.append(op)
    return result


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the fake -------------------------------------------------------------------------------------


class FakeKubernetes:
    """The fake API server. ``async with FakeKubernetes() as kube: kube.url ...``.

    *tls* serves HTTPS with a self-signed certificate for 127.0.0.1/localhost
    (:attr:`ca_file` verifies it); *token* makes every request need
    ``Authorization: Bearer <token>``. *auto_ready_pods* (seconds) plays the kubelet: each
    new Pod becomes Running and Ready that long after it is created. *history* is how many
    events a watch can resume from before it gets 410 Gone.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        token: str | None = None,
        auto_ready_pods: float | None = None,
        history: int = 200_000,
        record: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.token = token
        self.auto_ready_pods = auto_ready_pods
        self.record = record
        self.types = {(t.group, t.version, t.plural): t for t in RESOURCES}
        self._store: dict[str, dict[tuple[str, str], Obj]] = {t.key: {} for t in RESOURCES}
        self._rv = 0
        self._history: deque[tuple[int, str, str, Obj]] = deque(maxlen=history)
        self._watchers: list[_Watcher] = []
        self._injected: list[Injected] = []
        self._ips = itertools.count(2)
        self._timers: set[asyncio.TimerHandle] = set()
        self.requests: list[Recorded] = []
        self._runner: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: Path | None = None
        self._stopping = asyncio.Event()
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> FakeKubernetes:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        context = self._ssl_context() if self.tls else None
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopping.set()
        for timer in self._timers:
            timer.cancel()
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> FakeKubernetes:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> FakeKubernetes:
        """Serve from a thread with its own event loop (what tests of a client that shares
        the caller's loop, like kopf, which waits for every task of its loop on exit, or of a
        blocking client, like the Ray autoscaler's, need). Direct-access methods then run on
        that loop and are safe to call from any thread."""
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            asyncio.set_event_loop(loop)
            self._stopping = asyncio.Event()
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-kubernetes", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def stop_thread(self) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread_loop = None
        self._thread = None

    def _ssl_context(self) -> ssl.SSLContext:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = dt.datetime.now(dt.UTC)
        alt = x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(self.host))]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(alt, critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-kube-")
        folder = Path(self._tmp.name)
        self.ca_file = folder / "ca.crt"
        key_file = folder / "tls.key"
        self.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_file, key_file)
        return context

    # -- direct access for tests ----------------------------------------------------------------

    def rtype(self, plural: str, group: str | None = None) -> ResourceType:
        for rtype in RESOURCES:
            if rtype.plural == plural and (group is None or rtype.group == group):
                return rtype
        raise KeyError(plural)

    @_threadsafe
    def objects(
        self,
        plural: str,
        namespace: str | None = None,
        labels: str | None = None,
        group: str | None = None,
    ) -> list[Obj]:
        """Copies of the stored objects of *plural* (in *namespace*, matching *labels*)."""
        rtype = self.rtype(plural, group)
        matches = label_selector(labels)
        found = [
            copy.deepcopy(obj)
            for (ns, _), obj in self._store[rtype.key].items()
            if (namespace is None or ns == namespace)
            and matches(obj["metadata"].get("labels") or {})
        ]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace", ""), _name(o)))

    @_threadsafe
    def get(self, plural: str, namespace: str, name: str, group: str | None = None) -> Obj | None:
        obj = self._store[self.rtype(plural, group).key].get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    @_threadsafe
    def create(self, obj: Obj, namespace: str | None = None) -> Obj:
        """Create *obj* as a client's POST would (validation of the envelope only)."""
        rtype = self._type_of(obj)
        ns = namespace or obj.get("metadata", {}).get("namespace") or "default"
        return copy.deepcopy(self._create(rtype, ns if rtype.namespaced else "", obj))

    @_threadsafe
    def delete(self, plural: str, namespace: str, name: str, group: str | None = None) -> None:
        self._delete(self.rtype(plural, group), namespace, name, "Background")

    @_threadsafe
    def patch_status(
        self, plural: str, namespace: str, name: str, status: Obj, group: str | None = None
    ) -> Obj:
        """Merge *status* into the object's status (what a kubelet or controller reports)."""
        rtype = self.rtype(plural, group)
        current = self._require(rtype, namespace, name)
        updated = copy.deepcopy(current)
        updated["status"] = merge_patch(current.get("status") or {}, status)
        return copy.deepcopy(self._update(rtype, namespace, name, updated, status_only=True))

    @_threadsafe
    def set_pod_phase(
        self, namespace: str, name: str, phase: str = "Running", ready: bool = True
    ) -> Obj:
        """Play the kubelet: *phase*, an IP, the Ready condition and container statuses."""
        pod = self._require(self.rtype("pods"), namespace, name)
        ip = (pod.get("status") or {}).get("podIP") or self._next_ip("10.244")
        flag = "True" if ready else "False"
        now = _now()
        statuses = []
        for container in (pod.get("spec") or {}).get("containers") or []:
            state: Obj = (
                {"running": {"startedAt": now}}
                if phase == "Running"
                else {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1}}
            )
            statuses.append(
                {
                    "name": container.get("name"),
                    "ready": ready,
                    "restartCount": 0,
                    "image": container.get("image", ""),
                    "imageID": "",
                    "state": state,
                }
            )
        status = {
            "phase": phase,
            "podIP": ip,
            "hostIP": "10.0.0.1",
            "startTime": now,
            "conditions": [
                {"type": "Ready", "status": flag, "lastTransitionTime": now},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            ],
            "containerStatuses": statuses,
        }
        return self.patch_status("pods", namespace, name, status)

    @_threadsafe
    def ready_pods(self, namespace: str | None = None, labels: str | None = None) -> list[str]:
        """Every matching Pod not yet Ready becomes Running and Ready; their names."""
        names = []
        for pod in self.objects("pods", namespace, labels):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") or _pod_ready(pod):
                continue
            self.set_pod_phase(meta["namespace"], meta["name"])
            names.append(meta["name"])
        return names

    @_threadsafe
    def finish_job(self, namespace: str, name: str, succeeded: bool = True) -> Obj:
        """Mark a batch Job Complete (or Failed), as the Job controller would."""
        now = _now()
        kind = "Complete" if succeeded else "Failed"
        status: Obj = {
            "conditions": [{"type": kind, "status": "True", "lastTransitionTime": now}],
            "completionTime" if succeeded else "failed": now if succeeded else 1,
            "startTime": now,
        }
        if succeeded:
            status["succeeded"] = 1
        return self.patch_status("jobs", namespace, name, status, group="batch")

    @_threadsafe
    def inject(
        self,
        method: str,
        plural: str,
        *,
        subresource: str | None = None,
        name: str | None = None,
        code: int = 409,
        times: int = 1,
    ) -> Injected:
        """Make the next *times* matching requests fail with *code* (409 by default)."""
        planned = Injected(method.upper(), plural, subresource, name, code, times)
        self._injected.append(planned)
        return planned

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02
    ) -> Any:
        """Poll *predicate* until it returns something truthy; TimeoutError after *timeout*.

        The default bound is generous on purpose: it only ends a wait for something that is
        not going to happen, and must not fail a test on a slow or busy machine.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)

    # -- storage --------------------------------------------------------------------------------

    def _type_of(self, obj: Obj) -> ResourceType:
        api_version = str(obj.get("apiVersion", ""))
        kind = obj.get("kind")
        for rtype in RESOURCES:
            if rtype.api_version == api_version and rtype.kind == kind:
                return rtype
        raise ApiError(400, "BadRequest", f"unknown kind {api_version}/{kind}")

    def _require(self, rtype: ResourceType, ns: str, name: str) -> Obj:
        obj = self._store[rtype.key].get((ns, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{rtype.plural} "{name}" not found')
        return obj

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _next_ip(self, prefix: str) -> str:
        n = next(self._ips)
        return f"{prefix}.{(n // 250) % 250}.{n % 250 + 1}"

    def _emit(self, rtype: ResourceType, kind: str, obj: Obj) -> None:
        snapshot = copy.deepcopy(obj)
        self._history.append((self._rv, rtype.key, kind, snapshot))
        ns = obj["metadata"].get("namespace")
        for watcher in self._watchers:
            if watcher.rtype.key != rtype.key:
                continue
            if watcher.namespace is not None and watcher.namespace != ns:
                continue
            if watcher.selector(snapshot):
                watcher.queue.put_nowait({"type": kind, "object": snapshot})

    def _create(self, rtype: ResourceType, ns: str, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be an object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if rtype.namespaced:
            if meta.get("namespace") not in (None, "", ns):
                raise ApiError(
                    400, "BadRequest", "the namespace of the object does not match the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        name = meta.get("name")
        if not name:
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError(422, "Invalid", "metadata.name or generateName is required")
            for _ in range(100):
                name = prefix + "".join(
                    secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)
                )
                if (ns, name) not in self._store[rtype.key]:
                    break
            meta["name"] = name
        name = str(name)
        if (ns, name) in self._store[rtype.key]:
            raise ApiError(409, "AlreadyExists", f'{rtype.plural} "{name}" already exists')
        obj["apiVersion"] = rtype.api_version
        obj["kind"] = rtype.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        if rtype.status_subresource:
            obj.pop("status", None)
        if rtype.kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": "Burstable"}
        elif rtype.kind == "Service":
            spec = obj.setdefault("spec", {})
            if not spec.get("clusterIP"):
                spec["clusterIP"] = self._next_ip("10.96")
            spec.setdefault("type", "ClusterIP")
            obj["status"] = {"loadBalancer": {}}
        meta["resourceVersion"] = self._next_rv()
        self._store[rtype.key][(ns, name)] = obj
        self._emit(rtype, "ADDED", obj)
        if rtype.kind == "Pod" and self.auto_ready_pods is not None:
            self._later(self.auto_ready_pods, lambda: self._auto_ready(ns, name))
        return obj

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            self._timers.discard(handle)
            action()

        handle = loop.call_later(delay, run)
        self._timers.add(handle)

    def _auto_ready(self, ns: str, name: str) -> None:
        pod = self._store["/pods"].get((ns, name))
        if pod is not None and not pod["metadata"].get("deletionTimestamp"):
            self.set_pod_phase(ns, name)

    def _update(
        self,
        rtype: ResourceType,
        ns: str,
        name: str,
        body: Any,
        *,
        status_only: bool = False,
        check_rv: bool = True,
    ) -> Obj:
        current = self._require(rtype, ns, name)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be an object")
        given_rv = (body.get("metadata") or {}).get("resourceVersion")
        if check_rv and given_rv and given_rv != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rtype.plural} "{name}": the object has '
                "been modified; please apply your changes to the latest version and try again",
            )
        old_meta = current["metadata"]
        if status_only:
            updated = copy.deepcopy(current)
            if "status" in body:
                updated["status"] = copy.deepcopy(body["status"])
            else:
                updated.pop("status", None)
        else:
            updated = copy.deepcopy(body)
            updated["apiVersion"] = rtype.api_version
            updated["kind"] = rtype.kind
            meta = updated.setdefault("metadata", {})
            for key in ("uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if rtype.status_subresource:
                if "status" in current:
                    updated["status"] = copy.deepcopy(current["status"])
                else:
                    updated.pop("status", None)
            if old_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
                if added:
                    raise ApiError(
                        422, "Invalid", "no new finalizers can be added if the object is deleted"
                    )
            if _content(updated) != _content(current):
                meta["generation"] = int(old_meta.get("generation") or 1) + 1
            else:
                meta["generation"] = old_meta.get("generation", 1)
        if _same(updated, current):
            return current  # a no-op write: Kubernetes keeps the resourceVersion
        updated["metadata"]["resourceVersion"] = self._next_rv()
        self._store[rtype.key][(ns, name)] = updated
        if updated["metadata"].get("deletionTimestamp") and not updated["metadata"].get(
            "finalizers"
        ):
            self._remove(rtype, ns, name, "Background")
            return updated
        self._emit(rtype, "MODIFIED", updated)
        return updated

    def _patch(
        self,
        rtype: ResourceType,
        ns: str,
        name: str,
        content_type: str,
        body: Any,
        *,
        status_only: bool,
    ) -> Obj:
        kind = content_type.split(";")[0].strip()
        if kind == APPLY_PATCH and (ns, name) not in self._store[rtype.key]:
            if status_only:
                raise ApiError(404, "NotFound", f'{rtype.plural} "{name}" not found')
            return self._create(rtype, ns, body)
        current = self._require(rtype, ns, name)
        if kind == JSON_PATCH:
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
            try:
                patched = jsonpatch.JsonPatch(_lenient(body, current)).apply(copy.deepcopy(current))
            except jsonpatch.JsonPatchTestFailed as exc:
                raise ApiError(422, "Invalid", f"the JSON patch test failed: {exc}") from exc
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiError(422, "Invalid", f"the JSON patch failed: {exc}") from exc
            check_rv = False
        elif kind in (MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH):
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "a merge patch must be an object")
            given = (body.get("metadata") or {}).get("resourceVersion")
            if given and given != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409, "Conflict", f'Operation cannot be fulfilled on {rtype.plural} "{name}"'
                )
            if kind == APPLY_PATCH:
                body = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
            patched = merge_patch(current, body)
            check_rv = False
        else:
            raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {content_type}")
        return self._update(rtype, ns, name, patched, status_only=status_only, check_rv=check_rv)

    def _delete(self, rtype: ResourceType, ns: str, name: str, propagation: str) -> Obj:
        current = self._require(rtype, ns, name)
        meta = current["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                updated = copy.deepcopy(current)
                updated["metadata"]["deletionTimestamp"] = _now()
                updated["metadata"]["deletionGracePeriodSeconds"] = 0
                updated["metadata"]["resourceVersion"] = self._next_rv()
                self._store[rtype.key][(ns, name)] = updated
                self._emit(rtype, "MODIFIED", updated)
                return updated
            return current
        return self._remove(rtype, ns, name, propagation)

    def _remove(self, rtype: ResourceType, ns: str, name: str, propagation: str) -> Obj:
        obj = self._store[rtype.key].pop((ns, name))
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(rtype, "DELETED", obj)
        self._collect_garbage(obj["metadata"]["uid"], ns, propagation)
        return obj

    def _collect_garbage(self, uid: str, ns: str, propagation: str) -> None:
        """Delete (or orphan) every object whose ownerReferences name *uid*."""
        for rtype in RESOURCES:
            for (obj_ns, obj_name), obj in list(self._store[rtype.key].items()):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(ref.get("uid") == uid for ref in refs):
                    continue
                if rtype.namespaced and obj_ns != ns:
                    continue
                if propagation == "Orphan":
                    updated = copy.deepcopy(obj)
                    updated["metadata"]["ownerReferences"] = [
                        r for r in refs if r.get("uid") != uid
                    ]
                    self._update(rtype, obj_ns, obj_name, updated, check_rv=False)
                elif (obj_ns, obj_name) in self._store[rtype.key]:
                    self._delete(rtype, obj_ns, obj_name, "Background")

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body: Any = None
        content_type = request.headers.get("Content-Type", "")
        status = 200
        try:
            if self.token is not None and (
                request.headers.get("Authorization") != f"Bearer {self.token}"
            ):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if request.can_read_body:
                text = await request.text()
                if text:
                    try:
                        body = (
                            yaml.safe_load(text)
                            if content_type.startswith(APPLY_PATCH)
                            else json.loads(text)
                        )
                    except (ValueError, yaml.YAMLError) as exc:
                        raise ApiError(400, "BadRequest", f"cannot parse the body: {exc}") from exc
            response = await self._route(request, body)
            status = response.status
            return response
        except ApiError as exc:
            status = exc.code
            return _json(exc.status(), status=exc.code)
        finally:
            if self.record:
                self.requests.append(
                    Recorded(
                        request.method,
                        request.path,
                        dict(request.query),
                        content_type,
                        body,
                        status,
                    )
                )

    async def _route(self, request: web.Request, body: Any) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        if parts in (["version"], ["readyz"], ["livez"], ["healthz"]):
            return _json({"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake"})
        if parts == ["api"]:
            return _json({"kind": "APIVersions", "versions": ["v1"]})
        if parts == ["apis"]:
            return _json(self._group_list())
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", f"the server could not find {request.path}")
        if not rest:
            return _json(self._resource_list(group, version))

        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and (group, version, rest[2]) in self.types:
            ns, rest = rest[1], rest[2:]
        rtype = self.types.get((group, version, rest[0]))
        if rtype is None or len(rest) > 3:
            raise ApiError(404, "NotFound", f"the server could not find {request.path}")
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and (sub != "status" or not rtype.status_subresource):
            raise ApiError(404, "NotFound", f"no subresource {sub} for {rtype.plural}")
        if not rtype.namespaced:
            ns = ""
        for planned in self._injected:
            if planned.matches(method, rtype.plural, sub, name):
                planned.times -= 1
                planned.hits += 1
                reason = {409: "Conflict", 404: "NotFound", 500: "InternalError"}.get(
                    planned.code, "Injected"
                )
                raise ApiError(planned.code, reason, f"injected {planned.code} for a test")

        if name is None:
            if method == "GET":
                query = request.query
                if query.get("watch") in ("true", "1"):
                    return await self._watch(request, rtype, ns)
                return _json(self._list(rtype, ns, query))
            if method == "POST":
                if ns is None:
                    raise ApiError(405, "MethodNotAllowed", "create needs a namespace")
                created = self._create(rtype, ns, body)
                return _json(created, status=201)
            if method == "DELETE":
                for obj in self._list(rtype, ns, request.query)["items"]:
                    meta = obj["metadata"]
                    self._delete(rtype, meta.get("namespace", ""), meta["name"], "Background")
                return _json({"kind": "Status", "status": "Success"})
            raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")

        if ns is None:
            raise ApiError(404, "NotFound", f"{rtype.plural} is namespaced")
        status_only = sub == "status"
        if method == "GET":
            return _json(self._require(rtype, ns, name))
        if method == "PUT":
            if (ns, name) not in self._store[rtype.key] and not status_only:
                return _json(self._create(rtype, ns, body), status=201)
            return _json(self._update(rtype, ns, name, body, status_only=status_only))
        if method == "PATCH":
            ctype = request.headers.get("Content-Type", MERGE_PATCH)
            patched = self._patch(rtype, ns, name, ctype, body, status_only=status_only)
            return _json(patched)
        if method == "DELETE":
            propagation = request.query.get("propagationPolicy") or "Background"
            if isinstance(body, dict) and body.get("propagationPolicy"):
                propagation = str(body["propagationPolicy"])
            preconditions = body.get("preconditions") if isinstance(body, dict) else None
            if isinstance(preconditions, dict):
                current = self._require(rtype, ns, name)["metadata"]
                for key in ("uid", "resourceVersion"):
                    if preconditions.get(key) and preconditions[key] != current.get(key):
                        raise ApiError(409, "Conflict", f"precondition failed: {key}")
            return _json(self._delete(rtype, ns, name, propagation))
        raise ApiError(405, "MethodNotAllowed", method)

    def _group_list(self) -> Obj:
        groups: dict[str, list[str]] = {}
        for rtype in RESOURCES:
            if rtype.group:
                groups.setdefault(rtype.group, [])
                if rtype.version not in groups[rtype.group]:
                    groups[rtype.group].append(rtype.version)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": group,
                    "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                    "preferredVersion": {
                        "groupVersion": f"{group}/{versions[0]}",
                        "version": versions[0],
                    },
                }
                for group, versions in groups.items()
            ],
        }

    def _resource_list(self, group: str, version: str) -> Obj:
        resources: list[Obj] = []
        for rtype in RESOURCES:
            if rtype.group != group or rtype.version != version:
                continue
            resources.append(
                {
                    "name": rtype.plural,
                    "singularName": rtype.kind.lower(),
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": _VERBS,
                }
            )
            if rtype.status_subresource:
                resources.append(
                    {
                        "name": f"{rtype.plural}/status",
                        "singularName": "",
                        "namespaced": rtype.namespaced,
                        "kind": rtype.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        if not resources:
            raise ApiError(404, "NotFound", f"no API {group}/{version}")
        group_version = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}

    def _matcher(self, query: Mapping[str, str]) -> Callable[[Obj], bool]:
        labels = label_selector(query.get("labelSelector"))
        fields = field_selector(query.get("fieldSelector"))
        return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)

    def _list(self, rtype: ResourceType, ns: str | None, query: Mapping[str, str]) -> Obj:
        matches = self._matcher(query)
        items = [
            obj
            for (obj_ns, _), obj in self._store[rtype.key].items()
            if (ns is None or ns == "" or obj_ns == ns) and matches(obj)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), _name(o)))
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    async def _watch(
        self, request: web.Request, rtype: ResourceType, ns: str | None
    ) -> web.StreamResponse:
        query = request.query
        since = query.get("resourceVersion") or ""
        timeout = float(query.get("timeoutSeconds") or 1800)
        matches = self._matcher(query)
        watcher = _Watcher(rtype, ns or None, matches)
        initial: list[Obj] = []
        if since in ("", "0"):
            for (obj_ns, _), obj in self._store[rtype.key].items():
                if (not ns or obj_ns == ns) and matches(obj):
                    initial.append({"type": "ADDED", "object": copy.deepcopy(obj)})
        else:
            start = int(since)
            oldest = self._history[0][0] if self._history else self._rv + 1
            if start < oldest - 1 and start < self._rv:
                gone = ApiError(410, "Expired", f"too old resource version: {start}")
                initial.append({"type": "ERROR", "object": gone.status()})
            else:
                for rv, key, kind, obj in self._history:
                    if rv <= start or key != rtype.key:
                        continue
                    if ns and obj["metadata"].get("namespace") != ns:
                        continue
                    if matches(obj):
                        initial.append({"type": kind, "object": obj})
        self._watchers.append(watcher)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            await response.prepare(request)
            for event in initial:
                await response.write(json.dumps(event).encode() + b"\n")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not self._stopping.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    change = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    break
                if change is None:
                    break
                await response.write(json.dumps(change).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._watchers.remove(watcher)
        return response


def _json(obj: Any, status: int = 200) -> web.Response:
    """A JSON answer with exactly ``Content-Type: application/json``, as the API server sends
    (lightkube only turns error bodies into ApiError with that exact header)."""
    return web.Response(
        body=json.dumps(obj).encode(), status=status, content_type="application/json"
    )


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _content(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _same(a: Obj, b: Obj) -> bool:
    def strip(obj: Obj) -> Obj:
        out = dict(obj)
        out["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        return out

    return strip(a) == strip(b)


def _pod_ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def seed(kube: FakeKubernetes, documents: Iterable[Obj], namespace: str = "default") -> list[Obj]:
    """Create every document in *kube* (what ``kubectl apply -f`` would do on an empty API)."""
    return [kube.create(doc, namespace) for doc in documents]


async def _serve(args: argparse.Namespace) -> None:
    kube = FakeKubernetes(
        host=args.host,
        port=args.port,
        tls=args.tls,
        token=args.token,
        auto_ready_pods=args.auto_ready_pods,
        record=False,
        history=args.history,
    )
    await kube.start()
    line = kube.url if not kube.ca_file else f"{kube.url} {kube.ca_file}"
    if args.port_file:
        Path(args.port_file).write_text(line + "\n")
    print(line, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await kube.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An in-process fake Kubernetes API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--token")
    parser.add_argument("--auto-ready-pods", type=float, default=None)
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--port-file")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
