"""The RayCluster controller: one idempotent pass per RayCluster, KubeRay's reconcile order.

1. Skip a cluster managed by another controller (spec.managedBy).
2. Validate; an invalid cluster gets a Warning event and no requeue. A valid one asking
   for security this operator does not provide gets a Warning event per gap
   (:mod:`rayplane.kubernetes.unhonoured`).
3. GCS FT with Redis: keep the finalizer ``ray.io/gcs-ft-redis-cleanup-finalizer`` on it; when
   it is deleted, delete its Pods, wait for the head to go, run the Redis cleanup Job, and
   drop the finalizer when the Job finishes, or at the deadline (annotation
   ``ray.io/gcs-ft-deletion-timeout``, seconds, default 300) even if it never does.
4. Children in KubeRay's order, each created once if missing: autoscaler ServiceAccount,
   Role, RoleBinding; Ingress; head, headless and serve Services; the GCS PVC. The
   token-auth Secret (:mod:`rayplane.kubernetes.auth_secret`) comes first here, where
   KubeRay makes it after the Ingress: either way before any Pod that reads it.
5. Pods: list them by ``ray.io/cluster``, hand them to the pure reconciler, create and
   delete what it plans (builders make every Pod), and remember failures for the next pass
   (they become the ReplicaFailure condition, and Warning events now).
6. Write the status the reconciler computed to the status subresource, only if it changed.

Pods come from the operator's own Pod watch where that is safe and are listed otherwise
(:mod:`rayplane.kubernetes.pod_index`: KubeRay's informer cache and "expectations", kept
small).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import ClassVar

from rayplane.api.raycluster import RayCluster
from rayplane.kubernetes.auth_secret import ensure_auth_secret
from rayplane.kubernetes.builders import (
    BuildError,
    embedded_ft,
    ft_enabled,
    pods_for,
    redis_cleanup_job,
)
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.names import head_service_name, redis_cleanup_job_name
from rayplane.kubernetes.cluster_idle import IdleChecks
from rayplane.kubernetes.controller import KindController
from rayplane.kubernetes.kube import KubeError, Obj
from rayplane.kubernetes.operator_context import OperatorContext
from rayplane.kubernetes.pod_index import PodIndex
from rayplane.kubernetes.pod_nodes import observed_node, service_info
from rayplane.kubernetes.render import cluster_children
from rayplane.kubernetes.unhonoured import unhonoured
from rayplane.reconcile.cluster import (
    PROVISIONED,
    CreateNode,
    DeleteNode,
    ObservedCluster,
    failure,
    reconcile_cluster,
    status_wire,
)
from rayplane.reconcile.conditions import is_true
from rayplane.reconcile.gotime import parse_time

REDIS_CLEANUP_FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"
DELETION_TIMEOUT_ANNOTATION = "ray.io/gcs-ft-deletion-timeout"
DEFAULT_DELETION_TIMEOUT_SECONDS = 300.0
ERROR_REQUEUE_SECONDS = 2.0
POD_WRITES_IN_FLIGHT = 16


# -- GCS fault tolerance: the Redis cleanup's deadline and Job ----------------------------------


def _deletion_timeout(raw: Obj) -> float:
    text = (
        (raw["metadata"].get("annotations") or {}).get(DELETION_TIMEOUT_ANNOTATION) or ""
    ).strip()
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_DELETION_TIMEOUT_SECONDS
    return value if value > 0 else DEFAULT_DELETION_TIMEOUT_SECONDS


def _job_finished(job: Obj) -> str | None:
    """ "Complete" or "Failed" once the batch Job has that condition True."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


Reads = tuple[list[Obj], list[Obj]]  # the cluster's Services and its Pods


