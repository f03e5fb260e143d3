"""The fake's objects and the API server's rules for them.

One :class:`ObjectStore` holds every object by kind and (namespace, name), with one global
resourceVersion counter: writes naming a stale version get 409, ``generateName`` picks a
free name, ``generation`` counts spec changes, status goes through its subresource only,
deletion waits for finalizers, and deleting an owner deletes (or orphans) its dependents.
Every change goes to the :class:`~.watch.WatchHub`.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import jsonpatch

from rayplane.kubernetes.testing.fake_api.patches import lenient, merge_patch
from rayplane.kubernetes.testing.fake_api.resources import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    RESOURCES,
    STRATEGIC_PATCH,
    ApiError,
    Obj,
    ResourceType,
    name_of,
    timestamp,
)
from rayplane.kubernetes.testing.fake_api.selectors import label_selector, query_matcher
from rayplane.kubernetes.testing.fake_api.watch import WatchHub


class ObjectStore:
    """Every object the fake holds, and the writes the API server allows on them.

    *on_pod_created* is called with (namespace, name) after each Pod is created (the
    simulated kubelet's hook).
    """

    def __init__(self, history: int) -> None:
        self.types = {(t.group, t.version, t.plural): t for t in RESOURCES}
        self.data: dict[str, dict[tuple[str, str], Obj]] = {t.key: {} for t in RESOURCES}
        self.rv = 0
        self.hub = WatchHub(history)
        self.on_pod_created: Callable[[str, str], None] | None = None
        self._ips = itertools.count(2)

    # -- reads ----------------------------------------------------------------------------------

    def rtype(self, plural: str, group: str | None = None) -> ResourceType:
        """The kind served under *plural* (in *group*, when two groups share a plural)."""
        for rtype in RESOURCES:
            if rtype.plural == plural and (group is None or rtype.group == group):
                return rtype
        raise KeyError(plural)

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
            for (ns, _), obj in self.data[rtype.key].items()
            if (namespace is None or ns == namespace)
            and matches(obj["metadata"].get("labels") or {})
        ]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace", ""), name_of(o)))

    def get(self, plural: str, namespace: str, name: str, group: str | None = None) -> Obj | None:
        obj = self.data[self.rtype(plural, group).key].get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def patch_status(
        self, plural: str, namespace: str, name: str, status: Obj, group: str | None = None
    ) -> Obj:
        """Merge *status* into the object's status (what a kubelet or controller reports)."""
        rtype = self.rtype(plural, group)
        current = self.require(rtype, namespace, name)
        updated = copy.deepcopy(current)
        updated["status"] = merge_patch(current.get("status") or {}, status)
        return copy.deepcopy(self.update(rtype, namespace, name, updated, status_only=True))

    # -- writes -------------------------------------------------------------------------------

    def type_of(self, obj: Obj) -> ResourceType:
        api_version = str(obj.get("apiVersion", ""))
        kind = obj.get("kind")
        for rtype in RESOURCES:
            if rtype.api_version == api_version and rtype.kind == kind:
                return rtype
        raise ApiError(400, "BadRequest", f"unknown kind {api_version}/{kind}")

    def require(self, rtype: ResourceType, ns: str, name: str) -> Obj:
        obj = self.data[rtype.key].get((ns, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{rtype.plural} "{name}" not found')
        return obj

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def next_ip(self, prefix: str) -> str:
        n = next(self._ips)
        return f"{prefix}.{(n // 250) % 250}.{n % 250 + 1}"

    def _emit(self, rtype: ResourceType, kind: str, obj: Obj) -> None:
        self.hub.emit(self.rv, rtype, kind, obj)

    def create(self, rtype: ResourceType, ns: str, body: Any) -> Obj:
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
                if (ns, name) not in self.data[rtype.key]:
                    break
            meta["name"] = name
        name = str(name)
        if (ns, name) in self.data[rtype.key]:
            raise ApiError(409, "AlreadyExists", f'{rtype.plural} "{name}" already exists')
        obj["apiVersion"] = rtype.api_version
        obj["kind"] = rtype.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = timestamp()
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        if rtype.status_subresource:
            obj.pop("status", None)
        if rtype.kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": "Burstable"}
        elif rtype.kind == "Service":
            spec = obj.setdefault("spec", {})
            if not spec.get("clusterIP"):
                spec["clusterIP"] = self.next_ip("10.96")
            spec.setdefault("type", "ClusterIP")
            obj["status"] = {"loadBalancer": {}}
        meta["resourceVersion"] = self._next_rv()
        self.data[rtype.key][(ns, name)] = obj
        self._emit(rtype, "ADDED", obj)
        if rtype.kind == "Pod" and self.on_pod_created is not None:
            self.on_pod_created(ns, name)
        return obj

    def update(
        self,
        rtype: ResourceType,
        ns: str,
        name: str,
        body: Any,
        *,
        status_only: bool = False,
        check_rv: bool = True,
    ) -> Obj:
        current = self.require(rtype, ns, name)
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
            if content_of(updated) != content_of(current):
                meta["generation"] = int(old_meta.get("generation") or 1) + 1
            else:
                meta["generation"] = old_meta.get("generation", 1)
        if same_object(updated, current):
            return current  # a no-op write: Kubernetes keeps the resourceVersion
        updated["metadata"]["resourceVersion"] = self._next_rv()
        self.data[rtype.key][(ns, name)] = updated
        if updated["metadata"].get("deletionTimestamp") and not updated["metadata"].get(
            "finalizers"
        ):
            self._remove(rtype, ns, name, "Background")
            return updated
        self._emit(rtype, "MODIFIED", updated)
        return updated

    def patch(
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
        if kind == APPLY_PATCH and (ns, name) not in self.data[rtype.key]:
            if status_only:
                raise ApiError(404, "NotFound", f'{rtype.plural} "{name}" not found')
            return self.create(rtype, ns, body)
        current = self.require(rtype, ns, name)
        if kind == JSON_PATCH:
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
            try:
                patched = jsonpatch.JsonPatch(lenient(body, current)).apply(copy.deepcopy(current))
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
        return self.update(rtype, ns, name, patched, status_only=status_only, check_rv=check_rv)

    def delete(self, rtype: ResourceType, ns: str, name: str, propagation: str) -> Obj:
        current = self.require(rtype, ns, name)
        meta = current["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                updated = copy.deepcopy(current)
                updated["metadata"]["deletionTimestamp"] = timestamp()
                updated["metadata"]["deletionGracePeriodSeconds"] = 0
                updated["metadata"]["resourceVersion"] = self._next_rv()
                self.data[rtype.key][(ns, name)] = updated
                self._emit(rtype, "MODIFIED", updated)
                return updated
            return current
        return self._remove(rtype, ns, name, propagation)

    def _remove(self, rtype: ResourceType, ns: str, name: str, propagation: str) -> Obj:
        obj = self.data[rtype.key].pop((ns, name))
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(rtype, "DELETED", obj)
        self._collect_garbage(obj["metadata"]["uid"], ns, propagation)
        return obj

    def _collect_garbage(self, uid: str, ns: str, propagation: str) -> None:
        """Delete (or orphan) every object whose ownerReferences name *uid*."""
        for rtype in RESOURCES:
            for (obj_ns, obj_name), obj in list(self.data[rtype.key].items()):
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
                    self.update(rtype, obj_ns, obj_name, updated, check_rv=False)
                elif (obj_ns, obj_name) in self.data[rtype.key]:
                    self.delete(rtype, obj_ns, obj_name, "Background")

    def listing(self, rtype: ResourceType, ns: str | None, query: Mapping[str, str]) -> Obj:
        matches = query_matcher(query)
        items = [
            obj
            for (obj_ns, _), obj in self.data[rtype.key].items()
            if (ns is None or ns == "" or obj_ns == ns) and matches(obj)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), name_of(o)))
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": str(self.rv)},
            "items": items,
        }


def content_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def same_object(a: Obj, b: Obj) -> bool:
    def strip(obj: Obj) -> Obj:
        out = dict(obj)
        out["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        return out

    return strip(a) == strip(b)
