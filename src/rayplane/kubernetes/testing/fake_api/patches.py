"""Merge patches (RFC 7386) and Kubernetes' lenient reading of JSON patches (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

from rayplane.kubernetes.testing.fake_api.resources import Obj


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


def lenient(operations: list[Any], doc: Obj) -> list[Any]:
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
