"""Status as a Go operator puts it on the wire, so that ours and KubeRay's read the same.

Go's encoding/json leaves out fields tagged ``omitempty`` when they hold their zero value;
KubeRay's status types tag their counts that way. A status that wrote ``0`` where KubeRay
writes nothing would differ for every tool that diffs or watches it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def go_wire(model: BaseModel, omitted_when_zero: tuple[str, ...]) -> dict[str, Any]:
    """*model* with JSON names, unset fields left out, and the zero *omitted_when_zero*."""
    dumped = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    for key in omitted_when_zero:
        if dumped.get(key) == 0:
            del dumped[key]
    return dumped
