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
