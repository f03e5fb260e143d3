"""Pieces shared by the three kinds: object envelope, conditions."""

from __future__ import annotations

from pydantic import Field

from rayplane.api.base import Open, Strict
from rayplane.api.k8s import ObjectMeta

API_VERSION = "ray.io/v1"
GROUP = "ray.io"
MAX_INT32 = 2147483647


class Condition(Open):
    """A metav1.Condition, as KubeRay writes them into status.conditions."""

    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None
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
