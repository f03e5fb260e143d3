"""The fake API server itself: its lifecycle, its thread, and direct access for tests.

:class:`FakeKubernetes` puts the pieces together (:mod:`.objects` holds the objects and
their rules, :mod:`.watch` the change history and watches, :mod:`.http_api` the REST
face, :mod:`.kubelet` the simulated kubelet, :mod:`.faults` the injected failures) and
serves them over real HTTP(S) on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import copy
import tempfile
import threading
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from aiohttp import web

from rayplane.kubernetes.testing.fake_api.faults import Faults, Injected
from rayplane.kubernetes.testing.fake_api.http_api import ApiHttp, Recorded
from rayplane.kubernetes.testing.fake_api.kubelet import SimulatedKubelet
from rayplane.kubernetes.testing.fake_api.objects import ObjectStore
from rayplane.kubernetes.testing.fake_api.resources import Obj, ResourceType
from rayplane.kubernetes.testing.fake_api.tls import self_signed_context

P = ParamSpec("P")
T = TypeVar("T")


def _threadsafe(method: Callable[P, T]) -> Callable[P, T]:
    """Run a direct-access method on the fake's own loop when it runs in a thread."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        self = args[0]
        assert isinstance(self, FakeKubernetes)
        loop = self._thread_loop
        if loop is None or threading.current_thread() is self._thread:
            return method(*args, **kwargs)
        done: dict[str, Any] = {}
        ready = threading.Event()

        def call() -> None:
            try:
                done["value"] = method(*args, **kwargs)
            except BaseException as exc:
                done["error"] = exc
            finally:
                ready.set()

        loop.call_soon_threadsafe(call)
        ready.wait()
        if "error" in done:
            raise done["error"]
        value: T = done["value"]
        return value

    return wrapper


class FakeKubernetes:
    """The fake API server. ``async with FakeKubernetes() as kube: kube.url ...``.

    *tls* serves HTTPS with a self-signed certificate for 127.0.0.1/localhost
    (:attr:`ca_file` verifies it); *token* makes every request need
    ``Authorization: Bearer <token>``. *auto_ready_pods* (seconds) plays the kubelet: each
    new Pod becomes Running and Ready that long after it is created. *history* is how many
    events a watch can resume from before it gets 410 Gone.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        token: str | None = None,
        auto_ready_pods: float | None = None,
        history: int = 200_000,
        record: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.token = token
        self.auto_ready_pods = auto_ready_pods
        self.record = record
        self.store = ObjectStore(history)
        self.types = self.store.types
        self.kubelet = SimulatedKubelet(self.store, auto_ready_pods)
        self.faults = Faults()
        self.requests: list[Recorded] = []
        self._runner: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: Path | None = None
        self._stopping = asyncio.Event()
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> FakeKubernetes:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.http = ApiHttp(
            self.store,
            self.faults,
            self._stopping,
            token=self.token,
            record=self.record,
            requests=self.requests,
        )
        app.router.add_route("*", "/{tail:.*}", self.http.handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        context = None
        if self.tls:
            context, self._tmp, self.ca_file = self_signed_context(self.host)
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopping.set()
        self.kubelet.cancel()
        self.store.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> FakeKubernetes:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> FakeKubernetes:
        """Serve from a thread with its own event loop (what tests of a client that shares
        the caller's loop, like kopf, which waits for every task of its loop on exit, or of a
        blocking client, like the Ray autoscaler's, need). Direct-access methods then run on
        that loop and are safe to call from any thread."""
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            asyncio.set_event_loop(loop)
            self._stopping = asyncio.Event()
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-kubernetes", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def stop_thread(self) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread_loop = None
        self._thread = None

    # -- direct access for tests ----------------------------------------------------------------

    def rtype(self, plural: str, group: str | None = None) -> ResourceType:
        return self.store.rtype(plural, group)

    @_threadsafe
    def objects(
        self,
        plural: str,
        namespace: str | None = None,
        labels: str | None = None,
        group: str | None = None,
    ) -> list[Obj]:
        """Copies of the stored objects of *plural* (in *namespace*, matching *labels*)."""
        return self.store.objects(plural, namespace, labels, group)

    @_threadsafe
    def get(self, plural: str, namespace: str, name: str, group: str | None = None) -> Obj | None:
        return self.store.get(plural, namespace, name, group)

    @_threadsafe
    def create(self, obj: Obj, namespace: str | None = None) -> Obj:
        """Create *obj* as a client's POST would (validation of the envelope only)."""
        rtype = self.store.type_of(obj)
        ns = namespace or obj.get("metadata", {}).get("namespace") or "default"
        return copy.deepcopy(self.store.create(rtype, ns if rtype.namespaced else "", obj))

    @_threadsafe
    def delete(self, plural: str, namespace: str, name: str, group: str | None = None) -> None:
        self.store.delete(self.rtype(plural, group), namespace, name, "Background")

    @_threadsafe
    def patch_status(
        self, plural: str, namespace: str, name: str, status: Obj, group: str | None = None
    ) -> Obj:
        """Merge *status* into the object's status (what a kubelet or controller reports)."""
        return self.store.patch_status(plural, namespace, name, status, group)

    @_threadsafe
    def set_pod_phase(
        self, namespace: str, name: str, phase: str = "Running", ready: bool = True
    ) -> Obj:
        """Play the kubelet: *phase*, an IP, the Ready condition and container statuses."""
        return self.kubelet.set_pod_phase(namespace, name, phase, ready)

    @_threadsafe
    def ready_pods(self, namespace: str | None = None, labels: str | None = None) -> list[str]:
        """Every matching Pod not yet Ready becomes Running and Ready; their names."""
        return self.kubelet.ready_pods(namespace, labels)

    @_threadsafe
    def finish_job(self, namespace: str, name: str, succeeded: bool = True) -> Obj:
        """Mark a batch Job Complete (or Failed), as the Job controller would."""
        return self.kubelet.finish_job(namespace, name, succeeded)

    def inject(
        self,
        method: str,
        plural: str,
        *,
        subresource: str | None = None,
        name: str | None = None,
        code: int = 409,
        times: int = 1,
    ) -> Injected:
        """Make the next *times* matching requests fail with *code* (409 by default)."""
        return self.faults.add(Injected(method.upper(), plural, subresource, name, code, times))

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02
    ) -> Any:
        """Poll *predicate* until it returns something truthy; TimeoutError after *timeout*.

        The default bound is generous on purpose: it only ends a wait for something that is
        not going to happen, and must not fail a test on a slow or busy machine.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)


def seed(kube: FakeKubernetes, documents: Iterable[Obj], namespace: str = "default") -> list[Obj]:
    """Create every document in *kube* (what ``kubectl apply -f`` would do on an empty API)."""
    return [kube.create(doc, namespace) for doc in documents]
