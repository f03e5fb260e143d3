"""The Kubernetes API of one RayCluster, served from the local store, for Ray's autoscaler.

Ray's ``KubeRayProvider`` takes its Kubernetes client as a constructor argument; this is
that client. GET of the RayCluster reads the stored resource with the CRD defaults the API
server would add; GET of the pods lists the cluster's stored nodes as the Pods KubeRay
would have made; PATCH of replicas or ``scaleStrategy`` writes the spec back in one store
transaction. Anything else is refused (422) rather than written.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ray.autoscaler._private.kuberay.node_provider import IKubernetesHttpApiClient

from rayplane.api.common import MAX_INT32
from rayplane.errors import RayplaneError
from rayplane.local import process
from rayplane.local.store import Store, StoredNode, iso
from rayplane.reconcile.cluster.idle import IDLE_REASON_ANNOTATION


class ApiError(RayplaneError):
    """What the fake API answers instead of an HTTP error (404, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def with_crd_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """The RayCluster as the API server returns it: KubeRay's CRD defaults filled in.

    The stored body is what the user wrote; Ray's KubeRay code reads ``replicas``,
    ``minReplicas`` and ``maxReplicas`` of every group as a Kubernetes client would find
    them after defaulting.
    """
    out = copy.deepcopy(doc)
    for group in (out.get("spec") or {}).get("workerGroupSpecs") or []:
        group.setdefault("replicas", 0)
        group.setdefault("minReplicas", 0)
        group.setdefault("maxReplicas", MAX_INT32)
        group.setdefault("numOfHosts", 1)
        group.setdefault("rayStartParams", {})
    out.setdefault("spec", {}).setdefault("headGroupSpec", {}).setdefault("rayStartParams", {})
    return out


def node_pod(node: StoredNode, cluster: str) -> dict[str, Any]:
    """A stored node as the Pod KubeRay would have made for it, as far as Ray reads it."""
    meta: dict[str, Any] = {
        "name": node.name,
        "labels": {
            "ray.io/cluster": cluster,
            "ray.io/node-type": "head" if node.kind == "head" else "worker",
            "ray.io/group": node.group,
        },
    }
    if node.deleting is not None:
        meta["deletionTimestamp"] = iso(node.deleting)
    status: dict[str, Any] = {}
    if node.pid is not None and node.create_time is not None:
        state = "running" if process.is_alive(node.pid, node.create_time) else "terminated"
        status["containerStatuses"] = [{"state": {state: {}}}]
    return {"metadata": meta, "status": status}


class StoreKubeApi(IKubernetesHttpApiClient):
    """The Kubernetes API of one RayCluster, served from the local store.

    ``on_patch`` is told, in words, what each accepted patch changed; it is how the
    decisions reach ``describe`` and the resource's events.
    """

    def __init__(self, store: Store, uid: str, on_patch: Callable[[list[str]], None]) -> None:
        self.store = store
        self.uid = uid
        self.on_patch = on_patch

    def _stored(self) -> Any:
        stored = self.store.get_by_uid(self.uid)
        if stored is None or stored.kind != "RayCluster":
            raise ApiError(404, f"RayCluster {self.uid} not found")
        return stored

    def get(self, path: str) -> dict[str, Any]:
        stored = self._stored()
        if path.startswith("rayclusters/"):
            doc = with_crd_defaults(stored.document())
            doc["metadata"]["resourceVersion"] = str(stored.generation)
            return doc
        if path.startswith("pods?"):
            nodes = self.store.nodes(self.uid)
            return {
                "metadata": {"resourceVersion": str(stored.generation)},
                "items": [node_pod(n, stored.name) for n in nodes],
            }
        if path.startswith("pods/"):
            name = path.split("/", 1)[1]
            for node in self.store.nodes(self.uid):
                if node.name == name:
                    pod = node_pod(node, stored.name)
                    pod["metadata"]["resourceVersion"] = str(stored.generation)
                    return pod
        raise ApiError(404, f"{path} not found")

    def patch(
        self,
        path: str,
        payload: list[dict[str, Any]] | dict[str, Any],
        content_type: str = "application/json-patch+json",
    ) -> dict[str, Any]:
        stored = self._stored()
        if stored.deleting is not None:
            raise ApiError(409, "the RayCluster is being deleted")
        if path.startswith("rayclusters/") and payload == {"spec": {"idleSuspend": True}}:
            # idleTerminationOptions.policy Suspend (Ray #65763): the same write the
            # controller's own idle probe makes (local/idle_probe.py).
            said = self.store.modify_body(self.uid, _idle_suspend)
            self.on_patch(said)
            return self.get(path)
        if not path.startswith("rayclusters/") or not isinstance(payload, list):
            # Policy Delete's finalizer and DELETE are refused: the controller's idle probe
            # deletes the cluster itself, and this API deletes nothing.
            raise ApiError(422, f"unsupported patch of {path} ({content_type})")
        said = self.store.modify_body(self.uid, lambda body: _apply_patch(body, payload))
        self.on_patch(said)
        return self.get(path)

    def delete(self, path: str) -> dict[str, Any]:
        raise ApiError(422, f"the local autoscaler does not delete {path}")


def _idle_suspend(body: dict[str, Any]) -> list[str]:
    body.setdefault("spec", {})["idleSuspend"] = True
    meta = body.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations.setdefault(
        IDLE_REASON_ANNOTATION,
        "Ray's autoscaler saw no driver for idleTerminationOptions.timeoutSeconds",
    )
    meta["annotations"] = annotations
    return ["spec.idleSuspend: true (no driver for idleTerminationOptions.timeoutSeconds)"]


def _apply_patch(body: dict[str, Any], payload: list[dict[str, Any]]) -> list[str]:
    """Apply the provider's JSON patch of replicas/scaleStrategy to *body*; say what changed.

    Only what KubeRayProvider sends is accepted: ``replace``/``add`` of a worker group's
    ``replicas`` or ``scaleStrategy``. Anything else is refused (422) rather than written.
    """
    groups = body.setdefault("spec", {}).setdefault("workerGroupSpecs", [])
    said: list[str] = []
    for op in payload:
        parts = str(op.get("path", "")).strip("/").split("/")
        if (
            op.get("op") not in ("replace", "add")
            or len(parts) != 4
            or parts[:2] != ["spec", "workerGroupSpecs"]
            or not parts[2].isdigit()
            or int(parts[2]) >= len(groups)
            or parts[3] not in ("replicas", "scaleStrategy")
        ):
            raise ApiError(422, f"unsupported patch operation {op}")
        group = groups[int(parts[2])]
        name = group.get("groupName", parts[2])
        if parts[3] == "replicas":
            before = group.get("replicas", 0)
            group["replicas"] = int(op["value"])
            said.append(f"{name}: replicas {before} -> {group['replicas']}")
        else:
            value = dict(op.get("value") or {})
            group["scaleStrategy"] = value
            victims = list(value.get("workersToDelete") or [])
            said.append(
                f"{name}: workersToDelete {', '.join(victims)}"
                if victims
                else f"{name}: workersToDelete cleared"
            )
    return said
