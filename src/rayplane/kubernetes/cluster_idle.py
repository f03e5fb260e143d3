"""Idle termination in the operator: the local runtime's probe, over the head Service.

On KubeRay the Ray autoscaler sidecar watches for idleness (Ray PR #65763) and the operator
only honours ``spec.idleSuspend`` (PR #5210). Here the operator probes the head's dashboard
itself, through the same client as the local runtime
(:mod:`rayplane.clients.activity`), so a cluster without in-tree autoscaling is covered
too; the autoscaler, when it runs, may set ``idleSuspend`` first, which has the same effect.

Only clusters with ``spec.idleTerminationOptions`` are probed, at most every
``PROBE_INTERVAL_S``; the pass's requeue is shortened so the countdown is checked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from rayplane.api.raycluster import RayCluster
from rayplane.clients.activity import DashboardActivity, probe_activity
from rayplane.kubernetes.auth_secret import cluster_token
from rayplane.kubernetes.builders import dashboard_port, head_fqdn
from rayplane.kubernetes.kube import KubeError, Obj
from rayplane.kubernetes.operator_context import OperatorContext
from rayplane.reconcile.cluster import ObservedNode
from rayplane.reconcile.cluster.idle import (
    IDLE_DELETED,
    IDLE_REASON_ANNOTATION,
    IDLE_SUSPENDED,
    POLICY_DELETE,
    Act,
    Activity,
    Keep,
    decide_idle,
    idle_setting,
    idle_since,
)

PROBE_INTERVAL_S = 5.0
DEFAULT_DASHBOARD_PORT = 8265


@dataclass
class _Watch:
    head: str
    head_ready_at: datetime
    probed_at: float = 0.0
    activity: Activity | None = None
    last_busy_at: datetime | None = None


class IdleChecks:
    """Per-cluster probe memory of the operator's RayCluster controller."""

    def __init__(self, ctx: OperatorContext) -> None:
        self.ctx = ctx
        self._watches: dict[tuple[str, str], _Watch] = {}

    def forget(self, namespace: str, name: str) -> None:
        self._watches.pop((namespace, name), None)

    async def check(
        self, raw: Obj, cluster: RayCluster, nodes: list[ObservedNode], now: datetime
    ) -> float | None:
        """Probe if due and act; the seconds until the next check, or None (not watched)."""
        key = (cluster.namespace, cluster.name)
        setting = idle_setting(cluster)
        head = next(
            (n for n in nodes if n.kind == "head" and not n.deleting and n.running_and_ready),
            None,
        )
        if setting is None or cluster.spec.suspended or head is None:
            self._watches.pop(key, None)
            return None
        watch = self._watches.get(key)
        if watch is None or watch.head != head.name:
            # From the head's first ready pass: image pulls are not idleness.
            watch = self._watches[key] = _Watch(head.name, now)
        if watch.activity is None or time.monotonic() - watch.probed_at >= PROBE_INTERVAL_S:
            watch.probed_at = time.monotonic()
            port = dashboard_port(cluster) or DEFAULT_DASHBOARD_PORT
            url = f"http://{head_fqdn(cluster, self.ctx.config.build)}:{port}"
            token = await cluster_token(self.ctx.kube, cluster)
            found = await self.ctx.in_thread(lambda: self._probe(url, token))
            was_busy = watch.activity is not None and watch.activity.busy
            watch.activity = _activity(found)
            if watch.activity.busy or was_busy:  # busy until seen idle
                watch.last_busy_at = now
        since = idle_since(watch.head_ready_at, watch.activity, watch.last_busy_at)
        decision = decide_idle(setting, since, now, watch.activity)
        if isinstance(decision, Act):
            self._watches.pop(key, None)
            await self._act(raw, cluster, decision)
            return None
        if isinstance(decision, Keep):
            return max(1.0, min(PROBE_INTERVAL_S, decision.remaining_seconds))
        return PROBE_INTERVAL_S

    def _probe(self, url: str, token: str | None) -> DashboardActivity:
        with httpx.Client(
            timeout=self.ctx.config.dashboard_timeout,
            transport=self.ctx.config.dashboard_transport,
            trust_env=False,
        ) as client:
            return probe_activity(client, url, token)

    async def _act(self, raw: Obj, cluster: RayCluster, decision: Act) -> None:
        ns, name = cluster.namespace, cluster.name
        try:
            if decision.policy == POLICY_DELETE:
                await self.ctx.event(
                    raw, IDLE_DELETED, f"Deleting the RayCluster: {decision.reason}"
                )
                await self.ctx.kube.delete("RayCluster", ns, name)
                return
            patch: Obj = {
                "metadata": {"annotations": {IDLE_REASON_ANNOTATION: decision.reason}},
                "spec": {"idleSuspend": True},
            }
            await self.ctx.kube.patch("RayCluster", ns, name, patch)
            await self.ctx.event(
                raw, IDLE_SUSPENDED, f"Suspending the RayCluster: {decision.reason}"
            )
        except KubeError as exc:
            await self.ctx.event(
                raw, "FailedIdleTermination", f"{decision.reason}, but: {exc}", warning=True
            )


def _activity(found: DashboardActivity) -> Activity:
    last = (
        datetime.fromtimestamp(found.last_activity_at, UTC)
        if found.last_activity_at is not None
        else None
    )
    return Activity(found.drivers, found.jobs, last, found.error)
