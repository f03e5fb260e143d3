"""The local serve endpoint's weighted split (KubeRay's HTTPRoute weights, on loopback)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from aiohttp import web

from rayplane.local.serve_proxy import ServeProxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Backends:
    """Two HTTP servers on loopback answering "old" and "new", each after *delay* seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ports = {name: free_port() for name in ("old", "new")}
        self.runners: list[web.AppRunner] = []
        for name, port in self.ports.items():
            asyncio.run_coroutine_threadsafe(self._serve(name, port), self.loop).result(10)

    async def _serve(self, name: str, port: int) -> None:
        async def answer(_: web.Request) -> web.Response:
            await asyncio.sleep(self.delay)
            return web.Response(text=name)

        app = web.Application()
        app.router.add_get("/", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.runners.append(runner)

    def addr(self, name: str) -> list[str]:
        return [f"127.0.0.1:{self.ports[name]}"]

    def close(self) -> None:
        for runner in self.runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def backends() -> Iterator[Backends]:
    found = Backends()
    yield found
    found.close()


@pytest.fixture
def proxy() -> Iterator[ServeProxy]:
    found = ServeProxy()
    yield found
    found.close()


def answers(url: str, n: int) -> Counter[str]:
    with httpx.Client(timeout=10) as client:
        return Counter(client.get(url).text for _ in range(n))


@pytest.mark.parametrize(("old", "new"), [(100, 0), (75, 25), (50, 50), (25, 75), (0, 100)])
def test_requests_are_dealt_in_proportion_to_the_weights(
    backends: Backends, proxy: ServeProxy, old: int, new: int
) -> None:
    port = free_port()
    proxy.ensure_split("svc", port, [(old, backends.addr("old")), (new, backends.addr("new"))])
    got = answers(f"http://127.0.0.1:{port}/", 100)
    assert got["old"] == old and got["new"] == new  # exact: the split is not left to chance


def test_changing_weights_under_load_drops_no_request(proxy: ServeProxy) -> None:
    slow = Backends(delay=0.05)
    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        proxy.ensure_split("svc", port, [(100, slow.addr("old")), (0, slow.addr("new"))])
        statuses: list[tuple[int, str]] = []

        def send(_: int) -> tuple[int, str]:
            with httpx.Client(timeout=10) as client:
                r = client.get(url)
                return r.status_code, r.text

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(send, i) for i in range(200)]
            for step, (old, new) in enumerate([(75, 25), (50, 50), (25, 75), (0, 100)]):
                futures[40 * (step + 1) - 1].result()
                proxy.ensure_split("svc", port, [(old, slow.addr("old")), (new, slow.addr("new"))])
            statuses = [f.result() for f in futures]
        assert {code for code, _ in statuses} == {200}
        texts = [text for _, text in statuses]
        assert texts[-10:] == ["new"] * 10  # after the last step nothing goes to the old one
        assert texts.count("old") > 0
    finally:
        slow.close()


def test_a_zero_weight_pool_gets_no_retry(backends: Backends, proxy: ServeProxy) -> None:
    """A refused connection is retried on another weighted pool, never on one at 0 %
    (its cluster may run no replica at all)."""
    port = free_port()
    dead = [f"127.0.0.1:{free_port()}"]
    proxy.ensure_split("svc", port, [(100, dead), (0, backends.addr("new"))])
    with httpx.Client(timeout=10) as client:
        assert client.get(f"http://127.0.0.1:{port}/").status_code == 503
    proxy.ensure_split("svc", port, [(50, dead), (50, backends.addr("new"))])
    assert answers(f"http://127.0.0.1:{port}/", 10) == Counter({"new": 10})
