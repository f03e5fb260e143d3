"""A bounded HTTP load against a loopback endpoint: N requests/s for T seconds, then stop."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    bodies: list[dict[str, object]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.ok + len(self.failures)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Load:
    """Send GET *url* at *rate* per second for *seconds*, in the background.

    ``stop()`` ends it early (a test that waits for an event, not a fixed time), so
    *seconds* is an upper bound on both the duration and the request count.
    """

    def __init__(self, url: str, rate: float = 20, seconds: float = 60) -> None:
        assert url.startswith("http://127.0.0.1:"), "load goes to loopback only"
        self.url, self.rate, self.seconds = url, rate, seconds
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stopped = threading.Event()

    def start(self) -> Load:
        self._thread.start()
        return self

    def wait(self) -> LoadResult:
        self._thread.join(timeout=self.seconds + 60)
        return self.result

    def stop(self) -> LoadResult:
        """Send no more requests; wait for those in flight and return the result."""
        self._stopped.set()
        self._thread.join(timeout=60)
        return self.result

    def _one(self, client: httpx.Client, index: int) -> None:
        start = time.monotonic()
        try:
            response = client.get(self.url, params={"text": f"request {index}"})
            good = response.status_code == 200
            detail = f"HTTP {response.status_code}: {response.text[:120]}"
        except httpx.HTTPError as exc:
            good, detail = False, f"{type(exc).__name__}: {exc}"
        with self._lock:
            if good:
                self.result.ok += 1
                self.result.latencies.append(time.monotonic() - start)
                self.result.bodies.append(response.json())
            else:
                self.result.failures.append(f"#{index} at {start:.1f}: {detail}")

    def _run(self) -> None:
        futures: list[Future[None]] = []
        with httpx.Client(timeout=20) as client, ThreadPoolExecutor(16) as pool:
            begin = time.monotonic()
            count = int(self.rate * self.seconds)
            for index in range(count):
                target = begin + index / self.rate
                delay = target - time.monotonic()
                if self._stopped.wait(delay if delay > 0 else 0):
                    break
                futures.append(pool.submit(self._one, client, index))
            for future in futures:
                future.result()
