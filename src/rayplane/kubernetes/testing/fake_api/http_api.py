"""The fake's HTTP face: authentication, routing of the REST paths, discovery, recording.

Paths are the API server's (``/api/v1/namespaces/<ns>/pods/<name>/status``,
``/apis/<group>/<version>/...``); bodies are JSON (YAML for server-side apply). Every
request is recorded for assertions unless recording is off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from rayplane.kubernetes.testing.fake_api.faults import Faults
from rayplane.kubernetes.testing.fake_api.objects import ObjectStore
from rayplane.kubernetes.testing.fake_api.resources import (
    APPLY_PATCH,
    MERGE_PATCH,
    ApiError,
    group_list,
    resource_list,
)


@dataclass(frozen=True)
class Recorded:
    """One request the fake answered (for assertions on what a client sent)."""

    method: str
    path: str
    query: Mapping[str, str]
    content_type: str
    body: Any
    status: int


class ApiHttp:
    """Answers the API server's REST requests from *store*, failing where *faults* say.

    *token*: every request must carry ``Authorization: Bearer <token>``. *stopping* ends
    open watches when set.
    """

    def __init__(
        self,
        store: ObjectStore,
        faults: Faults,
        stopping: asyncio.Event,
        *,
        token: str | None,
        record: bool,
        requests: list[Recorded],
    ) -> None:
        self.store = store
        self.faults = faults
        self.stopping = stopping
        self.token = token
        self.record = record
        self.requests = requests

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body: Any = None
        content_type = request.headers.get("Content-Type", "")
        status = 200
        try:
            if self.token is not None and (
                request.headers.get("Authorization") != f"Bearer {self.token}"
            ):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if request.can_read_body:
                text = await request.text()
                if text:
                    try:
                        body = (
                            yaml.safe_load(text)
                            if content_type.startswith(APPLY_PATCH)
                            else json.loads(text)
                        )
                    except (ValueError, yaml.YAMLError) as exc:
                        raise ApiError(400, "BadRequest", f"cannot parse the body: {exc}") from exc
            response = await self._route(request, body)
            status = response.status
            return response
        except ApiError as exc:
            status = exc.code
            return json_response(exc.status(), status=exc.code)
        finally:
            if self.record:
                self.requests.append(
                    Recorded(
                        request.method,
                        request.path,
                        dict(request.query),
                        content_type,
                        body,
                        status,
                    )
                )

    async def _route(self, request: web.Request, body: Any) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        if parts in (["version"], ["readyz"], ["livez"], ["healthz"]):
            return json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake"})
        if parts == ["api"]:
            return json_response({"kind": "APIVersions", "versions": ["v1"]})
        if parts == ["apis"]:
            return json_response(group_list())
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", f"the server could not find {request.path}")
        if not rest:
            return json_response(resource_list(group, version))

        ns: str | None = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and (group, version, rest[2]) in self.store.types
        ):
            ns, rest = rest[1], rest[2:]
        rtype = self.store.types.get((group, version, rest[0]))
        if rtype is None or len(rest) > 3:
            raise ApiError(404, "NotFound", f"the server could not find {request.path}")
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and (sub != "status" or not rtype.status_subresource):
            raise ApiError(404, "NotFound", f"no subresource {sub} for {rtype.plural}")
        if not rtype.namespaced:
            ns = ""
        self.faults.check(method, rtype.plural, sub, name)

        if name is None:
            if method == "GET":
                query = request.query
                if query.get("watch") in ("true", "1"):
                    return await self.store.hub.stream(
                        request, rtype, ns, self.store.data[rtype.key], self.store.rv, self.stopping
                    )
                return json_response(self.store.listing(rtype, ns, query))
            if method == "POST":
                if ns is None:
                    raise ApiError(405, "MethodNotAllowed", "create needs a namespace")
                created = self.store.create(rtype, ns, body)
                return json_response(created, status=201)
            if method == "DELETE":
                for obj in self.store.listing(rtype, ns, request.query)["items"]:
                    meta = obj["metadata"]
                    self.store.delete(rtype, meta.get("namespace", ""), meta["name"], "Background")
                return json_response({"kind": "Status", "status": "Success"})
            raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")

        if ns is None:
            raise ApiError(404, "NotFound", f"{rtype.plural} is namespaced")
        status_only = sub == "status"
        if method == "GET":
            return json_response(self.store.require(rtype, ns, name))
        if method == "PUT":
            if (ns, name) not in self.store.data[rtype.key] and not status_only:
                return json_response(self.store.create(rtype, ns, body), status=201)
            return json_response(self.store.update(rtype, ns, name, body, status_only=status_only))
        if method == "PATCH":
            ctype = request.headers.get("Content-Type", MERGE_PATCH)
            patched = self.store.patch(rtype, ns, name, ctype, body, status_only=status_only)
            return json_response(patched)
        if method == "DELETE":
            propagation = request.query.get("propagationPolicy") or "Background"
            if isinstance(body, dict) and body.get("propagationPolicy"):
                propagation = str(body["propagationPolicy"])
            preconditions = body.get("preconditions") if isinstance(body, dict) else None
            if isinstance(preconditions, dict):
                current = self.store.require(rtype, ns, name)["metadata"]
                for key in ("uid", "resourceVersion"):
                    if preconditions.get(key) and preconditions[key] != current.get(key):
                        raise ApiError(409, "Conflict", f"precondition failed: {key}")
            return json_response(self.store.delete(rtype, ns, name, propagation))
        raise ApiError(405, "MethodNotAllowed", method)


def json_response(obj: Any, status: int = 200) -> web.Response:
    """A JSON answer with exactly ``Content-Type: application/json``, as the API server sends
    (lightkube only turns error bodies into ApiError with that exact header)."""
    return web.Response(
        body=json.dumps(obj).encode(), status=status, content_type="application/json"
    )
