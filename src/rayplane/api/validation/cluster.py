"""KubeRay's RayCluster rules (validation.go), one check per rule, all reported together.

This is the entry point and the cluster-wide rules (upgrade strategy, autoscaler, auth,
alpha fields, mTLS); the groups' rules live in ``cluster_groups`` and GCS fault tolerance
in ``gcs_ft``.
"""

from __future__ import annotations

from typing import Any

from rayplane.api.findings import Findings
from rayplane.api.k8s import EnvVar
from rayplane.api.raycluster import RayClusterSpec
from rayplane.api.validation.alpha_options import check_history_server, check_network_policy
from rayplane.api.validation.cluster_groups import check_groups, check_head
from rayplane.api.validation.gates import FeatureGates
from rayplane.api.validation.gcs_ft import check_ft
from rayplane.api.validation.head import (
    autoscaler_v2,
    head_container,
    head_container_path,
    head_env,
    truthy,
)
from rayplane.api.validation.names import at_least, version_problem
from rayplane.api.validation.paths import join

MANAGED_BY = ("ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue")
TLS_ENV = ("RAY_USE_TLS", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
TLS_VOLUME = "ray-tls"
TLS_MOUNT_PATH = "/etc/ray/tls"


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
    check_head(spec.head_group_spec, join(path, "headGroupSpec"), out)
    check_groups(spec, path, out, gates)
    _check_upgrade(spec, path, out, standalone)
    check_ft(spec, path, out, gates, annotations)
    _check_autoscaler(spec, path, out)
    _check_auth(spec, path, out)
    _check_alpha(spec, path, out, gates)
    _check_idle(spec, path, out, standalone)
    if spec.managed_by is not None and spec.managed_by not in MANAGED_BY:
        out.error(
            join(path, "managedBy"),
            f"'{spec.managed_by}' is not a controller KubeRay hands clusters to.",
            spec.managed_by,
            ", ".join(MANAGED_BY),
        )


def _check_upgrade(spec: RayClusterSpec, path: str, out: Findings, standalone: bool) -> None:
    if spec.upgrade_strategy and spec.upgrade_strategy.type and not standalone:
        out.error(
            join(join(path, "upgradeStrategy"), "type"),
            "is only for standalone RayClusters; a RayJob or RayService manages its cluster's "
            "upgrades itself. Remove it.",
            spec.upgrade_strategy.type,
        )


def _check_idle(spec: RayClusterSpec, path: str, out: Findings, standalone: bool) -> None:
    """spec.idleTerminationOptions (KubeRay PR #5210): a timeout that can actually run out."""
    options = spec.idle_termination_options
    if options is None:
        return
    ipath = join(path, "idleTerminationOptions")
    seconds = options.timeout_seconds
    if seconds is None or seconds < 1:
        out.error(
            join(ipath, "timeoutSeconds"),
            "must be a whole number of seconds, at least 1: how long the cluster may run no "
            "driver or job before it is suspended or deleted (e.g. 1800). Remove "
            "idleTerminationOptions to keep the cluster however long it idles.",
            seconds,
        )
    if not standalone:
        out.warn(
            ipath,
            "is ignored for a cluster a RayJob or RayService manages: the RayJob or RayService "
            "decides when its cluster goes. Remove it, or use a standalone RayCluster.",
            options.model_dump(by_alias=True, exclude_none=True),
        )


def _check_autoscaler(spec: RayClusterSpec, path: str, out: Findings) -> None:
    options = spec.autoscaler_options
    apath = join(path, "autoscalerOptions")
    head = head_container(spec)
    env_v2 = head_env(spec, "RAY_enable_autoscaler_v2")
    if truthy(env_v2) and not spec.autoscaling:
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
        problem = version_problem(spec.ray_version, (2, 52))
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
    if gates.RayClusterNetworkPolicy:
        check_network_policy(spec, path, out)
    if gates.RayClusterHistoryServer:
        check_history_server(spec, path, out)
    if gates.RayClusterMTLS and spec.tls_options and spec.tls_options.enabled:
        _check_tls(spec, path, out)


def _check_tls(spec: RayClusterSpec, path: str, out: Findings) -> None:
    """With mTLS on, the operator owns the TLS env vars and the /etc/ray/tls mount."""
    places: list[tuple[str, list[EnvVar] | None, list[dict[str, Any]] | None]] = []
    head = head_container(spec)
    if head:
        places.append((head_container_path(path), head.env, head.volume_mounts))
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
