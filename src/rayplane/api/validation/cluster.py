"""KubeRay's RayCluster rules (validation.go), one check per rule, all reported together."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from rayplane.api.common import MAX_INT32
from rayplane.api.errors import Findings, show
from rayplane.api.k8s import Container, EnvVar, PodTemplateSpec
from rayplane.api.quantity import QuantityError, is_quantity, parse_quantity
from rayplane.api.raycluster import HeadGroupSpec, RayClusterSpec, WorkerGroupSpec
from rayplane.api.validation.gates import FeatureGates
from rayplane.api.validation.meta import check_template_meta
from rayplane.api.validation.names import (
    at_least,
    label_key_problem,
    label_value_problem,
)
from rayplane.api.validation.paths import join

FT_ANNOTATION = "ray.io/ft-enabled"
STORAGE_NS_ANNOTATION = "ray.io/external-storage-namespace"
MANAGED_BY = ("ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue")
# What KubeRay's generated `ray start --KEY=VALUE` command takes as a key.
_FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# rayStartParams that collide with the group-level `resources` field.
_RESOURCE_PARAMS = ("num-cpus", "num-gpus", "memory", "resources")
# Names the rocksdb GCS backend and mTLS manage in the pods (KubeRay utils/constant.go).
GCS_STORAGE_ENV = "RAY_gcs_storage"
GCS_STORAGE_PATH_ENV = "RAY_gcs_storage_path"
GCS_STORAGE_VOLUME = "gcs-storage"
GCS_STORAGE_MOUNT_PATH = "/data/gcs"
TLS_ENV = ("RAY_USE_TLS", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
TLS_VOLUME = "ray-tls"
TLS_MOUNT_PATH = "/etc/ray/tls"


def autoscaler_v2(spec: RayClusterSpec) -> bool:
    """KubeRay's IsAutoscalingV2Enabled: explicit version v2, or the env switch on the head."""
    options = spec.autoscaler_options
    if options and options.version == "v2":
        return True
    return _truthy(_head_env(spec, "RAY_enable_autoscaler_v2"))


def ft_enabled(spec: RayClusterSpec, annotations: dict[str, str]) -> bool:
    # KubeRay's IsGCSFaultToleranceEnabled compares the annotation case-insensitively.
    return (
        annotations.get(FT_ANNOTATION) or ""
    ).lower() == "true" or spec.gcs_fault_tolerance_options is not None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true"}


def _head_container(spec: RayClusterSpec) -> Container | None:
    containers = spec.head_group_spec.template.spec.containers
    return containers[0] if containers else None


def _head_env(spec: RayClusterSpec, name: str) -> str | None:
    container = _head_container(spec)
    return container.env_value(name) if container else None


def _env_path(path: str, container: Container | None, name: str) -> str:
    """Path of env var *name* in *container* (whose path is *path*), or of its env list."""
    base = join(path, "env")
    for index, var in enumerate((container.env or []) if container else []):
        if var.name == name:
            return join(base, index)
    return base


def _head_container_path(path: str) -> str:
    return join(join(join(join(join(path, "headGroupSpec"), "template"), "spec"), "containers"), 0)


def _containers(template: PodTemplateSpec) -> Iterable[tuple[int, Container]]:
    return enumerate(template.spec.containers)


def validate_cluster_spec(
    spec: RayClusterSpec,
    path: str,
    out: Findings,
    gates: FeatureGates,
    annotations: dict[str, str],
    *,
    standalone: bool,
) -> None:
    """Every KubeRay rule for a RayClusterSpec found at *path*."""
    _check_head(spec.head_group_spec, join(path, "headGroupSpec"), out)
    _check_groups(spec, path, out, gates)
    _check_upgrade(spec, path, out, standalone)
    _check_ft(spec, path, out, gates, annotations)
    _check_autoscaler(spec, path, out)
    _check_auth(spec, path, out)
    _check_alpha(spec, path, out, gates)
    if spec.managed_by is not None and spec.managed_by not in MANAGED_BY:
        out.error(
            join(path, "managedBy"),
            f"'{spec.managed_by}' is not a controller KubeRay hands clusters to.",
            spec.managed_by,
            ", ".join(MANAGED_BY),
        )


