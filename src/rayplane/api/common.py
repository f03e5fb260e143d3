"""Pieces shared by the three kinds: object envelope, conditions."""

from __future__ import annotations

from pydantic import Field

from rayplane.api.base import CRD_REQUIRED, Open, Strict
from rayplane.api.k8s import ObjectMeta

API_VERSION = "ray.io/v1"
# KubeRay 1.7 still serves ray.io/v1alpha1 for its three original kinds (deprecated, not
# stored, no conversion); both runtimes accept it with KubeRay's warning and store v1.
ALPHA_API_VERSION = "ray.io/v1alpha1"
ALPHA_KINDS = ("RayCluster", "RayJob", "RayService")


def alpha_deprecation(kind: str) -> str:
    """KubeRay's deprecationWarning for ray.io/v1alpha1 *kind*, word for word."""
    return (
        f"ray.io/v1alpha1 {kind} is deprecated; use ray.io/v1 {kind}. v1alpha1 receives no "
        "new fields and will be unavailable in KubeRay 1.9."
    )


GROUP = "ray.io"
MAX_INT32 = 2147483647


class Condition(Open):
    """A metav1.Condition, as KubeRay writes them into status.conditions.

    metav1.Condition requires all five of type, status, reason, message and
    lastTransitionTime, so the CRD does too; the model defaults them only so that a
    condition read from an older or hand-written status still loads.
    """

    type: str
    status: str = Field(json_schema_extra={"enum": ["True", "False", "Unknown"]})
    reason: str = Field(default="", json_schema_extra=CRD_REQUIRED)
    message: str = Field(default="", json_schema_extra=CRD_REQUIRED)
    last_transition_time: str | None = Field(default=None, json_schema_extra=CRD_REQUIRED)
    observed_generation: int | None = None


class Resource(Strict):
    """The envelope of every ray.io/v1 object."""

    api_version: str = API_VERSION
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    def annotation(self, key: str) -> str | None:
        return (self.metadata.annotations or {}).get(key)
