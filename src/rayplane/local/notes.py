"""What of a RayCluster the local runtime keeps but does not apply, said plainly.

A KubeRay YAML carries Pod-only settings (image, service account, scheduling, volumes,
probes). Locally they have no meaning; they are kept in the stored object (so the same
YAML moves to Kubernetes intact) and listed by `describe` so nothing is silently dropped.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

from rayplane.api.k8s import PodTemplateSpec
from rayplane.api.quantity import QuantityError, ceil_value, parse_quantity
from rayplane.api.raycluster import RayCluster

_POD_ONLY = (
    "serviceAccountName",
    "nodeSelector",
    "tolerations",
    "volumes",
    "affinity",
    "imagePullSecrets",
    "initContainers",
    "securityContext",
    "priorityClassName",
    "schedulerName",
    "hostNetwork",
    "topologySpreadConstraints",
)
_CONTAINER_ONLY = (
    "image",
    "imagePullPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "volumeMounts",
    "securityContext",
    "lifecycle",
    "command",
    "args",
)


def _installed_ray() -> str | None:
    try:
        return version("ray")
    except PackageNotFoundError:  # pragma: no cover - ray is a dependency
        return None


def _template_notes(where: str, template: PodTemplateSpec) -> list[str]:
    spec = template.spec.wire()
    found = [key for key in _POD_ONLY if key in spec]
    for container in spec.get("containers", [])[:1]:
        found += [f"containers[0].{key}" for key in _CONTAINER_ONLY if key in container]
    if not found:
        return []
    return [f"{where}: {', '.join(found)} kept but not applied locally (Pod-only settings)."]


def local_notes(cluster: RayCluster) -> list[str]:
    spec = cluster.spec
    notes = _template_notes("headGroupSpec.template.spec", spec.head_group_spec.template)
    for index, group in enumerate(spec.worker_group_specs):
        notes += _template_notes(f"workerGroupSpecs[{index}].template.spec", group.template)
    host = spec.head_group_spec.ray_start_params.get("dashboard-host")
    if host and host != "127.0.0.1":
        notes.append(
            f"headGroupSpec.rayStartParams.dashboard-host is {host}; locally every "
            "Ray listener is bound to 127.0.0.1 instead."
        )
    installed = _installed_ray()
    if spec.ray_version and installed and spec.ray_version != installed:
        notes.append(
            f"rayVersion is {spec.ray_version} but the installed Ray is {installed}; "
            "the local runtime runs the installed one."
        )
    notes += _capacity_notes(cluster)
    notes += _autoscaler_notes(cluster)
    return notes


_AUTOSCALER_CONTAINER_ONLY = (
    "image",
    "imagePullPolicy",
    "resources",
    "securityContext",
    "volumeMounts",
    "command",
    "args",
)


def _autoscaler_notes(cluster: RayCluster) -> list[str]:
    """The autoscaler sidecar's container settings have no local meaning; v1 runs as v2."""
    options = cluster.spec.autoscaler_options
    if options is None:
        return []
    notes = []
    wire = options.wire()
    found = [key for key in _AUTOSCALER_CONTAINER_ONLY if key in wire]
    if found:
        notes.append(
            f"autoscalerOptions: {', '.join(found)} kept but not applied locally (the "
            "autoscaler runs as a local process, not a sidecar container)."
        )
    if options.version == "v1":
        notes.append(
            "autoscalerOptions.version is v1; the local runtime runs Ray's v2 autoscaler, "
            "which scales by the same replicas/workersToDelete contract."
        )
    if not cluster.spec.autoscaling:
        notes.append("autoscalerOptions is set but enableInTreeAutoscaling is not true: unused.")
    return notes


def _limit(template: PodTemplateSpec, resource: str) -> int:
    containers = template.spec.containers
    if not containers or not containers[0].resources:
        return 0
    res = containers[0].resources
    value = (res.limits or {}).get(resource) or (res.requests or {}).get(resource)
    if value is None:
        return 0
    try:
        return ceil_value(value) if resource == "cpu" else int(parse_quantity(value))
    except QuantityError:
        return 0


def _capacity_notes(cluster: RayCluster) -> list[str]:
    """Ray's resources are logical, so oversubscription works; say so when it happens."""
    spec = cluster.spec
    cpus = _limit(spec.head_group_spec.template, "cpu")
    memory = _limit(spec.head_group_spec.template, "memory")
    for group in spec.worker_group_specs:
        count = group.desired_replicas * group.num_of_hosts
        cpus += count * _limit(group.template, "cpu")
        memory += count * _limit(group.template, "memory")
    notes = []
    have_cpus = os.cpu_count() or 1
    if cpus > have_cpus:
        notes.append(
            f"the cluster asks for {cpus} CPUs and this machine has {have_cpus}; Ray "
            "resources are logical, so it runs oversubscribed."
        )
    try:
        have_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover - not on Linux
        have_memory = 0
    if have_memory and memory > have_memory:
        notes.append(
            f"the cluster asks for {memory / 2**30:.1f} GiB of memory and this machine "
            f"has {have_memory / 2**30:.1f} GiB; Ray memory is logical, so it runs "
            "oversubscribed."
        )
    return notes