def _check_template(template: PodTemplateSpec, path: str, out: Findings, what: str) -> None:
    check_template_meta(template.metadata, join(path, "metadata"), out)
    cpath = join(join(path, "spec"), "containers")
    if not template.spec.containers:
        out.error(
            cpath,
            f"the {what} pod template has no container; add one that runs the Ray image, e.g. "
            f"containers: [{{name: ray-{what}, image: rayproject/ray:2.60.0}}].",
            [],
        )
    for index, container in _containers(template):
        for section in ("limits", "requests"):
            values = getattr(container.resources, section, None) if container.resources else None
            for key, value in (values or {}).items():
                rpath = join(join(join(join(cpath, index), "resources"), section), key)
                _check_quantity(value, rpath, out)


def _check_param_key(key: str, value: str, path: str, out: Findings) -> None:
    """A key becomes `--KEY=VALUE` of `ray start`, unquoted in KubeRay's shell command, so
    it must be a plain flag name; anything else smuggles in other flags or shell words."""
    if _FLAG_NAME.match(key):
        return
    name, equals, rest = key.partition("=")
    stripped = name.strip().lstrip("-").strip()
    if equals and _FLAG_NAME.match(stripped):
        fix = f"write it as {stripped}: {show(rest)}"
    elif _FLAG_NAME.match(stripped):
        fix = f"drop the dashes and spaces: {stripped}: {show(value)}"
    else:
        fix = "use the flag's name without dashes, e.g. num-cpus or dashboard-host"
    out.error(
        path,
        f"key {show(key)} is not a `ray start` flag name (lowercase letters, digits and "
        f"'-', not starting with '-'); {fix}.",
        key,
        "^[a-z0-9][a-z0-9-]*$",
    )


def _check_quantity(value: object, path: str, out: Findings) -> None:
    """A Kubernetes quantity that is not negative (the API server refuses negative pod
    resources, and Ray a negative --num-cpus)."""
    try:
        parsed = parse_quantity(value)  # type: ignore[arg-type]
    except QuantityError as exc:
        out.error(
            path,
            f"{show(value)} is not a Kubernetes quantity{_reason(exc)}.",
            value,
            "a number with an optional suffix, e.g. 2, 500m, 4Gi, 1e3",
        )
        return
    if parsed < 0:
        out.error(path, f"{show(value)} is negative; a resource amount must be 0 or more.", value)


def _reason(exc: QuantityError) -> str:
    """The specific reason parse_quantity gave ("it must be a finite number"), if any."""
    _, marker, reason = str(exc).partition("quantity: ")
    return f": {reason}" if marker else ""


def _check_params_and_resources(
    params: dict[str, str],
    resources: dict[str, str] | None,
    labels: dict[str, str] | None,
    path: str,
    out: Findings,
) -> None:
    ppath = join(path, "rayStartParams")
    for key, value in params.items():
        _check_param_key(key, value, join(ppath, key), out)
    for key in ("num-cpus", "num-gpus", "memory"):
        if key in params and not is_quantity(params[key]):
            # KubeRay passes it on; `ray start` then fails. Said here, not dropped silently.
            out.warn(
                join(ppath, key),
                f"{show(params[key])} is not a number; `ray start --{key}` will refuse it, "
                "and rayplane counts the group's resource as unset.",
                params[key],
            )
    if resources:
        mixed = [key for key in _RESOURCE_PARAMS if params.get(key)]
        for key in mixed:
            out.error(
                join(ppath, key),
                f"sets {key} while the group also sets `resources`; KubeRay refuses both. "
                f"Move it into {join(path, 'resources')}.",
                params[key],
            )
        for key, value in resources.items():
            _check_quantity(value, join(join(path, "resources"), key), out)
    if "labels" in params:
        out.error(
            join(ppath, "labels"),
            f"rayStartParams.labels is not allowed; set labels in {join(path, 'labels')} instead "
            "(a map of key: value).",
            params["labels"],
        )
    if "resources" in params:
        _check_resources_param(params["resources"], join(ppath, "resources"), out)
    for key, value in (labels or {}).items():
        problem = label_key_problem(key)
        if problem:
            out.error(join(join(path, "labels"), key), f"label key '{key}' {problem}.", key)
        problem = label_value_problem(value)
        if problem:
            out.error(join(join(path, "labels"), key), f"label value '{value}' {problem}.", value)


