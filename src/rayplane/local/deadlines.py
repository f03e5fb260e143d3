"""Deadlines for the API server's requests, all kept by one thread.

Each request gets a deadline for arriving whole; a thread per request (threading.Timer)
halved the server's request rate, so one watcher thread holds every deadline in a heap and
runs the callback of each that passes before it is cancelled.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Deadline:
    at: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    active: bool = field(default=True, compare=False)

    def cancel(self) -> None:
        self.active = False  # left in the heap; dropped when its time comes


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[Deadline] = []
        self._seq = itertools.count()
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="api-deadlines", daemon=True)
        self._thread.start()

    def add(self, seconds: float, callback: Callable[[], None]) -> Deadline:
        deadline = Deadline(time.monotonic() + seconds, next(self._seq), callback)
        with self._changed:
            heapq.heappush(self._heap, deadline)
            if self._heap[0] is deadline:
                self._changed.notify()
        return deadline

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._closed:
                    while self._heap and not self._heap[0].active:
                        heapq.heappop(self._heap)
                    if self._heap and self._heap[0].at <= time.monotonic():
                        due = heapq.heappop(self._heap)
                        break
                    wait = self._heap[0].at - time.monotonic() if self._heap else None
                    self._changed.wait(wait)
                else:
                    return
            due.callback()
