"""The RayCluster a RayJob or RayService creates (constructRayClusterFor*).

KubeRay's rayjob_controller.go and rayservice_controller.go at feeaf72. The child carries
the owner's labels and annotations (so ``ray.io/ft-enabled`` on a RayService turns on GCS FT
in its cluster), the ``ray.io/originated-from-*`` labels that make its pods RayJob or
RayService pods (env vars, serve labels and probes), and a controller reference to the
owner. The cluster name is ``<owner>-<5 random characters>``, chosen by the caller.
"""

from __future__ import annotations

from typing import Any

from rayplane.api.k8s import Container, ObjectMeta
from rayplane.api.raycluster import RayCluster, RayClusterSpec
from rayplane.api.rayjob import RayJob
from rayplane.api.rayservice import RayService
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.batch_jobs import SIDECAR_MODE, sidecar_submitter
from rayplane.kubernetes.builders.hashes import spec_hash
from rayplane.kubernetes.builders.objects import (
    BuildError,
    Manifest,
    owner_reference,
    tidy_metadata,
)
from rayplane.kubernetes.builders.options import DEFAULT_OPTIONS, BuildOptions


def _child(
    owner: RayJob | RayService,
    name: str,
    spec: RayClusterSpec,
    labels: dict[str, str],
    annotations: dict[str, str],
    uid: str | None,
) -> RayCluster:
    metadata = ObjectMeta(
        name=name,
        namespace=owner.namespace,
        labels=labels,
        annotations=annotations,
        owner_references=[owner_reference(owner)],
    )
    if uid is not None:
        metadata = metadata.model_copy(update={"uid": uid})
    return RayCluster(metadata=metadata, spec=spec)


def rayjob_cluster(
    job: RayJob,
    name: str,
    job_id: str,
    *,
    uid: str | None = None,
    options: BuildOptions = DEFAULT_OPTIONS,
) -> RayCluster:
    """The RayJob's cluster; in SidecarMode its head runs the submitter (restartPolicy Never).

    *uid* is the created cluster's (the API server assigns it; dry runs pass a placeholder).
    """
    if job.spec.ray_cluster_spec is None:
        raise BuildError(f"RayJob {job.name!r} has no rayClusterSpec (it uses clusterSelector)")
    labels = {
        **(job.metadata.labels or {}),
        **L.originated_from(job.name, "RayJob"),
        L.JOB_SUBMISSION_MODE: job.spec.submission_mode,
    }
    annotations = dict(job.metadata.annotations or {})
    spec = job.spec.ray_cluster_spec.model_copy(deep=True)
    if job.spec.submission_mode == SIDECAR_MODE:
        annotations[L.DISABLE_PROVISIONED_HEAD_RESTART] = "true"
        sidecar = sidecar_submitter(job, job_id, (name, spec), options)
        template = spec.head_group_spec.template
        containers = [*template.spec.containers, Container.model_validate(sidecar)]
        pod_spec = template.spec.model_copy(
            update={"containers": containers, "restart_policy": "Never"}
        )
        spec.head_group_spec.template = template.model_copy(update={"spec": pod_spec})
    return _child(job, name, spec, labels, annotations, uid)


def rayservice_cluster(
    service: RayService,
    name: str,
    *,
    uid: str | None = None,
    options: BuildOptions = DEFAULT_OPTIONS,
) -> RayCluster:
    """A RayService's (active or pending) cluster, annotated with its spec hash.

    ``ray.io/hash-without-replicas-and-workers-to-delete`` and ``ray.io/num-worker-groups``
    are what the RayService compares to decide between no change, an in-place update and a
    new cluster; ``ray.io/kuberay-version`` makes an operator upgrade an in-place update.
    """
    spec = service.spec.ray_cluster_config
    labels = {**(service.metadata.labels or {}), **L.originated_from(service.name, "RayService")}
    annotations = {
        **(service.metadata.annotations or {}),
        L.HASH_WITHOUT_REPLICAS: spec_hash(spec, ignore_suspend=True),
        L.NUM_WORKER_GROUPS: str(len(spec.worker_group_specs)),
        L.KUBERAY_VERSION: options.operator_version,
    }
    return _child(service, name, spec.model_copy(deep=True), labels, annotations, uid)


def cluster_manifest(cluster: RayCluster) -> Manifest:
    """The RayCluster object as the owner creates it (no status, no uid)."""
    wire: dict[str, Any] = cluster.wire()
    metadata = dict(wire.get("metadata") or {})
    metadata.pop("uid", None)
    return {
        "apiVersion": cluster.api_version,
        "kind": cluster.kind,
        "metadata": tidy_metadata(metadata),
        "spec": wire.get("spec") or {},
    }
