"""Containers KubeRay adds to Ray pods: the autoscaler sidecar and ``wait-gcs-ready``.

From ray-operator/controllers/ray/common/pod.go at feeaf72 (BuildAutoscalerContainer,
mergeAutoscalerOverrides, DefaultWorkerPodTemplate's init container,
SetContainerTokenAuthEnvVars) and utils.GetContainerCommand.
"""

from __future__ import annotations

from typing import Any

from rayplane.api.raycluster import RayClusterSpec
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.names import auth_secret_name
from rayplane.kubernetes.builders.objects import (
    add_env,
    add_field_env,
    add_mount,
    add_volume,
    deep,
    env_list,
    has_env,
    has_volume,
    label_field,
    list_field,
    resources,
)
from rayplane.kubernetes.builders.options import BuildOptions

AUTOSCALER = "autoscaler"
WAIT_GCS_READY = "wait-gcs-ready"
AUTOSCALER_START_CMD = (
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
    "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
)

# Token authentication (AuthOptions, KubeRay >= 1.6).
AUTH_TOKEN_KEY = "auth_token"
RAY_TOKEN_VOLUME = "ray-token"
RAY_TOKEN_MOUNT_PATH = "/var/run/secrets/ray.io/serviceaccount"


def container_command(options: BuildOptions, extra: str = "") -> list[str]:
    """``/bin/bash -c<extra>[l] --`` (GetContainerCommand; ``l`` with ENABLE_LOGIN_SHELL)."""
    flags = "c" + extra + ("l" if options.login_shell else "")
    return ["/bin/bash", f"-{flags}", "--"]


# -- autoscaler -------------------------------------------------------------------------------


def autoscaler_container(
    spec: RayClusterSpec, cluster: str, image: str | None, options: BuildOptions
) -> dict[str, Any]:
    """The ``autoscaler`` sidecar of the head pod, with autoscalerOptions merged in.

    Runs ``ray kuberay-autoscaler`` (the stock Ray autoscaler) with the Ray image, 500m/512Mi,
    and the env the autoscaler reads to find its cluster: RAY_CLUSTER_NAME/NAMESPACE,
    RAY_HEAD_POD_NAME, KUBERAY_CRD_VER=v1. KUBERAY_GEN_AUTOSCALER_START_CMD holds the command
    so that users who override args can still call it.
    """
    container: dict[str, Any] = {"name": AUTOSCALER}
    if image is not None:
        container["image"] = image
    container["imagePullPolicy"] = "IfNotPresent"
    add_field_env(container, "RAY_CLUSTER_NAME", label_field(L.CLUSTER))
    add_field_env(container, "RAY_CLUSTER_NAMESPACE", "metadata.namespace")
    add_field_env(container, "RAY_HEAD_POD_NAME", "metadata.name")
    add_env(container, "KUBERAY_CRD_VER", "v1")
    add_env(container, "KUBERAY_GEN_AUTOSCALER_START_CMD", AUTOSCALER_START_CMD)
    container["command"] = container_command(options)
    container["args"] = [AUTOSCALER_START_CMD]
    container["resources"] = resources("500m", "512Mi")
    if token_auth_enabled(spec):
        set_token_auth_env(container, cluster, spec)

    overrides = spec.autoscaler_options
    if overrides is None:
        return container
    if overrides.resources is not None:
        container["resources"] = overrides.resources.wire()
    if overrides.image is not None:
        container["image"] = overrides.image
    if overrides.image_pull_policy is not None:
        container["imagePullPolicy"] = overrides.image_pull_policy
    if overrides.env:
        env_list(container).extend(var.wire() for var in overrides.env)
    if overrides.env_from:
        list_field(container, "envFrom").extend(deep(overrides.env_from))
    if overrides.volume_mounts:
        list_field(container, "volumeMounts").extend(deep(overrides.volume_mounts))
    if overrides.security_context is not None:
        container["securityContext"] = deep(overrides.security_context)
    if overrides.command:
        container["command"] = list(overrides.command)
    if overrides.args:
        container["args"] = list(overrides.args)
    return container


def autoscaler_version(spec: RayClusterSpec) -> str | None:
    """autoscalerOptions.version when set explicitly (then KubeRay sets the env var)."""
    return spec.autoscaler_options.version if spec.autoscaler_options else None


