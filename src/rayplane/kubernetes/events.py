"""Kubernetes Events about the operator's objects, posted beside the reconcile pass.

A pass never waits for an Event and never fails because of one: client-go's recorder works
the same way. Validation warnings are posted once per object generation, so a pass that
runs every few seconds does not repeat them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from rayplane.kubernetes.kube import Kube, Obj

log = logging.getLogger("rayplane.operator")

# Past this many unsent Events, new ones are dropped with a log line, as client-go's
# broadcaster drops when its queue of 1000 is full.
EVENT_BACKLOG = 1000
EVENTS_IN_FLIGHT = 8
EVENT_SOURCE = "kuberay-operator"


class EventRecorder:
    """Posts core/v1 Events in the background; remembers which warnings it already posted."""

    def __init__(self, kube: Kube, clock: Callable[[], dt.datetime], post: bool = True) -> None:
        self.kube = kube
        self.clock = clock
        self.post = post
        # Warnings already posted, to post each once per object generation.
        self.warned: dict[tuple[str, str, str], str] = {}
        self._posts: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(EVENTS_IN_FLIGHT)

    async def event(
        self, raw: Obj, reason: str, message: str, warning: bool = False, once: bool = False
    ) -> None:
        """Post a core/v1 Event about *raw* (never fails the pass).

        *once*: post it only once per object generation and reason (validation warnings).
        """
        meta = raw.get("metadata") or {}
        if once:
            key = (str(raw.get("kind")), f"{meta.get('namespace')}/{meta.get('name')}", reason)
            marker = f"{meta.get('uid')}/{meta.get('generation')}/{message}"
            if self.warned.get(key) == marker:
                return
            self.warned[key] = marker
        level = logging.WARNING if warning else logging.INFO
        log.log(
            level,
            "%s %s/%s: %s: %s",
            raw.get("kind"),
            meta.get("namespace"),
            meta.get("name"),
            reason,
            message,
        )
        if not self.post:
            return
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{meta.get('name')}.",
                "namespace": meta.get("namespace"),
            },
            "involvedObject": {
                "apiVersion": raw.get("apiVersion"),
                "kind": raw.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": EVENT_SOURCE},
            "reportingComponent": EVENT_SOURCE,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        if len(self._posts) >= EVENT_BACKLOG:
            log.debug("event backlog full; dropped %s", reason)
            return
        task = asyncio.create_task(self._post(event))
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _post(self, event: Obj) -> None:
        async with self._slots:
            try:
                await self.kube.create(event)
            except Exception as exc:  # events are best effort
                log.debug("could not post event %s: %s", event["reason"], exc)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait (a bounded time) for the events still being posted, e.g. at shutdown."""
        if self._posts:
            await asyncio.wait(set(self._posts), timeout=timeout)
