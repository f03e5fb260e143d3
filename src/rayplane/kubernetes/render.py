"""Dry run: every Kubernetes object the operator would create for a resource.

``render(resource)`` walks the same steps as the operator's first passes, with nothing
observed yet: for a RayCluster the autoscaler RBAC, Ingress, head / headless / serve
Services, the embedded GCS store's claim, the head Pod and the worker Pods the pure
reconciler asks for (replicas clamped to min/max, times numOfHosts), and the Redis cleanup
Job a fault-tolerant cluster gets when it is deleted; for a RayJob its RayCluster with all
of the above, the K8sJobMode submitter Job and ``<rayjob>-head-svc``; for a RayService its
RayCluster with all of the above, ``<service>-head-svc`` and ``<service>-serve-svc`` (with
NewClusterWithIncrementalUpgrade: ``<cluster>-serve-svc``, the Gateway ``<service>-gateway``
and the HTTPRoute ``<service>-httproute`` sending it all the traffic).

What the API server or randomness would decide is made stable, so the same input always
renders the same output: uids are placeholders derived from kind/namespace/name, generated
names (``<cluster>-head-xxxxx``, ``<rayjob>-xxxxx``, multi-host replica names, job ids) get
suffixes derived from the object. Not rendered: the token-auth Secret (its content is a
random token), OpenShift Routes,
and objects of alpha features (TLS certificates, network policies, history server).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from rayplane.api.common import Resource
from rayplane.api.raycluster import RayCluster
from rayplane.api.rayjob import RayJob
from rayplane.api.rayservice import RayService
from rayplane.kubernetes.builders import (
    DEFAULT_OPTIONS,
    BuildError,
    BuildOptions,
    Manifest,
    autoscaler_rbac,
    cluster_manifest,
    cluster_serve_service,
    dashboard_port,
    embedded_ft,
    ft_enabled,
    gcs_pvc,
    head_fqdn,
    head_ingress,
    head_service,
    headless_worker_service,
    needs_headless_service,
    owner_head_service,
    pods_for,
    rayjob_cluster,
    rayservice_cluster,
    rayservice_serve_service,
    redis_cleanup_job,
    submitter_job,
    wants_gcs_pvc,
    wants_ingress,
    wants_serve_service,
)
from rayplane.kubernetes.builders.core_services import incremental_upgrade, service_ports
from rayplane.kubernetes.builders.gateway import rayservice_gateway, rayservice_http_route
from rayplane.kubernetes.builders.labels import NODE_TYPE, REDIS_CLEANUP
from rayplane.kubernetes.builders.names import (
    fqdn,
    owner_head_service_name,
    placeholder_uid,
    stable_suffix,
    with_suffix,
)
from rayplane.kubernetes.builders.objects import tidy_metadata
from rayplane.reconcile.cluster import CreateNode, ObservedCluster, reconcile_cluster
from rayplane.reconcile.kuberay import KUBERAY_MANAGER

CLUSTER_SELECTOR_KEY = "ray.io/cluster"
DEFAULT_DASHBOARD_PORT = 8265

# The reconciler's clock only stamps status; any fixed instant keeps the plan pure.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

R = TypeVar("R", bound=Resource)

__all__ = ["BuildError", "is_cleanup_job", "managed_elsewhere", "render", "render_cluster"]


def render(
    resource: Resource,
    options: BuildOptions | None = None,
    *,
    include_cleanup: bool = True,
) -> list[Manifest]:
    """Every object the operator would create for *resource*, in creation order.

    Raises BuildError where KubeRay's reconcile would fail (e.g. a RayService whose head
    names no ``serve`` port). With *include_cleanup*, a Redis-backed fault-tolerant
    cluster's cleanup Job is listed last; it only exists while the cluster is deleted.
    """
    options = options or DEFAULT_OPTIONS
    resource = _with_uid(resource)
    if isinstance(resource, RayCluster):
        objects = render_cluster(resource, options, include_cleanup=include_cleanup)
    elif isinstance(resource, RayJob):
        objects = _render_job(resource, options, include_cleanup)
    elif isinstance(resource, RayService):
        objects = _render_service(resource, options, include_cleanup)
    else:
        raise BuildError(f"cannot render a {resource.kind}")
    return _name_generated(objects)


def managed_elsewhere(resource: Resource) -> str | None:
    """The external controller named in ``spec.managedBy`` (then KubeRay does nothing)."""
    if isinstance(resource, RayCluster | RayJob | RayService):
        managed_by = resource.spec.managed_by
        if managed_by and managed_by != KUBERAY_MANAGER:
            return managed_by
    return None


def is_cleanup_job(manifest: Manifest) -> bool:
    """The Redis cleanup Job, which render lists but the operator only creates on delete."""
    labels = manifest.get("metadata", {}).get("labels") or {}
    return manifest.get("kind") == "Job" and labels.get(NODE_TYPE) == REDIS_CLEANUP


def cluster_children(cluster: RayCluster, options: BuildOptions) -> list[Manifest]:
    """A RayCluster's children other than Pods, in KubeRay's order (autoscaler RBAC first).

    Both `render` and the operator's cluster controller create exactly these.
    """
    objects = autoscaler_rbac(cluster)
    if wants_ingress(cluster):
        objects.append(head_ingress(cluster))
    objects.append(head_service(cluster, options))
    if needs_headless_service(cluster):
        objects.append(headless_worker_service(cluster))
    if wants_serve_service(cluster):
        objects.append(cluster_serve_service(cluster))
    if wants_gcs_pvc(cluster, ft_enabled(cluster)):
        objects.append(gcs_pvc(cluster))
    return objects


def render_cluster(
    cluster: RayCluster,
    options: BuildOptions = DEFAULT_OPTIONS,
    *,
    include_cleanup: bool = True,
) -> list[Manifest]:
    """A RayCluster's children, in KubeRay's reconcile order (the cluster needs a uid)."""
    if managed_elsewhere(cluster):
        return []
    objects = cluster_children(cluster, options)
    plan = reconcile_cluster(cluster, ObservedCluster(), _EPOCH)
    replica_name = _replica_namer(cluster)
    for action in plan.actions:
        if isinstance(action, CreateNode):
            objects.extend(pods_for(cluster, action, options, replica_name))

    if (
        include_cleanup
        and options.gcs_ft_redis_cleanup
        and ft_enabled(cluster)
        and not embedded_ft(cluster)
    ):
        objects.append(redis_cleanup_job(cluster, options))
    return objects


# -- RayJob and RayService ----------------------------------------------------------------------


def _render_job(job: RayJob, options: BuildOptions, include_cleanup: bool) -> list[Manifest]:
    if managed_elsewhere(job) or job.spec.suspend:
        return []  # a suspended RayJob has no cluster and no submitter yet
    namespace, spec = job.namespace, job.spec
    job_id = spec.job_id or ""
    if not job_id and spec.submission_mode != "InteractiveMode":
        job_id = with_suffix(job.name, stable_suffix(f"{namespace}/{job.name}/job-id"))

    objects: list[Manifest] = []
    cluster: RayCluster | None = None
    if spec.cluster_selector:
        cluster_name = spec.cluster_selector.get(CLUSTER_SELECTOR_KEY, "")
        service = fqdn(owner_head_service_name(cluster_name), namespace, options.cluster_domain)
        dashboard_url = f"{service}:{DEFAULT_DASHBOARD_PORT}"
    else:
        cluster_name = with_suffix(job.name, stable_suffix(f"{namespace}/{job.name}/cluster"))
        cluster = rayjob_cluster(
            job,
            cluster_name,
            job_id,
            options=options,
            uid=placeholder_uid("RayCluster", namespace, cluster_name),
        )
        objects.append(cluster_manifest(cluster))
        objects.extend(render_cluster(cluster, options, include_cleanup=include_cleanup))
        port = dashboard_port(cluster)
        if port is None:
            raise BuildError(
                "the head container names its ports but none is named 'dashboard'; KubeRay "
                "finds no dashboard URL and the RayJob never leaves Initializing"
            )
        dashboard_url = f"{head_fqdn(cluster, options)}:{port}"

    if spec.submission_mode == "K8sJobMode":
        known = (cluster.name, cluster.spec) if cluster is not None else None
        objects.append(submitter_job(job, job_id, dashboard_url, known, options))
    if cluster is not None:
        objects.append(owner_head_service(job, cluster, options))
    return objects


def _render_service(
    service: RayService, options: BuildOptions, include_cleanup: bool
) -> list[Manifest]:
    if managed_elsewhere(service) or service.spec.suspend:
        return []
    namespace = service.namespace
    cluster_name = with_suffix(service.name, stable_suffix(f"{namespace}/{service.name}/cluster"))
    cluster = rayservice_cluster(
        service,
        cluster_name,
        options=options,
        uid=placeholder_uid("RayCluster", namespace, cluster_name),
    )
    objects = [
        cluster_manifest(cluster),
        *render_cluster(cluster, options, include_cleanup=include_cleanup),
        owner_head_service(service, cluster, options),
        rayservice_serve_service(service, cluster),
    ]
    if incremental_upgrade(service):
        serve_port = service_ports(cluster).get("serve", 8000)
        objects.append(rayservice_gateway(service))
        objects.append(rayservice_http_route(service, [(cluster.name, serve_port, 100)]))
    return objects


# -- stable stand-ins for what the API server and randomness decide ----------------------------


def _with_uid(resource: R) -> R:
    if resource.metadata.uid:
        return resource
    uid = placeholder_uid(resource.kind, resource.namespace, resource.name)
    metadata = resource.metadata.model_copy(update={"uid": uid})
    return resource.model_copy(update={"metadata": metadata})


def _replica_namer(cluster: RayCluster) -> Callable[[str], str]:
    counter = itertools.count()

    def name(group: str) -> str:
        seed = f"{cluster.namespace}/{cluster.name}/{group}/replica/{next(counter)}"
        return with_suffix(group, stable_suffix(seed))

    return name


def _name_generated(objects: list[Manifest]) -> list[Manifest]:
    """Give objects that only have a generateName a stable name, as the API server would."""
    used = {(o["metadata"].get("namespace"), o["metadata"].get("name")) for o in objects}
    for manifest in objects:
        meta = manifest["metadata"]
        prefix = meta.get("generateName")
        if not prefix or meta.get("name"):
            continue
        for attempt in itertools.count():
            name = prefix + stable_suffix(f"{meta.get('namespace')}/{prefix}#{attempt}")
            if (meta.get("namespace"), name) not in used:
                break
        used.add((meta.get("namespace"), name))
        manifest["metadata"] = tidy_metadata({**meta, "name": name})
    return objects
