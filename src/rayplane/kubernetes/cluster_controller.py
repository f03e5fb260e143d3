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
   Role, RoleBinding; Ingress; head, headless and serve Services; the GCS PVC.
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

from rayplane.api.raycluster import RayCluster
from rayplane.kubernetes.builders import (
    BuildError,
    embedded_ft,
    ft_enabled,
    pods_for,
    redis_cleanup_job,
)
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.names import head_service_name, redis_cleanup_job_name
from rayplane.kubernetes.kube import KubeError, Obj, parse_time
from rayplane.kubernetes.render import cluster_children
from rayplane.kubernetes.runtime import Runtime, managed_elsewhere
from rayplane.kubernetes.unhonoured import unhonoured
from rayplane.reconcile.cluster import (
    PROVISIONED,
    CreateNode,
    DeleteNode,
    ObservedCluster,
    ObservedNode,
    Phase,
    ServiceInfo,
    failure,
    reconcile_cluster,
    status_wire,
)
from rayplane.reconcile.conditions import is_true

REDIS_CLEANUP_FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"
DELETION_TIMEOUT_ANNOTATION = "ray.io/gcs-ft-deletion-timeout"
DEFAULT_DELETION_TIMEOUT_SECONDS = 300.0
ERROR_REQUEUE_SECONDS = 2.0
POD_WRITES_IN_FLIGHT = 16

_PHASES = ("Pending", "Running", "Failed", "Succeeded", "Unknown")


# -- observation ---------------------------------------------------------------------------------


def _ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _ray_container_terminated(pod: Obj) -> bool:
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return False
    ray_name = containers[0].get("name")
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == ray_name:
            return "terminated" in (status.get("state") or {})
    return False


def _not_ready_reason(pod: Obj) -> tuple[str | None, str]:
    """Why a pod is not ready, in Kubernetes' words (container waiting reason first)."""
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"]), str(waiting.get("message") or "")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") != "True":
            return condition.get("reason") or None, str(condition.get("message") or "")
    return None, ""


def observed_node(pod: Obj) -> ObservedNode:
    """A Pod as the pure reconciler sees a node.

    A Running pod whose Ray container terminated under restartPolicy Never counts as
    Failed (KubeRay's "unhealthy" rule), so it is replaced.
    """
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    status = pod.get("status") or {}
    phase: Phase = status["phase"] if status.get("phase") in _PHASES else "Pending"
    if (
        phase == "Running"
        and (pod.get("spec") or {}).get("restartPolicy") == "Never"
        and _ray_container_terminated(pod)
    ):
        phase = "Failed"
    ready = _ready(pod)
    reason, message = (None, "") if ready else _not_ready_reason(pod)
    index = labels.get(L.REPLICA_INDEX)
    return ObservedNode(
        name=meta["name"],
        group=labels.get(L.GROUP, ""),
        kind="head" if labels.get(L.NODE_TYPE) == L.HEAD else "worker",
        phase=phase,
        ready=ready,
        deleting=bool(meta.get("deletionTimestamp")),
        ip=status.get("podIP"),
        created=parse_time(meta.get("creationTimestamp")) or dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        replica=labels.get(L.REPLICA_NAME),
        replica_index=int(index) if index and index.isdigit() else None,
        reason=reason,
        message=message,
    )


def service_info(service: Obj, head_ip: str | None) -> ServiceInfo:
    """The head Service for status.head and status.endpoints."""
    spec = service.get("spec") or {}
    cluster_ip = spec.get("clusterIP")
    info = ServiceInfo(name=service["metadata"]["name"])
    ip = cluster_ip if cluster_ip and cluster_ip != "None" else head_ip
    if ip:
        info["ip"] = ip
    endpoints: dict[str, str] = {}
    for port in spec.get("ports") or []:
        if port.get("name"):
            endpoints[port["name"]] = str(port.get("nodePort") or port.get("port"))
    info["endpoints"] = endpoints
    return info


# -- the pass --------------------------------------------------------------------------------------


