"""The two writes every controller makes to its own object: status and finalizers.

Both carry the resourceVersion of the object the pass read, so a write computed from a
stale object never silently lands on a newer one.
"""

from __future__ import annotations

import logging
from typing import Any

from rayplane.kubernetes.kube import Kube, KubeError, Obj

log = logging.getLogger("rayplane.operator")

STATUS_WRITE_ATTEMPTS = 5


async def write_status(kube: Kube, raw: Obj, status: dict[str, Any]) -> Obj | None:
    """PUT *status* to the status subresource; on 409 re-read the object and reapply.

    A conflict (someone patched the spec, the autoscaler among them) re-reads the object
    and puts the same status on the fresh version. The next pass recomputes from the fresh
    spec anyway. None when the object is gone.
    """
    kind = str(raw["kind"])
    meta = raw["metadata"]
    current = raw
    for attempt in range(STATUS_WRITE_ATTEMPTS):
        body = dict(current)
        body["status"] = status
        try:
            return await kube.replace(body, status=True)
        except KubeError as exc:
            if not exc.conflict or attempt == STATUS_WRITE_ATTEMPTS - 1:
                raise
            log.info(
                "status write of %s %s/%s conflicted; re-reading and retrying",
                kind,
                meta["namespace"],
                meta["name"],
            )
        fresh = await kube.get(kind, meta["namespace"], meta["name"])
        if fresh is None:
            return None
        current = fresh
    return None  # pragma: no cover - the loop returns or raises


async def set_finalizer(kube: Kube, raw: Obj, finalizer: str, present: bool) -> Obj:
    """Add or remove *finalizer* with a merge patch guarded by the resourceVersion."""
    meta = raw["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if present == (finalizer in finalizers):
        return raw
    finalizers = [*finalizers, finalizer] if present else [f for f in finalizers if f != finalizer]
    patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
    return await kube.patch(str(raw["kind"]), meta["namespace"], meta["name"], patch)
