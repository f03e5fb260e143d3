"""GCS fault tolerance in a head or worker Pod: KubeRay's configureGCSFaultTolerance.

A cluster is fault tolerant with the annotation ``ray.io/ft-enabled=true`` or
``gcsFaultToleranceOptions``. With Redis, the head gets the external storage namespace,
the Redis address and credentials; with the embedded RocksDB store, the GCS storage env
and the claim mounted at /data/gcs. Workers wait longer for a restarted GCS.
"""

from __future__ import annotations

from typing import Any

from rayplane.api.raycluster import RayCluster
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.names import gcs_pvc_name
from rayplane.kubernetes.builders.objects import (
    add_env,
    add_env_if_missing,
    add_mount,
    add_volume,
    has_env,
    list_field,
)

GCS_STORAGE_VOLUME = "gcs-storage"
GCS_STORAGE_PATH = "/data/gcs"
WORKER_GCS_RECONNECT_TIMEOUT_S = "600"


def ft_enabled(cluster: RayCluster) -> bool:
    """GCS fault tolerance: annotation ``ray.io/ft-enabled`` "true" or gcsFaultToleranceOptions."""
    annotation = (cluster.annotation(L.FT_ENABLED) or "").lower() == "true"
    return annotation or cluster.spec.gcs_fault_tolerance_options is not None


def embedded_ft(cluster: RayCluster) -> bool:
    """GCS FT on the embedded RocksDB store rather than Redis."""
    options = cluster.spec.gcs_fault_tolerance_options
    return options is not None and options.backend == "rocksdb"


def gcs_fault_tolerance(
    cluster: RayCluster,
    pod_spec: dict[str, Any],
    ray: dict[str, Any],
    annotations: dict[str, str],
    *,
    head: bool,
) -> None:
    """configureGCSFaultTolerance: annotations and env of a fault-tolerant cluster."""
    enabled = ft_enabled(cluster)
    if head:
        annotations[L.FT_ENABLED] = "true" if enabled else "false"
    if not enabled:
        return
    if not head:
        # Workers wait up to 10 minutes for a restarted GCS instead of Ray's 60 s.
        add_env_if_missing(
            ray, "RAY_gcs_rpc_server_reconnect_timeout_s", WORKER_GCS_RECONNECT_TIMEOUT_S
        )
        return
    if embedded_ft(cluster):
        _embedded_ft(cluster, pod_spec, ray)
    else:
        _redis_ft(cluster, ray, annotations)


def _redis_ft(cluster: RayCluster, ray: dict[str, Any], annotations: dict[str, str]) -> None:
    options = cluster.spec.gcs_fault_tolerance_options
    namespace = cluster.metadata.uid or ""
    namespace = cluster.annotation(L.EXTERNAL_STORAGE_NAMESPACE) or namespace
    if options is not None and options.external_storage_namespace:
        namespace = options.external_storage_namespace
    annotations[L.EXTERNAL_STORAGE_NAMESPACE] = namespace
    add_env_if_missing(ray, "RAY_external_storage_namespace", namespace)
    if options is not None:
        add_env(ray, "RAY_REDIS_ADDRESS", options.redis_address or "")
        for name, credential in (
            ("REDIS_USERNAME", options.redis_username),
            ("REDIS_PASSWORD", options.redis_password),
        ):
            if credential is not None:
                list_field(ray, "env").append({"name": name, **credential.wire()})
        return
    # Annotation-only FT with a literal redis-password param: the cleanup Job reads the
    # password from REDIS_PASSWORD, so KubeRay copies it there.
    password = cluster.spec.head_group_spec.ray_start_params.get("redis-password")
    if password is not None and not has_env(ray, "REDIS_PASSWORD"):
        add_env(ray, "REDIS_PASSWORD", password)


def _embedded_ft(cluster: RayCluster, pod_spec: dict[str, Any], ray: dict[str, Any]) -> None:
    options = cluster.spec.gcs_fault_tolerance_options
    add_env_if_missing(ray, "RAY_gcs_storage", "rocksdb")
    add_env_if_missing(ray, "RAY_gcs_storage_path", GCS_STORAGE_PATH)
    sub_path = options.storage.sub_path if options and options.storage else None
    mount: dict[str, Any] = {"name": GCS_STORAGE_VOLUME, "mountPath": GCS_STORAGE_PATH}
    if sub_path:
        mount["subPath"] = sub_path
    add_mount(ray, mount)
    claim = {"claimName": gcs_pvc_name(cluster.name, cluster.spec)}
    add_volume(pod_spec, {"name": GCS_STORAGE_VOLUME, "persistentVolumeClaim": claim})
