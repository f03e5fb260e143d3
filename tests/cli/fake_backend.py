"""An in-memory Backend for CLI tests: ray.io objects in a dict, and RayClusters whose
nodes come up one poll at a time, so waits and tables see the states a real runtime
shows (starting, then ready; stopping, then gone) without starting Ray."""

from __future__ import annotations

import copy
import itertools
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

from rayplane.sdk.backend import Applied, BackendError, NodeInfo, Obj, PortName
from rayplane.sdk.local_backend import LocalBackend

_counter = itertools.count(1)


class FakeBackend:
    """Stands in for LocalBackend; one shared store per test (``FakeBackend.store``)."""

    name: Literal["local"] = "local"
    store: dict[tuple[str, str, str], Obj] = {}
    nodes_of: dict[tuple[str, str], list[dict[str, Any]]] = {}
    running = True
    started = 0

    def __init__(self, *args: Any, start: bool = True, **kwargs: Any) -> None:
        self.settings = SimpleNamespace(apply_timeout_s=30.0, home=Path("/nonexistent"))
        self._start = start

    @classmethod
    def reset(cls) -> None:
        cls.store = {}
        cls.nodes_of = {}
        cls.running = True
        cls.started = 0

    def _check(self) -> None:
        if not self.running:
            raise BackendError("the local controller is not running (no answer on x.sock)")

    def ensure_running(self) -> bool:
        FakeBackend.started += 1
        FakeBackend.running = True
        return False

    def apply(self, obj: Obj) -> Applied:
        self._check()
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace") or "default", meta["name"])
        before = self.store.get(key)
        stored = copy.deepcopy(obj)
        stored.pop("status", None)
        generation = (before or {"metadata": {"generation": 0}})["metadata"]["generation"]
        changed = before is None or before.get("spec") != stored.get("spec")
        stored["metadata"] = {
            **stored["metadata"],
            "namespace": key[1],
            "generation": generation + (1 if changed else 0),
            "uid": (before or {}).get("metadata", {}).get("uid") or f"uid-{next(_counter)}",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        }
        self.store[key] = stored
        return Applied(copy.deepcopy(stored), "created" if before is None else "configured")

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        self._check()
        found = self.store.get((kind, namespace, name))
        if found is None:
            return None
        doc = copy.deepcopy(found)
        if kind == "RayCluster":
            nodes = self._reconcile(doc)
            doc["status"] = {
                "state": "ready" if all(n["state"] == "ready" for n in nodes) else "",
                "endpoints": {"dashboard": "8265", "gcs-server": "6379"},
                "head": {"podIP": "127.0.0.1"},
            }
            doc["local"] = {"nodes": copy.deepcopy(nodes)}
        return doc

    def _reconcile(self, doc: Obj) -> list[dict[str, Any]]:
        """One step toward the spec: new nodes start, started nodes become ready, nodes
        over the count stop and then go."""
        key = (doc["metadata"]["namespace"], doc["metadata"]["name"])
        nodes = self.nodes_of.setdefault(key, [])
        nodes[:] = [n for n in nodes if n["state"] != "stopping"]
        for node in nodes:
            if node["state"] == "starting":
                node.update(state="ready", reason="")
        wanted = [("headgroup", "head", 1)] + [
            (g["groupName"], "worker", int(g.get("replicas") or 0))
            for g in doc["spec"].get("workerGroupSpecs") or []
        ]
        for group, kind, count in wanted:
            mine = [n for n in nodes if n["group"] == group]
            for node in mine[count:]:
                node.update(state="stopping", reason="being stopped")
            for _ in range(count - len(mine)):
                suffix = "head" if kind == "head" else f"{group}-worker-{next(_counter)}"
                nodes.append(
                    {
                        "name": f"{key[1]}-{suffix}",
                        "group": group,
                        "kind": kind,
                        "state": "starting",
                        "reason": "ray start running",
                        "age": 3725.0,
                        "pid": 4242,
                        "log": f"/logs/{suffix}.log",
                    }
                )
        return nodes

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        self._check()
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.store.items())
            if k == kind and (namespace is None or ns == namespace)
        ]

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        self._check()
        return self.store.pop((kind, namespace, name), None) is not None

    def nodes(self, obj: Obj) -> list[NodeInfo]:
        return LocalBackend.nodes(self, obj)  # type: ignore[arg-type]

    def reach(self, obj: Obj, port: PortName) -> AbstractContextManager[str]:
        return nullcontext("127.0.0.1:8265")

    def close(self) -> None:
        pass