async def reconcile_raycluster(rt: Runtime, namespace: str, name: str) -> float | None:
    """One pass over RayCluster *namespace*/*name*; the seconds until the next one.

    The three reads a pass needs go out together: a pass waits for one round trip, not
    three, before it decides.
    """
    raw, services, listed = await asyncio.gather(
        rt.kube.get("RayCluster", namespace, name),
        rt.kube.select("Service", namespace, {L.CLUSTER: name}),
        rt.cluster_pods(namespace, name),
    )
    if raw is None:
        rt.metrics.cluster_gone(namespace, name)
        rt.cluster_failures.pop((namespace, name), None)
        rt.pods.forget((namespace, name))
        return None
    if managed_elsewhere(raw):
        return None
    model, errors = rt.parse(raw)
    if errors or not isinstance(model, RayCluster):
        await rt.event(raw, "InvalidRayClusterSpec", "; ".join(errors), warning=True, once=True)
        return None
    cluster = model
    for reason, message in unhonoured(name, cluster.spec):
        await rt.event(raw, reason, message, warning=True, once=True)

    fault_tolerant = (
        ft_enabled(cluster) and not embedded_ft(cluster) and rt.config.build.gcs_ft_redis_cleanup
    )
    meta = raw["metadata"]
    finalizers = meta.get("finalizers") or []
    if meta.get("deletionTimestamp"):
        if REDIS_CLEANUP_FINALIZER in finalizers:
            return await _clean_up_redis(rt, raw, cluster)
        return None
    if fault_tolerant and REDIS_CLEANUP_FINALIZER not in finalizers:
        raw = await rt.set_finalizer(raw, REDIS_CLEANUP_FINALIZER, True)

    try:
        await _ensure_children(rt, raw, cluster, {s["metadata"]["name"] for s in services})
    except (KubeError, BuildError) as exc:
        await rt.event(raw, "FailedToCreateChild", str(exc), warning=True)
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
        failures=rt.cluster_failures.pop((namespace, name), []),
    )
    now = rt.clock()
    plan = reconcile_cluster(cluster, observed, now)
    failures = await _carry_out(rt, raw, cluster, plan.actions)
    if failures:
        rt.cluster_failures[(namespace, name)] = failures
    if not observed.failures and not failures:  # each failure was posted when it happened
        # Pod creations and deletions are posted by _act, with the names the API server gave.
        for event in plan.events:
            if event.warns:
                await rt.event(raw, event.reason, event.message, warning=True, once=True)

    before = is_true(cluster.status.conditions if cluster.status else None, PROVISIONED)
    after = is_true(plan.status.conditions, PROVISIONED)
    if plan.changed:
        await rt.write_status(raw, status_wire(plan.status))
    owner = (meta.get("labels") or {}).get(L.ORIGINATED_FROM_CRD) or "None"
    rt.metrics.cluster_seen(namespace, name, owner, after)
    if after and not before:
        created = parse_time(meta.get("creationTimestamp"))
        if created is not None:
            rt.metrics.cluster_provisioned(namespace, name, (now - created).total_seconds())
    return ERROR_REQUEUE_SECONDS if failures else plan.requeue_after


async def _ensure_children(rt: Runtime, raw: Obj, cluster: RayCluster, services: set[str]) -> None:
    """Create each missing child; the first error stops the chain, as in KubeRay."""
    uid = raw["metadata"]["uid"]
    for manifest in cluster_children(cluster, rt.config.build):
        kind = manifest["kind"]
        child = manifest["metadata"]["name"]
        # Services the pass listed (by ray.io/cluster) are checked every pass, so a deleted
        # head Service comes back; the ones that list cannot see (the headless worker
        # Service is labelled otherwise) are remembered once they exist, like other kinds.
        visible = L.CLUSTER in (manifest["metadata"].get("labels") or {})
        if kind == "Service" and visible:
            if child in services:
                continue
        elif (uid, kind, child) in rt.ensured:
            continue
        created = await rt.kube.ensure(manifest)
        rt.ensured.add((uid, kind, child))
        if created is not None:
            await rt.event(raw, f"Created{kind}", f"Created {kind} {cluster.namespace}/{child}")


