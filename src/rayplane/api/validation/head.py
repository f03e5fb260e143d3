"""The head group's container and env, as several RayCluster rules read them.

KubeRay decides fault tolerance, autoscaler v2 and auth from env vars on the head's
first container; the rules name the env entry's own path in their findings.
"""

from __future__ import annotations

from rayplane.api.k8s import Container
from rayplane.api.raycluster import RayClusterSpec
from rayplane.api.validation.paths import join


def autoscaler_v2(spec: RayClusterSpec) -> bool:
    """KubeRay's IsAutoscalingV2Enabled: explicit version v2, or the env switch on the head."""
    options = spec.autoscaler_options
    if options and options.version == "v2":
        return True
    return truthy(head_env(spec, "RAY_enable_autoscaler_v2"))


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true"}


def head_container(spec: RayClusterSpec) -> Container | None:
    containers = spec.head_group_spec.template.spec.containers
    return containers[0] if containers else None


def head_env(spec: RayClusterSpec, name: str) -> str | None:
    container = head_container(spec)
    return container.env_value(name) if container else None


def env_path(path: str, container: Container | None, name: str) -> str:
    """Path of env var *name* in *container* (whose path is *path*), or of its env list."""
    base = join(path, "env")
    for index, var in enumerate((container.env or []) if container else []):
        if var.name == name:
            return join(base, index)
    return base


def head_container_path(path: str) -> str:
    return join(join(join(join(join(path, "headGroupSpec"), "template"), "spec"), "containers"), 0)
