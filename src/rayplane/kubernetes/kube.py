"""The operator's port to the API server: JSON-shaped dicts in and out, over lightkube.

The builders produce plain manifests and the reconcilers read plain observations, so the
operator talks to Kubernetes in dicts too. :class:`Kube` maps a manifest's kind to a
lightkube generic resource class (for built-in kinds too, see ``KINDS``), and turns
lightkube's and httpx's errors into one :class:`KubeError` with the HTTP code.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.core.resource import NamespacedResource
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import PatchType

from rayplane.errors import RayplaneError

Obj = dict[str, Any]
log = logging.getLogger(__name__)

# Every kind as a lightkube *generic* resource, built-in kinds included: the operator works
# in plain dicts, and lightkube's typed models would turn each Pod into a tree of
# dataclasses and back on every call (most of the operator's CPU at scale, measured by
# bench/operator_vs_kuberay.py), and write a whole-second MicroTime without the fraction
# the API server requires.
_KIND_TABLE = (
    ("", "v1", "Pod", "pods"),
    ("", "v1", "Service", "services"),
    ("", "v1", "ServiceAccount", "serviceaccounts"),
    ("", "v1", "Secret", "secrets"),
    ("", "v1", "Event", "events"),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("batch", "v1", "Job", "jobs"),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    ("coordination.k8s.io", "v1", "Lease", "leases"),
    ("networking.k8s.io", "v1", "Ingress", "ingresses"),
    ("ray.io", "v1", "RayCluster", "rayclusters"),
    ("ray.io", "v1", "RayJob", "rayjobs"),
    ("ray.io", "v1", "RayService", "rayservices"),
    ("ray.io", "v1", "RayCronJob", "raycronjobs"),
    # NewClusterWithIncrementalUpgrade's routing (Gateway API CRDs must be installed)
    ("gateway.networking.k8s.io", "v1", "Gateway", "gateways"),
    ("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
)
KINDS: dict[str, Any] = {
    kind: create_namespaced_resource(group, version, kind, plural)
    for group, version, kind, plural in _KIND_TABLE
}
RayClusterResource = KINDS["RayCluster"]
RayJobResource = KINDS["RayJob"]
RayServiceResource = KINDS["RayService"]


class KubeError(RayplaneError):
    """A failed API call; ``code`` is the HTTP status (None: no answer at all)."""

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason

    @property
    def not_found(self) -> bool:
        return self.code == 404

    @property
    def conflict(self) -> bool:
        return self.code == 409

    @property
    def already_exists(self) -> bool:
        return self.code == 409 and self.reason == "AlreadyExists"


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to log in; None fields mean "from the environment"."""

    server: str | None = None
    token: str | None = None
    ca_file: Path | None = None
    insecure: bool = False

    def kubeconfig(self) -> KubeConfig:
        if self.server is None:
            return KubeConfig.from_env()
        cluster = Cluster(
            server=self.server,
            certificate_auth=str(self.ca_file) if self.ca_file else None,
            insecure=self.insecure,
        )
        return KubeConfig.from_one(cluster=cluster, user=User(token=self.token or "unused"))


def _error(exc: Exception, what: str) -> KubeError:
    if isinstance(exc, ApiError):
        status = exc.status
        return KubeError(f"{what}: {status.message}", status.code, status.reason or "")
    if isinstance(exc, httpx2.HTTPStatusError):
        return KubeError(f"{what}: HTTP {exc.response.status_code}", exc.response.status_code)
    return KubeError(f"{what}: {type(exc).__name__}: {exc}")


def _dict(obj: Any) -> Obj:
    result = obj.to_dict()
    assert isinstance(result, dict)
    return result


