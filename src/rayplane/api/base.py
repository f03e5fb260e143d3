"""Shared model configuration for the ray.io/v1 and Kubernetes models.

Two kinds of model live here. KubeRay's own types (``Strict``) forbid unknown fields, so a
misspelled field is reported instead of silently pruned as the API server would. Kubernetes
types we only partly read (``Open``) keep every field a user wrote, so a pod template
survives load -> dump unchanged even where we do not model it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Strict(BaseModel):
    """A KubeRay-defined object: camelCase on the wire, unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        validate_default=False,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the user wrote it (plus what we set), in camelCase JSON types."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


class Open(Strict):
    """A Kubernetes object we read in part: every unknown field is kept as written."""

    model_config = ConfigDict(extra="allow")


# Markers for the CRD generator (rayplane.api.crds), put on a field with
# ``Field(json_schema_extra=...)``. The models stay lenient where KubeRay's CRD is strict (a
# missing headGroupSpec is reported by validation together with every other error, an unset
# minReplicas earns a warning locally), while the generated CRD makes the API server require
# and default exactly what KubeRay's does.
CRD_REQUIRED_KEY = "x-rayplane-crd-required"
CRD_DEFAULT_KEY = "x-rayplane-crd-default"
CRD_RULES_KEY = "x-rayplane-crd-rules"

CRD_REQUIRED: dict[str, Any] = {CRD_REQUIRED_KEY: True}
"""The field is in its object's ``required`` list in the CRD, as in KubeRay's."""


def crd_default(value: Any, *, required: bool = False) -> dict[str, Any]:
    """The CRD default of a field: *value*, or None for "no default in the CRD".

    Used where the model's own default is a reading convenience that KubeRay's CRD does not
    have (``suspend: false`` would be written into every stored object) or where KubeRay's
    CRD defaults a field the model leaves unset (minReplicas 0).
    """
    extra: dict[str, Any] = {CRD_DEFAULT_KEY: value}
    if required:
        extra[CRD_REQUIRED_KEY] = True
    return extra


def crd_rules(*rules: tuple[str, str]) -> dict[str, Any]:
    """KubeRay's CEL rules (rule, message) for a field or, in model_config, a whole object.

    They become ``x-kubernetes-validations``, so the API server refuses what KubeRay's CRD
    refuses (a changed managedBy, a deletionStrategy mixing both styles) before any
    controller or webhook sees it.
    """
    return {CRD_RULES_KEY: [{"message": message, "rule": rule} for rule, message in rules]}