async def _carry_out(
    rt: Runtime, raw: Obj, cluster: RayCluster, actions: list[CreateNode | DeleteNode]
) -> list[str]:
    """Create and delete the planned Pods; the failures, for the next pass's observation.

    The plan's actions are independent of each other, so they go to the API server at
    once (a few at a time): a pass that adds a head and three workers waits for one round
    trip, not four.
    """
    slots = asyncio.Semaphore(POD_WRITES_IN_FLIGHT)

    async def act(action: CreateNode | DeleteNode) -> list[str]:
        async with slots:
            return await _act(rt, raw, cluster, action)

    outcomes = await asyncio.gather(*(act(a) for a in actions))
    return [entry for found in outcomes for entry in found]


async def _act(
    rt: Runtime, raw: Obj, cluster: RayCluster, action: CreateNode | DeleteNode
) -> list[str]:
    ns = cluster.namespace
    try:
        if isinstance(action, CreateNode):
            for manifest in pods_for(cluster, action, rt.config.build):
                pod = await rt.kube.create(manifest)
                rt.pods.created((ns, cluster.name), pod)
                what = "Head" if action.kind == "head" else "Worker"
                await rt.event(
                    raw,
                    f"Created{what}Pod",
                    f"Created {what.lower()} Pod {ns}/{pod['metadata']['name']}",
                )
        else:
            rt.pods.deleted((ns, cluster.name), action.name)
            await rt.kube.delete("Pod", ns, action.name)
            what = "Head" if action.kind == "head" else "Worker"
            await rt.event(
                raw, f"Deleted{what}Pod", f"Deleted Pod {ns}/{action.name} ({action.reason})"
            )
    except (KubeError, BuildError) as exc:
        entry = failure(action, exc)
        reason, _, message = entry.partition(": ")
        await rt.event(raw, reason, message, warning=True)
        return [entry]
    return []


# -- GCS fault tolerance: the Redis cleanup on deletion ------------------------------------------


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


async def _clean_up_redis(rt: Runtime, raw: Obj, cluster: RayCluster) -> float | None:
    """KubeRay's Redis cleanup: pods gone, cleanup Job run, finalizer removed (or timed out)."""
    ns, name = cluster.namespace, cluster.name
    now = rt.clock()
    deleted_at = parse_time(raw["metadata"].get("deletionTimestamp")) or now
    deadline = deleted_at + dt.timedelta(seconds=_deletion_timeout(raw))
    if now >= deadline:
        await rt.event(
            raw,
            "RedisCleanupTimeout",
            f"The Redis cleanup did not finish within {_deletion_timeout(raw):g}s of the "
            f"deletion; removed the finalizer {REDIS_CLEANUP_FINALIZER} anyway. Delete the "
            "cluster's keys from Redis by hand if they are still there.",
            warning=True,
        )
        await rt.set_finalizer(raw, REDIS_CLEANUP_FINALIZER, False)
        return None
    remaining = (deadline - now).total_seconds()
    requeue = max(0.05, min(ERROR_REQUEUE_SECONDS, remaining))

    pods = await rt.kube.select("Pod", ns, {L.CLUSTER: name})
    ray_pods = [
        p
        for p in pods
        if (p["metadata"].get("labels") or {}).get(L.NODE_TYPE) in (L.HEAD, L.WORKER)
    ]
    for pod in ray_pods:
        if not pod["metadata"].get("deletionTimestamp"):
            await rt.kube.delete("Pod", ns, pod["metadata"]["name"])
    if any((p["metadata"].get("labels") or {}).get(L.NODE_TYPE) == L.HEAD for p in ray_pods):
        return requeue  # the head must be gone before the GCS data can be removed

    job = await rt.kube.get("Job", ns, redis_cleanup_job_name(name))
    if job is None:
        await rt.kube.ensure(redis_cleanup_job(cluster, rt.config.build))
        await rt.event(
            raw, "CreatedRedisCleanupJob", f"Created Job {ns}/{redis_cleanup_job_name(name)}"
        )
        return requeue
    outcome = _job_finished(job)
    if outcome is None:
        return requeue
    if outcome == "Complete":
        await rt.event(raw, "RedisCleanupComplete", "The GCS data was removed from Redis")
    else:
        await rt.event(
            raw,
            "RedisCleanupFailed",
            f"Job {ns}/{redis_cleanup_job_name(name)} failed; removed the finalizer anyway. "
            "Delete the cluster's keys from Redis by hand.",
            warning=True,
        )
    await rt.set_finalizer(raw, REDIS_CLEANUP_FINALIZER, False)
    return None
