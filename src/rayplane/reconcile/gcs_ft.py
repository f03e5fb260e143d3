"""GCS fault tolerance settings of a RayCluster, resolved once for both runtimes.

KubeRay turns FT on by the `ray.io/ft-enabled` annotation (with RAY_REDIS_ADDRESS in the
head's env) or by `gcsFaultToleranceOptions`, and picks the storage namespace from the
options, else the annotation, else the cluster's UID. The runtimes need the same answer
to set the head's env and, on delete, to know which Redis keys to clean.
"""

from __future__ import annotations

from dataclasses import dataclass

from rayplane.api.raycluster import RayCluster
from rayplane.reconcile.kuberay import (
    DELETION_TIMEOUT_ANNOTATION,
    FT_ANNOTATION,
    NAMESPACE_ANNOTATION,
)

DEFAULT_DELETION_TIMEOUT_S = 300.0
# Workers must outlive a head restart (Ray's default is 60 s); KubeRay sets 600.
WORKER_RECONNECT_TIMEOUT_S = "600"


@dataclass(frozen=True)
class GcsFt:
    """What FT means for one cluster; `enabled` False means none of the rest applies."""

    enabled: bool
    backend: str = "redis"
    namespace: str = ""
    redis_address: str | None = None
    # The password when given as a literal (options.redisPassword.value or the env var).
    redis_password: str | None = None
    password_secret: tuple[str, str] | None = None
    deletion_timeout_s: float = DEFAULT_DELETION_TIMEOUT_S


def gcs_ft(cluster: RayCluster) -> GcsFt:
    annotations = cluster.metadata.annotations or {}
    options = cluster.spec.gcs_fault_tolerance_options
    by_annotation = (annotations.get(FT_ANNOTATION) or "").lower() == "true"
    if options is None and not by_annotation:
        return GcsFt(False)
    namespace = (
        (options.external_storage_namespace if options else None)
        or annotations.get(NAMESPACE_ANNOTATION)
        or cluster.metadata.uid
        or cluster.name
    )
    containers = cluster.spec.head_group_spec.template.spec.containers
    head = containers[0] if containers else None
    address = options.redis_address if options else None
    password = None
    secret = None
    if options is not None and options.redis_password is not None:
        password = options.redis_password.value
        ref = (
            options.redis_password.value_from.secret_key_ref
            if options.redis_password.value_from
            else None
        )
        if ref is not None:
            secret = (ref.name or "", ref.key)
    if head is not None:
        address = address or head.env_value("RAY_REDIS_ADDRESS")
        password = (
            password
            or head.env_value("REDIS_PASSWORD")
            or cluster.spec.head_group_spec.ray_start_params.get("redis-password")
        )
    try:
        timeout = float(annotations.get(DELETION_TIMEOUT_ANNOTATION, DEFAULT_DELETION_TIMEOUT_S))
    except ValueError:
        timeout = DEFAULT_DELETION_TIMEOUT_S
    return GcsFt(
        enabled=True,
        backend=(options.backend if options and options.backend else "redis"),
        namespace=namespace,
        redis_address=address,
        redis_password=password,
        password_secret=secret,
        deletion_timeout_s=timeout,
    )


def split_redis_address(address: str) -> tuple[str, int, bool]:
    """(host, port, tls) of the first address in RAY_REDIS_ADDRESS's `[redis[s]://]h:p,...`."""
    first = address.split(",")[0].strip()
    tls = first.startswith("rediss://")
    first = first.split("://", 1)[-1]
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port or 6379), tls
