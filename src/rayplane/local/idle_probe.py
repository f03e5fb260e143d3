"""Idle termination on the local runtime: probe each cluster's head, act on the decision.

Ray's autoscaler does this on KubeRay (Ray PR #65763), but a local cluster need not run
the autoscaler, so the controller asks the head's dashboard itself (see
:mod:`rayplane.clients.activity`), at most every ``PROBE_INTERVAL_S`` per cluster, and
only for clusters with ``spec.idleTerminationOptions``: a cluster without the setting
costs nothing. The decision is :func:`rayplane.reconcile.cluster.idle.decide_idle`.

Acting is what the autoscaler would write on KubeRay: ``policy: Suspend`` sets
``spec.idleSuspend: true`` (the RayCluster reconciler then stops every node, as for
``spec.suspend``), ``policy: Delete`` deletes the RayCluster. Either way an event says
why, and a suspended cluster's RayClusterSuspended condition carries the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from rayplane.api.raycluster import RayCluster
from rayplane.clients.activity import DashboardActivity, probe_activity
from rayplane.local.loopback import LOOPBACK_IP
from rayplane.local.store import Store, StoredNode, StoredResource
from rayplane.reconcile.cluster.idle import (
    IDLE_DELETED,
    IDLE_REASON_ANNOTATION,
    IDLE_SUSPENDED,
    POLICY_DELETE,
    Act,
    Activity,
    Busy,
    Disabled,
    IdleDecision,
    decide_idle,
    idle_setting,
    idle_since,
    summary,
)

log = logging.getLogger("rayplane.idle")

PROBE_INTERVAL_S = 5.0
PROBE_TIMEOUT_S = 3.0


@dataclass
class _Watch:
    """What the controller remembers of one cluster between probes."""

    head: str
    head_ready_at: datetime
    probed_at: datetime | None = None
    activity: Activity | None = None
    last_busy_at: datetime | None = None
    decision: IdleDecision | None = None


class IdleWatch:
    """Probes the heads of clusters that asked for idle termination, and acts."""

    def __init__(
        self,
        store: Store,
        client: httpx.Client | None = None,
        token: Callable[[StoredResource], str | None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._clock = clock
        # The cluster's Ray auth token when it has one: without it the probe is refused
        # with 401, and a cluster that is never seen idle is never suspended.
        self._token = token or (lambda _stored: None)
        self._client = client or httpx.Client(timeout=PROBE_TIMEOUT_S, trust_env=False)
        self._watches: dict[str, _Watch] = {}

    def close(self) -> None:
        self._client.close()

    def check(
        self, stored: StoredResource, cluster: RayCluster, nodes: list[StoredNode]
    ) -> IdleDecision:
        """Probe if due, decide, and suspend or delete when the decision says so."""
        setting = idle_setting(cluster)
        head = next(
            (
                n
                for n in nodes
                if n.kind == "head" and n.deleting is None and n.info.get("was_ready")
            ),
            None,
        )
        if setting is None or cluster.spec.suspended or head is None:
            self._watches.pop(stored.uid, None)  # a resumed cluster starts a new count
            if setting is None:
                return Disabled("no spec.idleTerminationOptions.timeoutSeconds")
            return Disabled("suspended" if cluster.spec.suspended else "the head is not ready")
        now = self._clock()
        watch = self._watches.get(stored.uid)
        if watch is None or watch.head != head.name:
            # The clock starts when the head is first seen ready, not when it was created:
            # a head that takes a minute to start has not been idle for that minute.
            watch = self._watches[stored.uid] = _Watch(head.name, now)
        activity = watch.activity
        due = watch.probed_at is None or (now - watch.probed_at).total_seconds() >= PROBE_INTERVAL_S
        if activity is None or due:
            was_busy = watch.activity is not None and watch.activity.busy
            activity = _activity(self._probe(head, self._token(stored)))
            watch.probed_at, watch.activity = now, activity
            if activity.busy or was_busy:
                # Busy until seen idle: whatever ran may have ended just before this probe.
                watch.last_busy_at = now
        since = idle_since(watch.head_ready_at, activity, watch.last_busy_at)
        decision = decide_idle(setting, since, now, activity)
        if isinstance(decision, Busy) != isinstance(watch.decision, Busy):
            log.info(
                "RayCluster %s/%s: idle check: %s", stored.namespace, stored.name, summary(decision)
            )
        watch.decision = decision
        if isinstance(decision, Act):
            self._act(stored, decision)
        return decision

    def describe(self, stored: StoredResource) -> str | None:
        """The countdown line `describe` shows, or None when the cluster has no setting."""
        if stored.kind != "RayCluster":
            return None
        cluster = RayCluster.model_validate(stored.document())
        if idle_setting(cluster) is None:
            return None
        if cluster.spec.idle_suspend:
            reason = cluster.annotation(IDLE_REASON_ANNOTATION) or "spec.idleSuspend is true"
            return f"suspended: {reason}; set spec.idleSuspend to false (or apply again) to resume"
        watch = self._watches.get(stored.uid)
        if watch is None or watch.decision is None:
            return "waiting for the head to be ready"
        return summary(watch.decision)

    def _probe(self, head: StoredNode, token: str | None) -> DashboardActivity:
        port = head.ports.get("dashboard")
        if port is None:
            return DashboardActivity(error="the head has no dashboard port")
        return probe_activity(self._client, f"http://{LOOPBACK_IP}:{port}", token)

    def _act(self, stored: StoredResource, decision: Act) -> None:
        self._watches.pop(stored.uid, None)
        if decision.policy == POLICY_DELETE:
            self.store.event(
                stored.uid, IDLE_DELETED, f"Deleting the RayCluster: {decision.reason}"
            )
            log.info("RayCluster %s/%s deleted: %s", stored.namespace, stored.name, decision.reason)
            self.store.mark_deleting(stored.kind, stored.namespace, stored.name)
            return

        def suspend(body: dict[str, Any]) -> None:
            body.setdefault("spec", {})["idleSuspend"] = True
            meta = body.setdefault("metadata", {})
            annotations = meta.get("annotations") or {}
            annotations[IDLE_REASON_ANNOTATION] = decision.reason
            meta["annotations"] = annotations

        self.store.modify_body(stored.uid, suspend)
        self.store.event(
            stored.uid, IDLE_SUSPENDED, f"Suspending the RayCluster: {decision.reason}"
        )
        log.info("RayCluster %s/%s suspended: %s", stored.namespace, stored.name, decision.reason)


def _activity(found: DashboardActivity) -> Activity:
    last = (
        datetime.fromtimestamp(found.last_activity_at, UTC)
        if found.last_activity_at is not None
        else None
    )
    return Activity(
        drivers=found.drivers, jobs=found.jobs, last_activity_at=last, error=found.error
    )
