"""The local twin of KubeRay's serve Service: one stable loopback port per RayService.

It forwards every request to a healthy Serve proxy of the cluster that currently serves
(KubeRay's Service selector), and switching clusters only swaps the backend list, so
requests already in flight finish where they started and new ones go to the new cluster:
the zero-downtime promotion of KubeRay, on one machine. A backend that refuses the
connection, or drops it before answering, is retried on the next one, which covers the
window between a proxy dying (a head crash) and the next health check removing it.

During an incremental upgrade (KubeRay's HTTPRoute with weighted backendRefs) the endpoint
holds one pool of proxies per cluster with a weight each, and deals new requests out in
proportion (smooth weighted round robin: deterministic, so 25 % is one request in four, not
one in four on average). Changing the weights swaps the pools only; requests in flight are
not touched. A pool of weight 0 gets nothing, not even a retry: its cluster may be at
``target_capacity`` 0, with no replica to answer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import aiohttp
from aiohttp import web

log = logging.getLogger("rayplane.serve_proxy")

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class _Pool:
    """One cluster's healthy proxies and its share of the traffic."""

    def __init__(self, weight: int, backends: Sequence[str]) -> None:
        self.weight = weight
        self.backends = list(backends)
        self.credit = 0  # smooth weighted round robin (nginx's)
        self._turn = itertools.count()

    def order(self) -> list[str]:
        if not self.backends:
            return []
        start = next(self._turn) % len(self.backends)
        return self.backends[start:] + self.backends[:start]


class _Endpoint:
    def __init__(self, port: int) -> None:
        self.port = port
        self.pools: list[_Pool] = []
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None

    @property
    def backends(self) -> list[str]:
        return [b for pool in self.pools if pool.weight > 0 for b in pool.backends]

    def route(self, split: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Replace the pools; a pool keeping its backends keeps its place in the rotation."""
        old = {tuple(p.backends): p for p in self.pools}
        pools = []
        for weight, backends in split:
            pool = old.get(tuple(backends)) or _Pool(weight, backends)
            pool.weight = weight
            pools.append(pool)
        self.pools = pools

    def order(self) -> list[str]:
        """The backends to try for one request: the chosen pool's first, then the other
        weighted pools' (a connection refused is retried elsewhere)."""
        live = [p for p in self.pools if p.weight > 0 and p.backends]
        if not live:
            return []
        total = sum(p.weight for p in live)
        for pool in live:
            pool.credit += pool.weight
        chosen = max(live, key=lambda p: p.credit)
        chosen.credit -= total
        return chosen.order() + [b for p in live if p is not chosen for b in p.order()]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        last_error = "no healthy Serve proxy behind this endpoint yet"
        assert self.session is not None
        for backend in self.order():
            url = f"http://{backend}{request.rel_url}"
            try:
                async with self.session.request(
                    request.method, url, headers=headers, data=body, allow_redirects=False
                ) as upstream:
                    payload = await upstream.read()
                    out_headers = {
                        k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
                    }
                    return web.Response(status=upstream.status, body=payload, headers=out_headers)
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                last_error = f"{backend}: {type(exc).__name__}"
                continue  # nothing was answered: the next proxy gets the request
        return web.Response(status=503, text=f"rayplane: {last_error}\n")


class ServeProxy:
    """Owns an asyncio loop in a thread, and one listener per RayService."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="serve-proxy", daemon=True
        )
        self._thread.start()
        self._endpoints: dict[str, _Endpoint] = {}

    def _call(self, coro: object) -> object:
        future: Future[object] = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        return future.result(timeout=30)

    def ensure(self, key: str, port: int, backends: Sequence[str]) -> None:
        """Listen on *port* for *key* (once) and forward to *backends* from now on."""
        self.ensure_split(key, port, [(100, backends)])

    def ensure_split(self, key: str, port: int, split: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Listen on *port* for *key* (once) and deal new requests to the pools of *split*
        ((weight, backends) pairs) in proportion to their weights from now on."""
        endpoint = self._endpoints.get(key)
        if endpoint is None or endpoint.port != port:
            if endpoint is not None:
                self.remove(key)
            endpoint = _Endpoint(port)
            self._call(self._start(endpoint))
            self._endpoints[key] = endpoint
        endpoint.route(split)

    def backends(self, key: str) -> list[str]:
        endpoint = self._endpoints.get(key)
        return list(endpoint.backends) if endpoint else []

    def pools(self, key: str) -> list[tuple[int, list[str]]]:
        """The (weight, backends) pools *key* forwards to now."""
        endpoint = self._endpoints.get(key)
        return [(p.weight, list(p.backends)) for p in endpoint.pools] if endpoint else []

    def remove(self, key: str) -> None:
        endpoint = self._endpoints.pop(key, None)
        if endpoint is not None:
            self._call(self._stop(endpoint))

    def close(self) -> None:
        for key in list(self._endpoints):
            self.remove(key)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self, endpoint: _Endpoint) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=2)
        endpoint.session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", endpoint.handle)
        endpoint.runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await endpoint.runner.setup()
        await web.TCPSite(endpoint.runner, "127.0.0.1", endpoint.port).start()
        log.info("serve endpoint listening on 127.0.0.1:%d", endpoint.port)

    async def _stop(self, endpoint: _Endpoint) -> None:
        if endpoint.runner is not None:
            await endpoint.runner.cleanup()
        if endpoint.session is not None:
            await endpoint.session.close()