def _check_resources_param(text: str, path: str, out: Findings) -> None:
    """rayStartParams.resources must be JSON of numbers, possibly wrapped in quotes."""
    candidate = text.strip()
    if len(candidate) >= 2 and candidate[0] == candidate[-1] and candidate[0] in "'\"":
        candidate = candidate[1:-1].replace('\\"', '"')
    try:
        parsed = json.loads(candidate)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in parsed.values()
    ):
        out.error(
            path,
            f"{text!r} is not a JSON map of resource names to numbers.",
            text,
            '\'"{\\"Graviton\\": 1}"\' as in KubeRay samples',
        )


def _check_head(head: HeadGroupSpec, path: str, out: Findings) -> None:
    _check_template(head.template, join(path, "template"), out, "head")
    if head.head_service is not None:
        check_template_meta(
            head.head_service.metadata, join(join(path, "headService"), "metadata"), out
        )
    _check_params_and_resources(head.ray_start_params, head.resources, head.labels, path, out)


def _check_groups(spec: RayClusterSpec, path: str, out: Findings, gates: FeatureGates) -> None:
    seen: dict[str, int] = {}
    v2 = autoscaler_v2(spec)
    for index, group in enumerate(spec.worker_group_specs):
        gpath = join(join(path, "workerGroupSpecs"), index)
        _check_group(spec, group, gpath, out, gates, v2)
        if group.group_name:
            if group.group_name in seen:
                out.error(
                    join(gpath, "groupName"),
                    f"'{group.group_name}' is already the name of workerGroupSpecs"
                    f"[{seen[group.group_name]}]; worker group names must be unique.",
                    group.group_name,
                )
            seen.setdefault(group.group_name, index)


def _check_group(
    spec: RayClusterSpec,
    group: WorkerGroupSpec,
    path: str,
    out: Findings,
    gates: FeatureGates,
    v2: bool,
) -> None:
    if not group.group_name:
        out.error(
            join(path, "groupName"),
            "is required: every worker group needs a name (e.g. groupName: workers).",
        )
    _check_template(group.template, join(path, "template"), out, "worker")
    _check_params_and_resources(group.ray_start_params, group.resources, group.labels, path, out)
    for field, value in (
        ("replicas", group.replicas),
        ("minReplicas", group.min_replicas),
        ("maxReplicas", group.max_replicas),
    ):
        if value is not None and value < 0:
            out.error(join(path, field), f"is {value}; it must be 0 or more.", value, ">= 0")
    if group.num_of_hosts < 1:
        out.error(
            join(path, "numOfHosts"),
            f"is {group.num_of_hosts}; it must be 1 or more.",
            group.num_of_hosts,
            ">= 1",
        )
    if (
        group.min_replicas is not None
        and group.max_replicas is not None
        and group.min_replicas > group.max_replicas
    ):
        out.error(
            join(path, "minReplicas"),
            f"is {group.min_replicas}, more than maxReplicas {group.max_replicas}; "
            "minReplicas must not exceed maxReplicas.",
            group.min_replicas,
        )
    if not spec.autoscaling and (group.min_replicas is None or group.max_replicas is None):
        missing = [
            n
            for n, v in (("minReplicas", group.min_replicas), ("maxReplicas", group.max_replicas))
            if v is None
        ]
        out.warn(
            path,
            f"{' and '.join(missing)} not set while autoscaling is off; KubeRay's defaults "
            f"(minReplicas 0, maxReplicas {MAX_INT32}) apply. Set them to say what you mean.",
        )
    if group.idle_timeout_seconds is not None:
        if group.idle_timeout_seconds < 0:
            out.error(
                join(path, "idleTimeoutSeconds"),
                f"is {group.idle_timeout_seconds}; it must be 0 or more.",
                group.idle_timeout_seconds,
                ">= 0",
            )
        if not v2:
            out.error(
                join(path, "idleTimeoutSeconds"),
                "is set, but a per-group idle timeout needs autoscaler v2; set "
                "autoscalerOptions.version: v2 (with enableInTreeAutoscaling: true).",
                group.idle_timeout_seconds,
            )
    # KubeRay defaults priority to 0 and only checks a non-zero priority.
    if group.priority:
        if not v2:
            out.error(
                join(path, "priority"),
                "needs autoscaler v2; set autoscalerOptions."
                "version: v2 (with enableInTreeAutoscaling: true).",
                group.priority,
            )
        problem = _version_problem(spec.ray_version, (2, 56))
        if problem:
            out.error(join(path, "priority"), f"needs Ray 2.56 or newer; {problem}", group.priority)
    if group.suspend:
        if not gates.RayJobDeletionPolicy:
            out.error(
                join(path, "suspend"),
                "needs the RayJobDeletionPolicy feature gate. "
                + gates.hint("RayJobDeletionPolicy"),
                True,
            )
        if spec.autoscaling:
            out.error(
                join(path, "suspend"),
                "a worker group cannot be suspended while "
                "enableInTreeAutoscaling is true; the autoscaler owns its size.",
                True,
            )
    if v2 and spec.autoscaling:
        policy = group.template.spec.restart_policy
        if policy not in (None, "", "Never"):
            out.error(
                join(join(join(path, "template"), "spec"), "restartPolicy"),
                f"is {policy}; autoscaler v2 needs Never (or unset).",
                policy,
                "Never",
            )


