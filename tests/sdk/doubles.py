"""Test doubles for the SDK's driver side: a Backend over one object, and Ray's job API in
memory whose jobs move through a script, one step per status read."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

import httpx

from rayplane.sdk.backend import Applied, NodeInfo, Obj, PortName

PORTS: dict[str, str] = {
    "dashboard": "127.0.0.1:8265",
    "gcs-server": "127.0.0.1:6379",
    "client": "127.0.0.1:10001",
    "serve": "127.0.0.1:8000",
}


def cluster(name: str = "demo", namespace: str = "default", *, local: bool = True) -> Obj:
    """A ready RayCluster as the runtime reads it back (locally with its `local` block)."""
    obj: Obj = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {},
        "status": {"state": "ready"},
    }
    if local:
        obj["local"] = {"nodes": []}
    return obj


class FakeBackend:
    """One stored object; `reach` records each port opened and whether it is still open."""

    def __init__(self, obj: Obj | None, name: Literal["local", "kubernetes"] = "local") -> None:
        self.name: Literal["local", "kubernetes"] = name
        self.obj = obj
        self.reached: list[str] = []
        self.open = 0
        self.applied: list[Obj] = []

    def apply(self, obj: Obj) -> Applied:
        self.applied.append(obj)
        return Applied(obj, "created")

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        if self.obj is not None and self.obj.get("kind", "RayCluster") != kind:
            return None  # the one object is not of that kind (a token Secret, ...)
        return self.obj

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        return [self.obj] if self.obj else []

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        return False

    def nodes(self, obj: Obj) -> builtins.list[NodeInfo]:
        return []

    def reach(self, obj: Obj, port: PortName) -> AbstractContextManager[str]:
        return self._reach(port)

    @contextmanager
    def _reach(self, port: PortName) -> Iterator[str]:
        self.reached.append(port)
        self.open += 1
        try:
            yield PORTS[port]
        finally:
            self.open -= 1

    def close(self) -> None:
        pass


class JobsAPI:
    """Ray's /api/jobs/ in memory. A submitted job follows *script*: each GET of the job
    moves it one step, a step being (status, the whole driver log so far)."""

    def __init__(self, script: list[tuple[str, str]] | None = None, message: str = "") -> None:
        self.script = script or [("PENDING", ""), ("RUNNING", "hello\n"), ("SUCCEEDED", "hello\n")]
        self.message = message
        self.jobs: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, bytes] = {}
        self.requests: list[httpx.Request] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.requests.append(request)
        path, method = request.url.path, request.method
        if path.startswith("/api/packages/gcs/"):
            name = path.rsplit("/", 1)[1]
            if method == "GET":
                return httpx.Response(200 if name in self.packages else 404)
            self.packages[name] = request.content
            return httpx.Response(200)
        if path == "/api/jobs/" and method == "POST":
            body = json.loads(request.content)
            sid = body.get("submission_id") or f"raysubmit_{len(self.jobs) + 1}"
            self.jobs[sid] = {"id": sid, "step": -1, "body": body, "start": len(self.jobs) + 1}
            return httpx.Response(200, json={"job_id": sid, "submission_id": sid})
        if path == "/api/jobs/" and method == "GET":
            return httpx.Response(200, json=[self._info(j) for j in self.jobs.values()])
        sid, _, rest = path.removeprefix("/api/jobs/").partition("/")
        job = self.jobs.get(sid)
        if job is None:
            return httpx.Response(404, text=f"Job {sid} does not exist")
        if rest == "" and method == "GET":
            if job.get("stopped") is None:
                job["step"] = min(job["step"] + 1, len(self.script) - 1)
            return httpx.Response(200, json=self._info(job))
        if rest == "logs":
            return httpx.Response(200, json={"logs": self._log(job)})
        if rest == "stop":
            running = self._status(job) in ("PENDING", "RUNNING")
            job["stopped"] = True
            return httpx.Response(200, json={"stopped": running})
        return httpx.Response(405)

    def _status(self, job: dict[str, Any]) -> str:
        if job.get("stopped"):
            return "STOPPED"
        return self.script[max(job["step"], 0)][0]

    def _log(self, job: dict[str, Any]) -> str:
        return self.script[max(job["step"], 0)][1]

    def _info(self, job: dict[str, Any]) -> dict[str, Any]:
        status = self._status(job)
        return {
            "type": "SUBMISSION",
            "submission_id": job["id"],
            "status": status,
            "message": self.message if status == "FAILED" else "",
            "entrypoint": job["body"]["entrypoint"],
            "start_time": job["start"],
        }

    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]
