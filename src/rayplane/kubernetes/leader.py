"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Two replicas of the operator must never both act. Each tries, every *retry_period*
seconds, to hold the Lease ``ray-operator-leader`` (KubeRay's election ID):

* no Lease: create it naming itself (a 409 means another replica was faster);
* the Lease names this replica: renew ``renewTime``;
* it names another replica whose ``renewTime + leaseDurationSeconds`` has passed: take it
  over (``leaseTransitions`` + 1);
* otherwise: follow.

Every write is a PUT carrying the resourceVersion just read, so two replicas racing for
an expired Lease cannot both win: the second gets 409 Conflict. A leader that cannot
renew within *renew_deadline* steps down (and the operator exits, as KubeRay's does, so
that it never acts on a lease it may have lost). On a clean shutdown the Lease is released
so a follower takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rayplane.kubernetes.kube import Kube, KubeError, micro_time
from rayplane.reconcile.gotime import parse_time

log = logging.getLogger(__name__)

LEASE_NAME = "ray-operator-leader"


def default_identity(pod_name: str | None = None) -> str:
    """``<pod name>_<uuid>``, like controller-runtime's; the hostname when no Pod name is
    given (in a Pod the hostname is the Pod's name)."""
    return f"{pod_name or socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    """Hold the Lease *namespace*/*name* while running; call back on gaining and losing it."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str = LEASE_NAME,
        *,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.is_leader = False
        self._last_renew: float | None = None

    async def run(
        self,
        on_started: Callable[[], Coroutine[Any, Any, None]],
        on_stopped: Callable[[], Awaitable[None]],
    ) -> None:
        """Campaign until cancelled; *on_stopped* runs when leadership is lost."""
        loop = asyncio.get_running_loop()
        started: asyncio.Task[None] | None = None
        try:
            while True:
                if started is not None and started.done() and not started.cancelled():
                    failure = started.exception()
                    if failure is not None:
                        raise failure
                try:
                    held = await self.try_acquire_or_renew()
                except KubeError as exc:
                    log.warning("leader election: %s", exc)
                    held = False
                now = loop.time()
                if held:
                    self._last_renew = now
                    if not self.is_leader:
                        self.is_leader = True
                        log.info("leader election: %s became the leader", self.identity)
                        # Beside the renewals, as client-go runs OnStartedLeading: a start
                        # that waits on a slow API server must not let the Lease lapse.
                        started = asyncio.create_task(on_started())
                elif self.is_leader and (
                    self._last_renew is None or now - self._last_renew > self.renew_deadline
                ):
                    self.is_leader = False
                    log.error("leader election: %s lost the lease", self.identity)
                    if started is not None:
                        started.cancel()
                    await on_stopped()
                    return
                await asyncio.sleep(self.retry_period)
        finally:
            if started is not None and not started.done():
                started.cancel()
            if self.is_leader:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.release())

    async def try_acquire_or_renew(self) -> bool:
        """One round; True when this replica holds the Lease afterwards."""
        now = dt.datetime.now(dt.UTC)
        lease = await self.kube.get("Lease", self.namespace, self.name)
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(now, now, 0),
            }
            try:
                await self.kube.create(body)
            except KubeError as exc:
                if exc.code == 409:
                    return False
                raise
            return True
        spec: dict[str, Any] = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity:
            renewed = parse_time(spec.get("renewTime")) or dt.datetime.min.replace(tzinfo=dt.UTC)
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            if renewed + dt.timedelta(seconds=duration) > now:
                return False
        if holder == self.identity:
            acquired = parse_time(spec.get("acquireTime")) or now
            transitions = int(spec.get("leaseTransitions") or 0)
        else:
            acquired = now
            transitions = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        lease["spec"] = self._spec(acquired, now, transitions)
        try:
            await self.kube.replace(lease)
        except KubeError as exc:
            if exc.code == 409:
                return False
            raise
        return True

    async def release(self) -> None:
        """Give the Lease up (empty holder, expired renewTime) so a follower takes over now."""
        lease = await self.kube.get("Lease", self.namespace, self.name)
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        spec = dict(lease.get("spec") or {})
        spec["holderIdentity"] = ""
        spec["leaseDurationSeconds"] = 1
        spec["renewTime"] = micro_time(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        lease["spec"] = spec
        await self.kube.replace(lease)
        self.is_leader = False

    def _spec(
        self, acquired: dt.datetime, renewed: dt.datetime, transitions: int
    ) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": micro_time(acquired),
            "renewTime": micro_time(renewed),
            "leaseTransitions": transitions,
        }
