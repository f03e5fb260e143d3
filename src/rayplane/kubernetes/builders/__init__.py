"""The Kubernetes objects KubeRay's operator creates, built the way KubeRay builds them.

Pure functions from ray.io/v1 models to JSON-shaped manifests (dicts, camelCase), shared
by the operator (which sends them with server-side apply) and ``rayplane render`` (which
prints them). Nothing here talks to an API server.

- :mod:`.pods`: head and worker Pods (labels, env, command, volumes, probes, sidecars);
  :mod:`.gcs_ft`: what GCS fault tolerance adds to them.
- :mod:`.core_services`: head, headless and serve Services; the dashboard Ingress.
- :mod:`.rbac`: the autoscaler's ServiceAccount, Role and RoleBinding.
- :mod:`.batch_jobs`: the RayJob submitter Job and the GCS FT Redis cleanup Job.
- :mod:`.clusters`: the RayCluster of a RayJob or RayService.
- :mod:`.storage`: the embedded GCS store's PersistentVolumeClaim.
- :mod:`.names`, :mod:`.labels`, :mod:`.hashes`: KubeRay's naming, labels and spec hashes.
- :mod:`.options`: the operator's KubeRay-compatible environment knobs.
"""

from rayplane.kubernetes.builders.batch_jobs import (
    job_submit_command,
    redis_cleanup_job,
    submitter_job,
)
from rayplane.kubernetes.builders.clusters import (
    cluster_manifest,
    rayjob_cluster,
    rayservice_cluster,
)
from rayplane.kubernetes.builders.core_services import (
    cluster_serve_service,
    dashboard_port,
    head_ingress,
    head_service,
    headless_worker_service,
    needs_headless_service,
    owner_head_service,
    rayservice_serve_service,
    service_ports,
    wants_ingress,
    wants_serve_service,
)
from rayplane.kubernetes.builders.gcs_ft import embedded_ft, ft_enabled
from rayplane.kubernetes.builders.objects import BuildError, Manifest, owner_reference
from rayplane.kubernetes.builders.options import DEFAULT_OPTIONS, BuildOptions
from rayplane.kubernetes.builders.pods import (
    Slot,
    build_head_pod,
    creator_kind,
    head_fqdn,
    head_pod,
    pods_for,
    worker_pod,
)
from rayplane.kubernetes.builders.rbac import autoscaler_rbac, role, role_binding, service_account
from rayplane.kubernetes.builders.storage import gcs_pvc, wants_gcs_pvc

__all__ = [
    "DEFAULT_OPTIONS",
    "BuildError",
    "BuildOptions",
    "Manifest",
    "Slot",
    "autoscaler_rbac",
    "build_head_pod",
    "cluster_manifest",
    "cluster_serve_service",
    "creator_kind",
    "dashboard_port",
    "embedded_ft",
    "ft_enabled",
    "gcs_pvc",
    "head_fqdn",
    "head_ingress",
    "head_pod",
    "head_service",
    "headless_worker_service",
    "job_submit_command",
    "needs_headless_service",
    "owner_head_service",
    "owner_reference",
    "pods_for",
    "rayjob_cluster",
    "rayservice_cluster",
    "rayservice_serve_service",
    "redis_cleanup_job",
    "role",
    "role_binding",
    "service_account",
    "service_ports",
    "submitter_job",
    "wants_gcs_pvc",
    "wants_ingress",
    "wants_serve_service",
    "worker_pod",
]
