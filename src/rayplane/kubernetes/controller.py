"""The shape of a per-kind controller, and the prologue every kind's pass starts with.

Each kind (RayCluster, RayJob, RayService) has one controller object that lives as long
as the operator and owns the memory its passes keep (failures of the previous pass,
submit errors, the Serve cache, deletion deadlines). Every pass begins the same way, in
:meth:`KindController.reconcile`: read the object, forget it when it is gone, skip it when
another controller manages it (``spec.managedBy``), validate it and report an invalid
one; only then does the kind's own :meth:`~KindController.sync` run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar, cast

from rayplane.api.common import Resource
from rayplane.api.raycluster import RayCluster
from rayplane.kubernetes.kube import Obj
from rayplane.kubernetes.operator_context import OperatorContext
from rayplane.reconcile.kuberay import KUBERAY_MANAGER

Key = tuple[str, str, str]  # (kind, namespace, name)
RAY_KINDS = ("RayCluster", "RayJob", "RayService")
# Kinds that own ray.io objects: a RayCronJob owns its RayJobs (gate RayCronJob).
OWNER_KINDS = (*RAY_KINDS, "RayCronJob")

ModelT = TypeVar("ModelT", bound=Resource)
ReadsT = TypeVar("ReadsT")


class KindController(ABC, Generic[ModelT, ReadsT]):
    """One kind's controller: the shared prologue, then the kind's :meth:`sync`.

    *ReadsT* is whatever else the kind reads together with its object (the RayCluster
    controller lists Services and Pods in the same round trip).
    """

    kind: ClassVar[str]
    model: ClassVar[type[Resource]]

    def __init__(self, ctx: OperatorContext) -> None:
        self.ctx = ctx

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """One pass over *namespace*/*name*; the seconds until the next one (None: none)."""
        raw, reads = await self.read(namespace, name)
        if raw is None:
            self.forget(namespace, name)
            return None
        if managed_elsewhere(raw):
            return None
        model, errors = self.ctx.parse(raw)
        if errors or not isinstance(model, self.model):
            message = "; ".join(errors)
            await self.ctx.event(raw, f"Invalid{self.kind}Spec", message, warning=True, once=True)
            return await self.invalid(raw, model, message)
        return await self.sync(raw, cast(ModelT, model), reads)

    @abstractmethod
    async def read(self, namespace: str, name: str) -> tuple[Obj | None, ReadsT]:
        """The object (None: gone) and what the pass reads beside it."""

    @abstractmethod
    def forget(self, namespace: str, name: str) -> None:
        """The object is gone: drop what this controller remembers about it."""

    async def invalid(self, raw: Obj, model: Resource | None, message: str) -> float | None:
        """After the Warning event about an invalid object; by default nothing more."""
        return None

    @abstractmethod
    async def sync(self, raw: Obj, model: ModelT, reads: ReadsT) -> float | None:
        """The kind's own pass over a valid object it manages."""


def managed_elsewhere(raw: Obj) -> bool:
    managed_by = (raw.get("spec") or {}).get("managedBy")
    return bool(managed_by) and managed_by != KUBERAY_MANAGER


def owner_keys(raw: Obj) -> list[Key]:
    """The RayJob/RayService/RayCluster/RayCronJob that own *raw*, as queue keys."""
    meta = raw.get("metadata") or {}
    keys: list[Key] = []
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") in OWNER_KINDS and str(ref.get("apiVersion", "")).startswith("ray.io/"):
            keys.append((str(ref["kind"]), str(meta.get("namespace")), str(ref.get("name"))))
    return keys


def parse_cluster(raw: Obj) -> RayCluster | None:
    """A RayCluster object as a model (lenient: an invalid cluster still has a status)."""
    try:
        return RayCluster.model_validate(raw)
    except ValueError:
        return None
