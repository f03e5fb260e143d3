"""What of a RayCluster the local runtime keeps but does not apply, said plainly.

A KubeRay YAML carries Pod-only settings (image, service account, scheduling, volumes,
probes). Locally they have no meaning; they are kept in the stored object (so the same
YAML moves to Kubernetes intact) and listed by `describe` so nothing is silently dropped.

Security settings get more than a note: a cluster that asks for token auth, mTLS or a
network policy and runs without it must not look protected, so :func:`security_warnings`
are printed first by `apply` and listed by `describe` for the RayCluster and for the
RayJob or RayService that embeds its spec.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from rayplane.api.k8s import PodTemplateSpec
from rayplane.api.quantity import QuantityError, ceil_value, parse_quantity
from rayplane.api.raycluster import RayCluster, RayClusterSpec
from rayplane.api.raycronjob import RayCronJob
from rayplane.api.rayjob import RayJob
from rayplane.api.rayservice import RayService
from rayplane.local import sandbox
from rayplane.local.pinned import dropped_param_notes
from rayplane.local.ray_envs import (
    APPROX_DISK_MB,
    APPROX_DOWNLOAD_MB,
    ENVS_DIR,
    RayEnvError,
    check_version,
)
from rayplane.reconcile.volumes import plan_volumes
from rayplane.settings.local import RAY_VERSIONS_INSTALL, RAY_VERSIONS_INSTALLED

_POD_ONLY = (
    "serviceAccountName",
    "nodeSelector",
    "tolerations",
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


def security_warnings(spec: RayClusterSpec, where: str = "spec") -> list[str]:
    """Each security setting of *spec* the local runtime does not honour, and its cost.

    Token auth is honoured (on by default locally; :mod:`rayplane.local.auth_token`);
    local nodes have plain-text gRPC and no network policy, so anything a user on this
    machine can run can reach their loopback ports.
    """
    out = []
    auth = spec.auth_options
    if auth is not None and auth.mode == "disabled":
        out.append(
            f"{where}.authOptions.mode is disabled: the dashboard, its Jobs API (job "
            "submission runs code) and the GCS on 127.0.0.1 answer every local user and "
            "process without a token; remove authOptions to have the local default, token."
        )
    elif auth is not None and auth.enable_k8s_token_auth:
        out.append(
            f"{where}.authOptions.enableK8sTokenAuth has no Kubernetes API server to "
            "delegate to locally: the cluster uses a token from a generated Secret instead."
        )
    if spec.tls_options is not None and spec.tls_options.enabled:
        out.append(
            f"{where}.tlsOptions.enabled is true, but local Ray nodes talk plain-text gRPC: "
            "no mutual TLS authenticates or encrypts traffic between Ray components."
        )
    if spec.network_policy is not None:
        out.append(
            f"{where}.networkPolicy is set, but the local runtime has no network policies: "
            "any local process can connect to the cluster's ports on 127.0.0.1."
        )
    return out


def embedded_spec(raw: dict[str, Any]) -> tuple[RayClusterSpec | None, str]:
    """The cluster spec a RayCluster, RayJob, RayService or RayCronJob document carries, and
    its path."""
    kind = raw.get("kind")
    if kind == "RayCluster":
        return RayCluster.model_validate(raw).spec, "spec"
    if kind == "RayJob":
        return RayJob.model_validate(raw).spec.ray_cluster_spec, "spec.rayClusterSpec"
    if kind == "RayService":
        return RayService.model_validate(raw).spec.ray_cluster_config, "spec.rayClusterConfig"
    if kind == "RayCronJob":
        template = RayCronJob.model_validate(raw).spec.job_template
        return template.ray_cluster_spec, "spec.jobTemplate.rayClusterSpec"
    return None, ""


def apply_notes(
    raw: dict[str, Any], ray_versions: str = RAY_VERSIONS_INSTALLED
) -> tuple[list[str], list[str]]:
    """What `apply` says about a validated document: (security warnings, dropped params
    and the rayVersion note)."""
    spec, where = embedded_spec(raw)
    if spec is None:
        return [], []
    version = ray_version_note(spec, ray_versions, where)
    rest = dropped_param_notes(spec, where) + volume_notes(spec, where) + version
    return security_warnings(spec, where), rest


def volume_notes(spec: RayClusterSpec, where: str = "spec") -> list[str]:
    """Mounts a node will not get: unsupported kinds, refused paths, or no bubblewrap."""
    templates = [(f"{where}.headGroupSpec.template.spec", spec.head_group_spec.template)]
    templates += [
        (f"{where}.workerGroupSpecs[{i}].template.spec", g.template)
        for i, g in enumerate(spec.worker_group_specs)
    ]
    notes: list[str] = []
    wanted: list[str] = []
    for path, template in templates:
        plan = plan_volumes(template.spec.wire(), path)
        notes += plan.problems
        wanted += [f"{path}: {m.path}" for m in plan.mounts]
    why = sandbox.unavailable() if wanted else ""
    if why:
        notes.append(
            f"volumes are not mounted ({'; '.join(wanted)}): {why}. Nodes start without them."
        )
    return notes


def ray_version_note(
    spec: RayClusterSpec, ray_versions: str = RAY_VERSIONS_INSTALLED, where: str = "spec"
) -> list[str]:
    """What runs for a rayVersion other than the installed Ray, and how to change it.

    Opted out (the default), this is the offer: the version, the cost and the exact
    setting. Opted in, it says where that Ray comes from, so nobody wonders which ran.
    """
    installed = _installed_ray()
    wanted = spec.ray_version
    if not wanted or not installed or wanted == installed:
        return []
    if ray_versions == RAY_VERSIONS_INSTALL:
        try:
            check_version(wanted, f"{where}.rayVersion")
        except RayEnvError as exc:
            return [f"{exc} The installed Ray {installed} cannot stand in when installing."]
        note = (
            f"rayVersion is {wanted}: its nodes run Ray {wanted} from a virtualenv under "
            f"$RAYPLANE_HOME/{ENVS_DIR}/{wanted} (built on first use from the package index; "
            f"RAYPLANE_RAY_VERSIONS=install), not the installed Ray {installed}."
        )
        if spec.autoscaling:
            note += f" Its autoscaler runs the installed Ray {installed} (not the sidecar's)."
        return [note]
    return [
        f"rayVersion is {wanted} but the installed Ray is {installed}; the local runtime "
        f"runs the installed one. To run {wanted} as written, start the controller with "
        f"RAYPLANE_RAY_VERSIONS=install (`rayplane controller stop`, then apply again with "
        f"it set): it builds a virtualenv with ray[default]=={wanted} under "
        f"$RAYPLANE_HOME/{ENVS_DIR}/ (about {APPROX_DOWNLOAD_MB} MB to download, "
        f"{APPROX_DISK_MB} MB on disk, once per version)."
    ]


def local_notes(cluster: RayCluster, ray_versions: str = RAY_VERSIONS_INSTALLED) -> list[str]:
    """What `describe` lists for a RayCluster: security warnings first, then the rest."""
    spec = cluster.spec
    notes = security_warnings(spec)
    notes += _template_notes("headGroupSpec.template.spec", spec.head_group_spec.template)
    for index, group in enumerate(spec.worker_group_specs):
        notes += _template_notes(f"workerGroupSpecs[{index}].template.spec", group.template)
    notes += dropped_param_notes(spec)
    notes += volume_notes(spec)
    notes += ray_version_note(spec, ray_versions)
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