class RayClusterController(KindController[RayCluster, Reads]):
    """RayClusters; remembers the previous pass's failures, the children known to exist
    and each cluster's Pods as the watch saw them."""

    kind: ClassVar[str] = "RayCluster"
    model = RayCluster

    def __init__(self, ctx: OperatorContext) -> None:
        super().__init__(ctx)
        # The failures of the previous pass's actions (ObservedCluster.failures).
        self.failures: dict[tuple[str, str], list[str]] = {}
        # Children known to exist (uid, kind, name): not re-created every pass.
        self.ensured: set[tuple[str, str, str]] = set()
        # Each cluster's Pods as the watch saw them (see pod_index).
        self.pods = PodIndex()
        # spec.idleTerminationOptions: who probes which head, and when.
        self.idle = IdleChecks(ctx)

    async def read(self, namespace: str, name: str) -> tuple[Obj | None, Reads]:
        """The three reads a pass needs go out together: a pass waits for one round trip,
        not three, before it decides."""
        raw, services, listed = await asyncio.gather(
            self.ctx.kube.get("RayCluster", namespace, name),
            self.ctx.kube.select("Service", namespace, {L.CLUSTER: name}),
            self.cluster_pods(namespace, name),
        )
        return raw, (services, listed)

    def forget(self, namespace: str, name: str) -> None:
        self.ctx.metrics.cluster_gone(namespace, name)
        self.failures.pop((namespace, name), None)
        self.pods.forget((namespace, name))
        self.idle.forget(namespace, name)

    async def cluster_pods(self, namespace: str, cluster: str) -> list[Obj]:
        """A RayCluster's Pods: from the watch when it can be trusted, else listed."""
        key = (namespace, cluster)
        cached = self.pods.pods(key)
        if cached is not None:
            return cached
        listed = await self.ctx.kube.select("Pod", namespace, {L.CLUSTER: cluster})
        self.pods.listed(key, listed)
        return listed

    async def sync(self, raw: Obj, model: RayCluster, reads: Reads) -> float | None:
        """The pass over a valid RayCluster, in KubeRay's order (the module's list)."""
        services, listed = reads
        namespace, name = model.namespace, model.name
        cluster = model
        for reason, message in unhonoured(name, cluster.spec):
            await self.ctx.event(raw, reason, message, warning=True, once=True)

        fault_tolerant = (
            ft_enabled(cluster)
            and not embedded_ft(cluster)
            and self.ctx.config.build.gcs_ft_redis_cleanup
        )
        meta = raw["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if REDIS_CLEANUP_FINALIZER in finalizers:
                return await self._clean_up_redis(raw, cluster)
            return None
        if fault_tolerant and REDIS_CLEANUP_FINALIZER not in finalizers:
            raw = await self.ctx.set_finalizer(raw, REDIS_CLEANUP_FINALIZER, True)

        try:
            secret = await ensure_auth_secret(self.ctx.kube, cluster)  # before any Pod reads it
            if secret is not None:
                child = secret["metadata"]["name"]
                await self.ctx.event(raw, "CreatedSecret", f"Created Secret {namespace}/{child}")
            await self._ensure_children(raw, cluster, {s["metadata"]["name"] for s in services})
        except (KubeError, BuildError) as exc:
            await self.ctx.event(raw, "FailedToCreateChild", str(exc), warning=True)
            return ERROR_REQUEUE_SECONDS

        pods = [
            p
            for p in listed
            if (p["metadata"].get("labels") or {}).get(L.NODE_TYPE) in (L.HEAD, L.WORKER)
        ]
        nodes = [observed_node(pod) for pod in pods]
        head_ip = next((n.ip for n in nodes if n.kind == "head" and not n.deleting), None)
        head_svc_name = head_service_name(name, cluster.spec)
        head_svc = next((s for s in services if s["metadata"]["name"] == head_svc_name), None)
        observed = ObservedCluster(
            nodes=nodes,
            service=service_info(head_svc, head_ip) if head_svc is not None else None,
            failures=self.failures.pop((namespace, name), []),
        )
        now = self.ctx.clock()
        plan = reconcile_cluster(cluster, observed, now)
        failures = await self._carry_out(raw, cluster, plan.actions)
        if failures:
            self.failures[(namespace, name)] = failures
        if not observed.failures and not failures:  # each failure was posted when it happened
            # Pod creations and deletions are posted by _act, with the names the API server gave.
            for event in plan.events:
                if event.warns:
                    await self.ctx.event(raw, event.reason, event.message, warning=True, once=True)

        before = is_true(cluster.status.conditions if cluster.status else None, PROVISIONED)
        after = is_true(plan.status.conditions, PROVISIONED)
        if plan.changed:
            await self.ctx.write_status(raw, status_wire(plan.status))
        owner = (meta.get("labels") or {}).get(L.ORIGINATED_FROM_CRD) or "None"
        self.ctx.metrics.cluster_seen(namespace, name, owner, after)
        if after and not before:
            created = parse_time(meta.get("creationTimestamp"))
            if created is not None:
                self.ctx.metrics.cluster_provisioned(
                    namespace, name, (now - created).total_seconds()
                )
        if failures:
            return ERROR_REQUEUE_SECONDS
        idle_recheck = await self.idle.check(raw, cluster, nodes, now)
        if idle_recheck is not None:
            return min(plan.requeue_after, idle_recheck)
        return plan.requeue_after

    async def _ensure_children(self, raw: Obj, cluster: RayCluster, services: set[str]) -> None:
        """Create each missing child; the first error stops the chain, as in KubeRay."""
        uid = raw["metadata"]["uid"]
        for manifest in cluster_children(cluster, self.ctx.config.build):
            kind = manifest["kind"]
            child = manifest["metadata"]["name"]
            # Services the pass listed (by ray.io/cluster) are checked every pass, so a deleted
            # head Service comes back; the ones that list cannot see (the headless worker
            # Service is labelled otherwise) are remembered once they exist, like other kinds.
            visible = L.CLUSTER in (manifest["metadata"].get("labels") or {})
            if kind == "Service" and visible:
                if child in services:
                    continue
            elif (uid, kind, child) in self.ensured:
                continue
            created = await self.ctx.kube.ensure(manifest)
            self.ensured.add((uid, kind, child))
            if created is not None:
                await self.ctx.event(
                    raw, f"Created{kind}", f"Created {kind} {cluster.namespace}/{child}"
                )

    async def _carry_out(
        self, raw: Obj, cluster: RayCluster, actions: list[CreateNode | DeleteNode]
    ) -> list[str]:
        """Create and delete the planned Pods; the failures, for the next pass's observation.

        The plan's actions are independent of each other, so they go to the API server at
        once (a few at a time): a pass that adds a head and three workers waits for one round
        trip, not four.
        """
        slots = asyncio.Semaphore(POD_WRITES_IN_FLIGHT)

        async def act(action: CreateNode | DeleteNode) -> list[str]:
            async with slots:
                return await self._act(raw, cluster, action)

        outcomes = await asyncio.gather(*(act(a) for a in actions))
        return [entry for found in outcomes for entry in found]

    async def _act(
        self, raw: Obj, cluster: RayCluster, action: CreateNode | DeleteNode
    ) -> list[str]:
        ns = cluster.namespace
        try:
            if isinstance(action, CreateNode):
                for manifest in pods_for(cluster, action, self.ctx.config.build):
                    pod = await self.ctx.kube.create(manifest)
                    self.pods.created((ns, cluster.name), pod)
                    what = "Head" if action.kind == "head" else "Worker"
                    await self.ctx.event(
                        raw,
                        f"Created{what}Pod",
                        f"Created {what.lower()} Pod {ns}/{pod['metadata']['name']}",
                    )
            else:
                self.pods.deleted((ns, cluster.name), action.name)
                await self.ctx.kube.delete("Pod", ns, action.name)
                what = "Head" if action.kind == "head" else "Worker"
                await self.ctx.event(
                    raw, f"Deleted{what}Pod", f"Deleted Pod {ns}/{action.name} ({action.reason})"
                )
        except (KubeError, BuildError) as exc:
            entry = failure(action, exc)
            reason, _, message = entry.partition(": ")
            await self.ctx.event(raw, reason, message, warning=True)
            return [entry]
        return []

    async def _clean_up_redis(self, raw: Obj, cluster: RayCluster) -> float | None:
        """KubeRay's Redis cleanup: pods gone, cleanup Job run, finalizer removed (or timed out)."""
        ns, name = cluster.namespace, cluster.name
        now = self.ctx.clock()
        deleted_at = parse_time(raw["metadata"].get("deletionTimestamp")) or now
        deadline = deleted_at + dt.timedelta(seconds=_deletion_timeout(raw))
        if now >= deadline:
            await self.ctx.event(
                raw,
                "RedisCleanupTimeout",
                f"The Redis cleanup did not finish within {_deletion_timeout(raw):g}s of the "
                f"deletion; removed the finalizer {REDIS_CLEANUP_FINALIZER} anyway. Delete the "
                "cluster's keys from Redis by hand if they are still there.",
                warning=True,
            )
            await self.ctx.set_finalizer(raw, REDIS_CLEANUP_FINALIZER, False)
            return None
        remaining = (deadline - now).total_seconds()
        requeue = max(0.05, min(ERROR_REQUEUE_SECONDS, remaining))

        pods = await self.ctx.kube.select("Pod", ns, {L.CLUSTER: name})
        ray_pods = [
            p
            for p in pods
            if (p["metadata"].get("labels") or {}).get(L.NODE_TYPE) in (L.HEAD, L.WORKER)
        ]
        for pod in ray_pods:
            if not pod["metadata"].get("deletionTimestamp"):
                await self.ctx.kube.delete("Pod", ns, pod["metadata"]["name"])
        if any((p["metadata"].get("labels") or {}).get(L.NODE_TYPE) == L.HEAD for p in ray_pods):
            return requeue  # the head must be gone before the GCS data can be removed

        job = await self.ctx.kube.get("Job", ns, redis_cleanup_job_name(name))
        if job is None:
            await self.ctx.kube.ensure(redis_cleanup_job(cluster, self.ctx.config.build))
            await self.ctx.event(
                raw, "CreatedRedisCleanupJob", f"Created Job {ns}/{redis_cleanup_job_name(name)}"
            )
            return requeue
        outcome = _job_finished(job)
        if outcome is None:
            return requeue
        if outcome == "Complete":
            await self.ctx.event(raw, "RedisCleanupComplete", "The GCS data was removed from Redis")
        else:
            await self.ctx.event(
                raw,
                "RedisCleanupFailed",
                f"Job {ns}/{redis_cleanup_job_name(name)} failed; removed the finalizer anyway. "
                "Delete the cluster's keys from Redis by hand.",
                warning=True,
            )
        await self.ctx.set_finalizer(raw, REDIS_CLEANUP_FINALIZER, False)
        return None
