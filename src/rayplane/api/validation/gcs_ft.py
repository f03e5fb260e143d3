"""KubeRay's rules for GCS fault tolerance: the annotation or gcsFaultToleranceOptions,
the Redis env vars, and the embedded rocksdb backend whose env and volume the operator
owns."""

from __future__ import annotations

from rayplane.api.findings import Findings
from rayplane.api.raycluster import RayClusterSpec
from rayplane.api.validation.gates import FeatureGates
from rayplane.api.validation.head import env_path, head_container, head_container_path
from rayplane.api.validation.paths import join

FT_ANNOTATION = "ray.io/ft-enabled"
STORAGE_NS_ANNOTATION = "ray.io/external-storage-namespace"
# Names the rocksdb GCS backend and mTLS manage in the pods (KubeRay utils/constant.go).
GCS_STORAGE_ENV = "RAY_gcs_storage"
GCS_STORAGE_PATH_ENV = "RAY_gcs_storage_path"
GCS_STORAGE_VOLUME = "gcs-storage"
GCS_STORAGE_MOUNT_PATH = "/data/gcs"


def ft_enabled(spec: RayClusterSpec, annotations: dict[str, str]) -> bool:
    # KubeRay's IsGCSFaultToleranceEnabled compares the annotation case-insensitively.
    return (
        annotations.get(FT_ANNOTATION) or ""
    ).lower() == "true" or spec.gcs_fault_tolerance_options is not None


def check_ft(
    spec: RayClusterSpec, path: str, out: Findings, gates: FeatureGates, annotations: dict[str, str]
) -> None:
    options = spec.gcs_fault_tolerance_options
    opath = join(path, "gcsFaultToleranceOptions")
    head = head_container(spec)
    cpath = head_container_path(path)
    params = spec.head_group_spec.ray_start_params
    ppath = join(join(path, "headGroupSpec"), "rayStartParams")
    if annotations.get(FT_ANNOTATION) and options is not None:
        out.error(
            f"metadata.annotations[{FT_ANNOTATION}]",
            "and gcsFaultToleranceOptions both turn on GCS fault tolerance; use one. "
            "gcsFaultToleranceOptions is the newer form.",
            annotations[FT_ANNOTATION],
        )
    if head and head.has_env("RAY_REDIS_ADDRESS") and not ft_enabled(spec, annotations):
        out.error(
            env_path(cpath, head, "RAY_REDIS_ADDRESS"),
            "sets RAY_REDIS_ADDRESS but GCS fault tolerance is off; add the annotation "
            f'{FT_ANNOTATION}: "true" or use gcsFaultToleranceOptions.redisAddress.',
            "RAY_REDIS_ADDRESS",
        )
    if params.get("redis-username"):
        out.error(
            join(ppath, "redis-username"),
            "is not allowed; use gcsFaultToleranceOptions.redisUsername.",
            params["redis-username"],
        )
    if head and head.has_env("REDIS_USERNAME"):
        out.error(
            env_path(cpath, head, "REDIS_USERNAME"),
            "sets REDIS_USERNAME, which is not "
            "allowed; use gcsFaultToleranceOptions.redisUsername.",
            "REDIS_USERNAME",
        )
    if options is None:
        return
    forbidden = [
        (
            bool(params.get("redis-password")),
            join(ppath, "redis-password"),
            "rayStartParams redis-password",
        ),
        (
            bool(head and head.has_env("REDIS_PASSWORD")),
            env_path(cpath, head, "REDIS_PASSWORD"),
            "the REDIS_PASSWORD env var",
        ),
        (
            bool(head and head.has_env("RAY_REDIS_ADDRESS")),
            env_path(cpath, head, "RAY_REDIS_ADDRESS"),
            "the RAY_REDIS_ADDRESS env var",
        ),
        (
            bool(annotations.get(STORAGE_NS_ANNOTATION)),
            f"metadata.annotations[{STORAGE_NS_ANNOTATION}]",
            "the external-storage-namespace annotation",
        ),
    ]
    for bad, where, what in forbidden:
        if bad:
            out.error(
                where,
                f"{what} cannot be combined with gcsFaultToleranceOptions; set the "
                "value in gcsFaultToleranceOptions instead.",
            )
    if options.backend == "rocksdb":
        _check_rocksdb(spec, path, out, gates)
    else:
        if options.storage is not None:
            out.error(
                join(opath, "storage"),
                "is only for backend rocksdb; the Redis backend keeps GCS state in Redis.",
            )
        if not options.redis_address:
            out.error(
                join(opath, "redisAddress"), "is required for the Redis backend, e.g. redis:6379."
            )


def _check_rocksdb(spec: RayClusterSpec, path: str, out: Findings, gates: FeatureGates) -> None:
    options = spec.gcs_fault_tolerance_options
    assert options is not None
    opath = join(path, "gcsFaultToleranceOptions")
    head = head_container(spec)
    cpath = head_container_path(path)
    if not gates.GCSFaultToleranceEmbeddedStorage:
        out.error(
            join(opath, "backend"),
            "rocksdb needs the GCSFaultToleranceEmbeddedStorage "
            "feature gate. " + gates.hint("GCSFaultToleranceEmbeddedStorage"),
            "rocksdb",
        )
    for field, value in (
        ("redisAddress", options.redis_address),
        ("redisPassword", options.redis_password),
        ("redisUsername", options.redis_username),
        ("externalStorageNamespace", options.external_storage_namespace),
    ):
        if value is not None and value != "":
            out.error(join(opath, field), "is a Redis setting, but backend is rocksdb.")
    storage = options.storage
    if (
        storage
        and storage.claim_name
        and (
            storage.size is not None
            or storage.storage_class_name is not None
            or storage.access_modes
        )
    ):
        out.error(
            join(opath, "storage"),
            "claimName names an existing volume claim; "
            "size, storageClassName and accessModes cannot be set with it.",
        )
    for name in (GCS_STORAGE_ENV, GCS_STORAGE_PATH_ENV):
        if head and head.has_env(name):
            out.error(
                env_path(cpath, head, name),
                f"{name} is set by the rocksdb backend; remove it.",
                name,
            )
    for index, mount in enumerate((head.volume_mounts or []) if head else []):
        if isinstance(mount, dict) and (
            mount.get("name") == GCS_STORAGE_VOLUME
            or mount.get("mountPath") == GCS_STORAGE_MOUNT_PATH
        ):
            out.error(
                join(join(cpath, "volumeMounts"), index),
                f"the rocksdb backend mounts "
                f"its volume {GCS_STORAGE_VOLUME!r} at {GCS_STORAGE_MOUNT_PATH}; remove "
                "this mount.",
            )
    pod = spec.head_group_spec.template.spec
    vpath = join(join(join(join(path, "headGroupSpec"), "template"), "spec"), "volumes")
    for index, volume in enumerate(pod.volumes or []):
        if isinstance(volume, dict) and volume.get("name") == GCS_STORAGE_VOLUME:
            out.error(
                join(vpath, index),
                f"the volume name {GCS_STORAGE_VOLUME!r} is reserved "
                "for the rocksdb backend's storage; rename it.",
            )
