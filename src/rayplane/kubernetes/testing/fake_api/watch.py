"""List + watch: the history of changes and the watch streams that follow them.

Every change the store makes is one event (``ADDED``/``MODIFIED``/``DELETED``) kept in a
bounded history, so a watch can resume from a resourceVersion, and fanned out to the open
watches whose namespace and selectors it matches.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from rayplane.kubernetes.testing.fake_api.resources import ApiError, Obj, ResourceType
from rayplane.kubernetes.testing.fake_api.selectors import query_matcher


@dataclass
class Watcher:
    """One open watch: what it asked for, and the events waiting to be written to it."""

    rtype: ResourceType
    namespace: str | None
    selector: Callable[[Obj], bool]
    queue: asyncio.Queue[Obj | None] = field(default_factory=asyncio.Queue)


class WatchHub:
    """The change history (*history* events long) and the open watches."""

    def __init__(self, history: int) -> None:
        self.history: deque[tuple[int, str, str, Obj]] = deque(maxlen=history)
        self.watchers: list[Watcher] = []

    def emit(self, rv: int, rtype: ResourceType, kind: str, obj: Obj) -> None:
        """Record a change at resourceVersion *rv* and pass it to the matching watches."""
        snapshot = copy.deepcopy(obj)
        self.history.append((rv, rtype.key, kind, snapshot))
        ns = obj["metadata"].get("namespace")
        for watcher in self.watchers:
            if watcher.rtype.key != rtype.key:
                continue
            if watcher.namespace is not None and watcher.namespace != ns:
                continue
            if watcher.selector(snapshot):
                watcher.queue.put_nowait({"type": kind, "object": snapshot})

    def close_all(self) -> None:
        """End every open watch (the server is stopping)."""
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(None)

    async def stream(
        self,
        request: web.Request,
        rtype: ResourceType,
        ns: str | None,
        stored: Mapping[tuple[str, str], Obj],
        rv: int,
        stopping: asyncio.Event,
    ) -> web.StreamResponse:
        """Answer a watch request: the events since its resourceVersion (all objects as
        ADDED when it names none; 410 Gone when history no longer reaches back that far),
        then every change until ``timeoutSeconds``, the client leaving, or *stopping*."""
        query = request.query
        since = query.get("resourceVersion") or ""
        timeout = float(query.get("timeoutSeconds") or 1800)
        matches = query_matcher(query)
        watcher = Watcher(rtype, ns or None, matches)
        initial: list[Obj] = []
        if since in ("", "0"):
            for (obj_ns, _), obj in stored.items():
                if (not ns or obj_ns == ns) and matches(obj):
                    initial.append({"type": "ADDED", "object": copy.deepcopy(obj)})
        else:
            start = int(since)
            oldest = self.history[0][0] if self.history else rv + 1
            if start < oldest - 1 and start < rv:
                gone = ApiError(410, "Expired", f"too old resource version: {start}")
                initial.append({"type": "ERROR", "object": gone.status()})
            else:
                for rv, key, kind, obj in self.history:
                    if rv <= start or key != rtype.key:
                        continue
                    if ns and obj["metadata"].get("namespace") != ns:
                        continue
                    if matches(obj):
                        initial.append({"type": kind, "object": obj})
        self.watchers.append(watcher)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            await response.prepare(request)
            for event in initial:
                await response.write(json.dumps(event).encode() + b"\n")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not stopping.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    change = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    break
                if change is None:
                    break
                await response.write(json.dumps(change).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.remove(watcher)
        return response
