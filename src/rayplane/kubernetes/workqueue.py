"""A level-based work queue: keys in, one reconcile per key at a time, requeue after N seconds.

kopf is the reactor: its watch handlers only *add keys* here. The queue is what
controller-runtime gives KubeRay:

* a key that is queued already is not queued twice (a burst of pod events is one pass);
* a key is never reconciled by two workers at once; an event that arrives while it runs
  marks it dirty and it runs once more afterwards;
* at most *concurrency* keys run at once (``--reconcile-concurrency``, KubeRay's default 1);
* a pass returns its requeue delay (None: only on the next event); a pass that raises is
  retried with a per-key exponential backoff (KubeRay: 2 s, doubled, capped);
* delayed adds keep only the earliest deadline per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)

BACKOFF_START_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 60.0


class WorkQueue(Generic[K]):
    """Run ``worker(key) -> requeue_after`` for added keys, *concurrency* at a time."""

    def __init__(
        self,
        worker: Callable[[K], Awaitable[float | None]],
        concurrency: int = 1,
        *,
        on_error: Callable[[K, BaseException], None] | None = None,
    ) -> None:
        self.worker = worker
        self.concurrency = max(1, concurrency)
        self.on_error = on_error
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._running: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[K, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.passes = 0

    # -- adding ---------------------------------------------------------------------------------

    def add(self, key: K, delay: float = 0.0) -> None:
        """Queue *key* now, or in *delay* seconds (the earliest pending deadline wins)."""
        if delay > 0:
            self._add_later(key, delay)
            return
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[1].cancel()
        if key in self._running:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _add_later(self, key: K, delay: float) -> None:
        loop = asyncio.get_running_loop()
        due = time.monotonic() + delay
        existing = self._timers.get(key)
        if existing is not None:
            if existing[0] <= due:
                return
            existing[1].cancel()
        handle = loop.call_later(delay, self._fire, key)
        self._timers[key] = (due, handle)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def forget(self, key: K) -> None:
        """Drop a pending delayed add and the backoff of *key* (its object is gone)."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[1].cancel()
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._queued) + len(self._running)

    @property
    def idle(self) -> bool:
        return not self._queued and not self._running

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._work(), name=f"reconcile-worker-{i}")
            for i in range(self.concurrency)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._running.add(key)
            delay: float | None
            try:
                delay = await self.worker(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                self._running.discard(key)
                raise
            except Exception as exc:
                failures = self._failures.get(key, 0)
                self._failures[key] = failures + 1
                delay = min(BACKOFF_CAP_SECONDS, BACKOFF_START_SECONDS * 2**failures)
                if self.on_error is not None:
                    self.on_error(key, exc)
                else:
                    log.warning("reconcile of %s failed: %s", key, exc)
            finally:
                self.passes += 1
            self._running.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            if delay is not None:
                self.add(key, delay)