# -- wait-gcs-ready ---------------------------------------------------------------------------

_WAIT_SCRIPT = """
\t\t\t\t\tSECONDS=0
\t\t\t\t\twhile true; do
\t\t\t\t\t\tif (( SECONDS <= 120 )); then
\t\t\t\t\t\t\tif ray health-check --address {address} > /dev/null 2>&1; then
\t\t\t\t\t\t\t\techo "GCS is ready."
\t\t\t\t\t\t\t\tbreak
\t\t\t\t\t\t\tfi
\t\t\t\t\t\t\techo "$SECONDS seconds elapsed: Waiting for GCS to be ready."
\t\t\t\t\t\telse
\t\t\t\t\t\t\tif ray health-check --address {address}; then
\t\t\t\t\t\t\t\techo "GCS is ready. Any error messages above can be safely ignored."
\t\t\t\t\t\t\t\tbreak
\t\t\t\t\t\t\tfi
\t\t\t\t\t\t\techo "$SECONDS seconds elapsed: Still waiting for GCS to be ready. \
For troubleshooting, refer to the FAQ at \
https://docs.ray.io/en/master/cluster/kubernetes/troubleshooting.html."
\t\t\t\t\t\tfi
\t\t\t\t\t\tsleep 5
\t\t\t\t\tdone
\t\t\t\t"""


def wait_gcs_ready(
    ray_container: dict[str, Any], address: str, options: BuildOptions
) -> dict[str, Any]:
    """The worker's init container: poll ``ray health-check`` every 5 s until the GCS answers.

    It runs the Ray image with the Ray container's env and volume mounts (TLS settings may
    live there) and fixed 200m/256Mi, so GPU quotas and Autopilot do not apply to it.
    *address* is ``<head-svc fqdn>:<port>``.
    """
    container: dict[str, Any] = {"name": WAIT_GCS_READY}
    for key in ("image", "imagePullPolicy"):
        if ray_container.get(key) is not None:
            container[key] = ray_container[key]
    container["command"] = container_command(options)
    container["args"] = [_WAIT_SCRIPT.format(address=address)]
    if ray_container.get("securityContext") is not None:
        container["securityContext"] = deep(ray_container["securityContext"])
    if ray_container.get("env"):
        container["env"] = deep(ray_container["env"])
    if ray_container.get("volumeMounts"):
        container["volumeMounts"] = deep(ray_container["volumeMounts"])
    container["resources"] = resources("200m", "256Mi")
    return container


# -- token authentication ---------------------------------------------------------------------


def token_auth_enabled(spec: RayClusterSpec) -> bool:
    return spec.auth_options is not None and spec.auth_options.mode == "token"


def k8s_token_auth_enabled(spec: RayClusterSpec) -> bool:
    return spec.auth_options is not None and bool(spec.auth_options.enable_k8s_token_auth)


def set_token_auth_env(container: dict[str, Any], cluster: str, spec: RayClusterSpec) -> None:
    """RAY_AUTH_MODE=token and the token (or the projected SA token with K8s token auth)."""
    if not has_env(container, "RAY_AUTH_MODE"):
        add_env(container, "RAY_AUTH_MODE", "token")
    if k8s_token_auth_enabled(spec):
        if not has_env(container, "RAY_ENABLE_K8S_TOKEN_AUTH"):
            add_env(container, "RAY_ENABLE_K8S_TOKEN_AUTH", "true")
        mounts = container.get("volumeMounts") or ()
        if not any(m.get("name") == RAY_TOKEN_VOLUME for m in mounts):
            add_mount(
                container,
                {"name": RAY_TOKEN_VOLUME, "mountPath": RAY_TOKEN_MOUNT_PATH, "readOnly": True},
            )
    elif not has_env(container, "RAY_AUTH_TOKEN"):
        ref = {"name": auth_secret_name(cluster, spec), "key": AUTH_TOKEN_KEY}
        env_list(container).append({"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": ref}})


def add_token_volume(pod_spec: dict[str, Any]) -> None:
    """The projected ServiceAccount token that K8s token auth mounts (AddRayTokenVolume)."""
    if not has_volume(pod_spec, RAY_TOKEN_VOLUME):
        projection = {"serviceAccountToken": {"path": "token"}}
        add_volume(pod_spec, {"name": RAY_TOKEN_VOLUME, "projected": {"sources": [projection]}})