def micro_time(moment: dt.datetime | None = None) -> str:
    """A Kubernetes MicroTime (Leases, events.k8s.io): RFC 3339 with microseconds.

    The API server refuses one without the fraction; the generic resources in ``KINDS``
    send this string as it is (lightkube's typed Lease wrote a whole second without it).
    """
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Kube:
    """Dict-in, dict-out calls to the API server on one lightkube AsyncClient.

    *field_manager* names this operator in managedFields (and tells two replicas apart in
    tests).
    """

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    @classmethod
    def connect(
        cls, connection: Connection | None = None, field_manager: str = "rayplane-operator"
    ) -> Kube:
        config = (connection or Connection()).kubeconfig()
        client = AsyncClient(config, field_manager=field_manager, timeout=httpx2.Timeout(30))
        return cls(client)

    async def close(self) -> None:
        await self.client.close()

    @staticmethod
    def resource(kind: str) -> Any:
        try:
            return KINDS[kind]
        except KeyError as exc:
            raise KubeError(f"the operator does not manage {kind} objects") from exc

    async def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            found = await self.client.get(self.resource(kind), name, namespace=namespace)
        except (ApiError, httpx2.HTTPError) as exc:
            error = _error(exc, f"get {kind} {namespace}/{name}")
            if error.not_found:
                return None
            raise error from exc
        return _dict(found)

    async def select(
        self, kind: str, namespace: str | None, labels: Mapping[str, Any] | None = None
    ) -> list[Obj]:
        """Objects of *kind* in *namespace* (None: all namespaces) matching *labels*."""
        res = self.resource(kind)
        ns: Any = "*" if namespace is None and issubclass(res, NamespacedResource) else namespace
        try:
            return [
                _dict(obj)
                async for obj in self.client.list(res, namespace=ns, labels=dict(labels or {}))
            ]
        except (ApiError, httpx2.HTTPError) as exc:
            raise _error(exc, f"list {kind} in {namespace or 'all namespaces'}") from exc

    async def create(self, manifest: Obj) -> Obj:
        kind = str(manifest.get("kind"))
        meta = manifest.get("metadata") or {}
        what = (
            f"create {kind} {meta.get('namespace')}/{meta.get('name') or meta.get('generateName')}"
        )
        res = self.resource(kind)
        try:
            created = await self.client.create(res.from_dict(manifest))
        except (ApiError, httpx2.HTTPError) as exc:
            raise _error(exc, what) from exc
        return _dict(created)

    async def ensure(self, manifest: Obj) -> Obj | None:
        """Create *manifest* unless an object of that name exists; the new object or None."""
        try:
            return await self.create(manifest)
        except KubeError as exc:
            if exc.code == 409:
                return None
            raise

    async def delete(
        self, kind: str, namespace: str, name: str, propagation: str = "Background"
    ) -> bool:
        """Delete; False when it was already gone."""
        from lightkube.types import CascadeType

        cascade = {
            "Background": CascadeType.BACKGROUND,
            "Foreground": CascadeType.FOREGROUND,
            "Orphan": CascadeType.ORPHAN,
        }[propagation]
        try:
            await self.client.delete(
                self.resource(kind), name, namespace=namespace, cascade=cascade
            )
        except (ApiError, httpx2.HTTPError) as exc:
            error = _error(exc, f"delete {kind} {namespace}/{name}")
            if error.not_found:
                return False
            raise error from exc
        return True

    async def patch(
        self,
        kind: str,
        namespace: str,
        name: str,
        patch: Obj | list[Obj],
        *,
        json_patch: bool = False,
        status: bool = False,
    ) -> Obj:
        """A merge patch (or a JSON patch) of the object or of its status subresource."""
        res = self.resource(kind)
        if status:
            res = res.Status
        patch_type = PatchType.JSON if json_patch else PatchType.MERGE
        try:
            patched = await self.client.patch(
                res, name, patch, namespace=namespace, patch_type=patch_type
            )
        except (ApiError, httpx2.HTTPError) as exc:
            raise _error(exc, f"patch {kind} {namespace}/{name}") from exc
        return _dict(patched)

    async def replace(self, obj: Obj, *, status: bool = False) -> Obj:
        """PUT *obj* (with its resourceVersion: a stale one is a 409)."""
        kind = str(obj.get("kind"))
        meta = obj.get("metadata") or {}
        res = self.resource(kind)
        if status:
            res = res.Status
        try:
            replaced = await self.client.replace(res.from_dict(obj))
        except (ApiError, httpx2.HTTPError) as exc:
            sub = "/status" if status else ""
            what = f"update {kind}{sub} {meta.get('namespace')}/{meta.get('name')}"
            raise _error(exc, what) from exc
        return _dict(replaced)
