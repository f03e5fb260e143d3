"""An in-memory Backend for SDK tests, as httpx's MockTransport is for clients.

It stores objects as a runtime would (uid, generation bumped on a spec change) and plays
a *script* per object: each ``get`` of it applies the next step (a function that edits
the stored object, or None to delete it), so a test states how a resource comes up, fails
or goes away, and the SDK's waits see exactly that, with no real time involved.
"""

from __future__ import annotations

import builtins
import copy
import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

from rayplane.sdk.backend import Applied, BackendError, NodeInfo, Obj, PortName, Verb

Key = tuple[str, str, str]
Step = Callable[[Obj], None] | None


def key(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace") or "default", meta["name"])


class FakeBackend:
    name: Literal["local"] = "local"

    def __init__(self) -> None:
        self.objects: dict[Key, Obj] = {}
        self.scripts: dict[Key, Iterator[Step]] = {}
        self.gets: dict[Key, int] = {}
        self.refuse: dict[Key, BackendError] = {}
        self.deleted: list[Key] = []
        self.lingering: set[Key] = set()
        """Objects a delete leaves in place (their script then says when they go)."""
        self.closed = False
        self._uids = itertools.count(1)

    def play(self, kind: str, name: str, *steps: Step, namespace: str = "default") -> None:
        """What each `get` of the object does, in order (the last state then stays)."""
        self.scripts[(kind, namespace, name)] = iter(steps)

    def apply(self, obj: Obj) -> Applied:
        k = key(obj)
        if k in self.refuse:
            raise self.refuse[k]
        before = self.objects.get(k)
        stored = copy.deepcopy(obj)
        stored["metadata"]["namespace"] = k[1]
        verb: Verb
        if before is None:
            stored["metadata"].update(uid=f"uid-{next(self._uids)}", generation=1)
            verb = "created"
        else:
            same = before.get("spec") == obj.get("spec")
            generation = before["metadata"]["generation"] + (0 if same else 1)
            stored["metadata"].update(uid=before["metadata"]["uid"], generation=generation)
            stored["status"] = before.get("status", {})
            verb = "unchanged" if same else "configured"
        self.objects[k] = stored
        return Applied(copy.deepcopy(stored), verb)

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        k = (kind, namespace, name)
        self.gets[k] = self.gets.get(k, 0) + 1
        script = self.scripts.get(k)
        if script is not None and k in self.objects:
            step = next(script, ...)
            if step is None:
                del self.objects[k]
            elif step is not ...:
                step(self.objects[k])
        found = self.objects.get(k)
        return copy.deepcopy(found) if found is not None else None

    def list(self, kind: str, namespace: str | None = None) -> builtins.list[Obj]:
        return [
            o for (k, ns, _), o in self.objects.items() if k == kind and namespace in (None, ns)
        ]

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        k = (kind, namespace, name)
        if k not in self.objects:
            return False
        self.deleted.append(k)
        if k not in self.lingering:  # nothing to stop: gone at once
            del self.objects[k]
        return True

    def nodes(self, obj: Obj) -> builtins.list[NodeInfo]:
        return [
            NodeInfo(n["name"], n["group"], n["kind"], n["state"], n.get("reason", ""))
            for n in (obj.get("local") or {}).get("nodes") or []
        ]

    def reach(self, obj: Obj, port: PortName) -> AbstractContextManager[str]:
        return self._reach(obj, port)

    @contextmanager
    def _reach(self, obj: Obj, port: PortName) -> Iterator[str]:
        number = ((obj.get("status") or {}).get("endpoints") or {}).get(port)
        if not number:
            raise BackendError(f"no {port} port")
        yield f"127.0.0.1:{number}"

    def close(self) -> None:
        self.closed = True


# Steps -------------------------------------------------------------------------------------


def status(**fields: Any) -> Step:
    def step(obj: Obj) -> None:
        obj["status"] = {**(obj.get("status") or {}), **fields}

    return step


def local(**fields: Any) -> Step:
    def step(obj: Obj) -> None:
        obj["local"] = {**(obj.get("local") or {}), **fields}

    return step


def both(*steps: Step) -> Step:
    def step(obj: Obj) -> None:
        for s in steps:
            assert s is not None
            s(obj)

    return step


def node(name: str, state: str, kind: str = "head", reason: str = "") -> dict[str, Any]:
    group = "headgroup" if kind == "head" else "workers"
    return {"name": name, "group": group, "kind": kind, "state": state, "reason": reason}