def _version_problem(version: str | None, minimum: tuple[int, ...]) -> str | None:
    """Why *version* does not meet *minimum*: unset (KubeRay requires it) or too old."""
    if not version:
        return "rayVersion is not set, and KubeRay needs it to check this."
    if not at_least(version, minimum):
        return f"rayVersion is {version}."
    return None


def _check_upgrade(spec: RayClusterSpec, path: str, out: Findings, standalone: bool) -> None:
    if spec.upgrade_strategy and spec.upgrade_strategy.type and not standalone:
        out.error(
            join(join(path, "upgradeStrategy"), "type"),
            "is only for standalone RayClusters; a RayJob or RayService manages its cluster's "
            "upgrades itself. Remove it.",
            spec.upgrade_strategy.type,
        )


def _check_ft(
    spec: RayClusterSpec, path: str, out: Findings, gates: FeatureGates, annotations: dict[str, str]
) -> None:
    options = spec.gcs_fault_tolerance_options
    opath = join(path, "gcsFaultToleranceOptions")
    head = _head_container(spec)
    cpath = _head_container_path(path)
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
            _env_path(cpath, head, "RAY_REDIS_ADDRESS"),
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
            _env_path(cpath, head, "REDIS_USERNAME"),
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
            _env_path(cpath, head, "REDIS_PASSWORD"),
            "the REDIS_PASSWORD env var",
        ),
        (
            bool(head and head.has_env("RAY_REDIS_ADDRESS")),
            _env_path(cpath, head, "RAY_REDIS_ADDRESS"),
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
    head = _head_container(spec)
    cpath = _head_container_path(path)
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
                _env_path(cpath, head, name),
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


def _check_autoscaler(spec: RayClusterSpec, path: str, out: Findings) -> None:
    options = spec.autoscaler_options
    apath = join(path, "autoscalerOptions")
    head = _head_container(spec)
    env_v2 = _head_env(spec, "RAY_enable_autoscaler_v2")
    if _truthy(env_v2) and not spec.autoscaling:
        out.error(
            join(path, "enableInTreeAutoscaling"),
            "must be true when the head sets RAY_enable_autoscaler_v2.",
            spec.enable_in_tree_autoscaling,
        )
    if (
        spec.autoscaling
        and options
        and options.version
        and head
        and head.has_env("RAY_enable_autoscaler_v2")
    ):
        out.error(
            join(apath, "version"),
            "cannot be combined with the RAY_enable_autoscaler_v2 "
            "env var of the head container; use autoscalerOptions.version only.",
            options.version,
        )
    if spec.autoscaling and autoscaler_v2(spec):
        policy = spec.head_group_spec.template.spec.restart_policy
        if policy not in (None, "", "Never"):
            out.error(
                join(join(join(join(path, "headGroupSpec"), "template"), "spec"), "restartPolicy"),
                f"is {policy}; autoscaler v2 needs Never (or unset).",
                policy,
                "Never",
            )
    if options is None:
        return
    if options.idle_timeout_seconds is not None and options.idle_timeout_seconds < 0:
        out.error(
            join(apath, "idleTimeoutSeconds"),
            f"is {options.idle_timeout_seconds}; it must be 0 or more.",
            options.idle_timeout_seconds,
            ">= 0",
        )
    for index, var in enumerate(options.env or []):
        if var.name == "KUBERAY_GEN_AUTOSCALER_START_CMD":
            out.error(
                join(join(apath, "env"), index),
                "KUBERAY_GEN_AUTOSCALER_START_CMD is set by the operator and cannot be overridden.",
                var.name,
            )


def _check_auth(spec: RayClusterSpec, path: str, out: Findings) -> None:
    auth = spec.auth_options
    if auth is None:
        return
    apath = join(path, "authOptions")
    if auth.mode == "token":
        problem = _version_problem(spec.ray_version, (2, 52))
        if problem:
            out.error(
                join(apath, "mode"),
                f"token authentication needs Ray 2.52 or newer; {problem}",
                "token",
            )
    if auth.enable_k8s_token_auth:
        # An unset rayVersion is already reported for mode: token above.
        if auth.mode == "token" and spec.ray_version and not at_least(spec.ray_version, (2, 55)):
            out.error(
                join(apath, "enableK8sTokenAuth"),
                f"needs Ray 2.55 or newer; rayVersion is {spec.ray_version}.",
                True,
            )
        if auth.secret_name:
            out.error(
                join(apath, "secretName"),
                "cannot be set with enableK8sTokenAuth.",
                auth.secret_name,
            )
        if auth.mode != "token":
            out.error(
                join(apath, "mode"),
                "must be token when enableK8sTokenAuth is true.",
                auth.mode,
                "token",
            )


def _check_alpha(spec: RayClusterSpec, path: str, out: Findings, gates: FeatureGates) -> None:
    for field, value, gate in (
        ("networkPolicy", spec.network_policy, "RayClusterNetworkPolicy"),
        ("tlsOptions", spec.tls_options, "RayClusterMTLS"),
        ("historyServerOptions", spec.history_server_options, "RayClusterHistoryServer"),
    ):
        if value is not None and not getattr(gates, gate):
            out.error(
                join(path, field),
                f"is an alpha KubeRay feature behind the {gate} gate. " + gates.hint(gate),
            )
    if gates.RayClusterMTLS and spec.tls_options and spec.tls_options.enabled:
        _check_tls(spec, path, out)


def _check_tls(spec: RayClusterSpec, path: str, out: Findings) -> None:
    """With mTLS on, the operator owns the TLS env vars and the /etc/ray/tls mount."""
    places: list[tuple[str, list[EnvVar] | None, list[dict[str, Any]] | None]] = []
    head = _head_container(spec)
    if head:
        places.append((_head_container_path(path), head.env, head.volume_mounts))
    for index, group in enumerate(spec.worker_group_specs):
        if group.template.spec.containers:
            worker = group.template.spec.containers[0]
            gpath = join(
                join(
                    join(join(join(join(path, "workerGroupSpecs"), index), "template"), "spec"),
                    "containers",
                ),
                0,
            )
            places.append((gpath, worker.env, worker.volume_mounts))
    if spec.autoscaler_options:
        places.append(
            (
                join(path, "autoscalerOptions"),
                spec.autoscaler_options.env,
                spec.autoscaler_options.volume_mounts,
            )
        )
    for where, env, mounts in places:
        for index, var in enumerate(env or []):
            if var.name in TLS_ENV:
                out.error(
                    join(join(where, "env"), index),
                    f"{var.name} is set by the operator "
                    "when tlsOptions.enabled is true; remove it.",
                    var.name,
                )
        for index, mount in enumerate(mounts or []):
            if isinstance(mount, dict) and (
                mount.get("name") == TLS_VOLUME or mount.get("mountPath") == TLS_MOUNT_PATH
            ):
                out.error(
                    join(join(where, "volumeMounts"), index),
                    f"the operator mounts the "
                    f"TLS certificates ({TLS_VOLUME!r}) at {TLS_MOUNT_PATH} when "
                    "tlsOptions.enabled is true; remove this mount.",
                )
