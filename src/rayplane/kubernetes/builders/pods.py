"""Head and worker Pods of a RayCluster, exactly as KubeRay builds them.

The steps and their order are KubeRay's DefaultHeadPodTemplate / DefaultWorkerPodTemplate /
BuildPod (ray-operator/controllers/ray/common/pod.go at feeaf72); env var order matters
because Kubernetes expands ``$(VAR)`` only from variables defined earlier in the list.

1. The template is copied; the pod goes to the cluster's namespace with KubeRay's labels
   (user labels cannot override cluster, node type or group) and an owner reference.
2. Head with in-tree autoscaling: ServiceAccount, the ``autoscaler`` sidecar, and with an
   explicit autoscalerOptions.version, RAY_enable_autoscaler_v2 (v2 also forces
   restartPolicy Never on head and workers). Workers: the ``wait-gcs-ready`` init container.
3. GCS fault tolerance (:mod:`.gcs_ft`).
4. A ``metrics`` container port (8080) unless one is named so; token auth env.
5. BuildPod: ``ray.io/serve`` labels on RayService pods; the /dev/shm emptyDir (Memory,
   sized by the memory limit, else request) unless ``plasma-directory`` is set; a shared
   /tmp/ray for the autoscaler; the container command ``/bin/bash -c --`` with
   ``ulimit -n ...; ray start ...`` (kept as written when the user's command already runs
   ``ray start`` or the ``ray.io/overwrite-container-cmd`` annotation is "true"); the
   injected env; the probes.

The ``ray start`` line itself comes from :mod:`rayplane.reconcile.raystart`, the one builder
both runtimes share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rayplane.api.raycluster import HEAD_GROUP, RayCluster, WorkerGroupSpec
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.containers import (
    AUTOSCALER,
    WAIT_GCS_READY,
    add_token_volume,
    autoscaler_container,
    autoscaler_version,
    container_command,
    k8s_token_auth_enabled,
    set_token_auth_env,
    token_auth_enabled,
    wait_gcs_ready,
)
from rayplane.kubernetes.builders.gcs_ft import gcs_fault_tolerance
from rayplane.kubernetes.builders.hashes import spec_hash
from rayplane.kubernetes.builders.names import (
    check_name,
    fqdn,
    head_pod_name,
    head_service_account,
    head_service_name,
    with_suffix,
    worker_pod_generate_name,
)
from rayplane.kubernetes.builders.objects import (
    BuildError,
    Manifest,
    add_env,
    add_env_if_missing,
    add_field_env,
    add_mount,
    add_volume,
    has_mount_path,
    has_volume,
    label_field,
    list_field,
    normalize_resources,
    owner_reference,
    tidy_metadata,
)
from rayplane.kubernetes.builders.options import DEFAULT_OPTIONS, BuildOptions
from rayplane.kubernetes.builders.probes import add_probes
from rayplane.reconcile.cluster import CreateNode
from rayplane.reconcile.kuberay import random_suffix
from rayplane.reconcile.raystart import RayStartCommand, build_ray_start, head_port

RAY_CLUSTER = "RayCluster"
RAY_JOB = "RayJob"
RAY_SERVICE = "RayService"

SHARED_MEMORY_VOLUME = "shared-mem"
SHARED_MEMORY_PATH = "/dev/shm"
RAY_LOGS_VOLUME = "ray-logs"
RAY_LOGS_PATH = "/tmp/ray"
PLASMA_DIRECTORY = "plasma-directory"
METRICS_PORT_NAME = "metrics"
METRICS_PORT = 8080
LOCALHOST = "127.0.0.1"
ULIMIT = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"


@dataclass(frozen=True)
class Slot:
    """Where a new worker Pod sits in its group (the RayMultiHostIndexing labels).

    ``replica_index`` is ``ray.io/worker-group-replica-index``; multi-host replicas also
    carry their shared ``replica_name`` and each Pod its ``host_index``.
    """

    replica_index: int = 0
    replica_name: str | None = None
    host_index: int | None = None


def creator_kind(cluster: RayCluster) -> str:
    """RayCluster, RayJob or RayService: who made the cluster (``ray.io/originated-from-crd``)."""
    kind = (cluster.metadata.labels or {}).get(L.ORIGINATED_FROM_CRD, "")
    return kind if kind in (RAY_JOB, RAY_SERVICE) else RAY_CLUSTER


def head_fqdn(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> str:
    """The head Service's FQDN, what workers and drivers inside Kubernetes connect to."""
    service = head_service_name(cluster.name, cluster.spec)
    return fqdn(service, cluster.namespace, options.cluster_domain)


# -- public builders ----------------------------------------------------------------------------


def head_pod(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> Manifest:
    """The head Pod (generateName ``<cluster>-head-``) as the operator creates it.

    Carries ``ray.io/upgrade-strategy-recreate-hash`` (see :mod:`.hashes`) and
    ``ray.io/kuberay-version``, which ``upgradeStrategy: Recreate`` compares.
    """
    pod = build_head_pod(cluster, options)
    annotations = pod["metadata"].setdefault("annotations", {})  # ft-enabled is always there
    annotations[L.UPGRADE_STRATEGY_RECREATE_HASH] = spec_hash(cluster.spec)
    annotations[L.KUBERAY_VERSION] = options.operator_version
    return pod


def build_head_pod(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> Manifest:
    """The head Pod without the creation-time annotations (KubeRay's buildHeadPod)."""
    spec = cluster.spec
    head = spec.head_group_spec
    template = head.template.wire()
    pod_spec = _pod_spec(template, "the head group")
    ray = pod_spec["containers"][0]
    meta = _pod_metadata(template, cluster)
    pod_name = head_pod_name(cluster.name, options.deterministic_head_pod_name)
    meta["name" if options.deterministic_head_pod_name else "generateName"] = pod_name
    meta["labels"] = L.pod_labels(
        cluster.name, L.HEAD, HEAD_GROUP, _template_labels(template), head.labels
    )
    command = build_ray_start(spec, None, head_address=None)

    if spec.autoscaling:
        pod_spec["serviceAccountName"] = check_name(head_service_account(cluster.name, spec))
        image = ray.get("image")
        pod_spec["containers"].append(autoscaler_container(spec, cluster.name, image, options))
        version = autoscaler_version(spec)
        if version == "v2":
            add_env(ray, "RAY_enable_autoscaler_v2", "true")
            pod_spec["restartPolicy"] = "Never"
        elif version == "v1":
            add_env(ray, "RAY_enable_autoscaler_v2", "false")

    gcs_fault_tolerance(cluster, pod_spec, ray, meta["annotations"], head=True)
    _metrics_port(ray)
    _token_auth(cluster, pod_spec)
    _build_pod(cluster, meta, pod_spec, command, head=True, options=options)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": tidy_metadata(meta), "spec": pod_spec}


def worker_pod(
    cluster: RayCluster,
    group: WorkerGroupSpec,
    slot: Slot | None = None,
    options: BuildOptions = DEFAULT_OPTIONS,
) -> Manifest:
    """A worker Pod of *group* (generateName ``<cluster>-<group>-worker-``)."""
    slot = slot or Slot()
    spec = cluster.spec
    group_name = group.group_name or ""
    template = group.template.wire()
    pod_spec = _pod_spec(template, f"worker group {group_name!r}")
    ray = pod_spec["containers"][0]
    address = f"{head_fqdn(cluster, options)}:{head_port(spec)}"

    if options.init_container_injection:
        # Copied before anything is injected: it gets the user's env and mounts only.
        list_field(pod_spec, "initContainers").append(wait_gcs_ready(ray, address, options))

    meta = _pod_metadata(template, cluster)
    meta.pop("name", None)  # several replicas: a fixed name would collide
    meta["generateName"] = worker_pod_generate_name(cluster.name, group_name)
    labels = L.pod_labels(
        cluster.name, L.WORKER, group_name, _template_labels(template), group.labels
    )
    labels[L.REPLICA_INDEX] = str(slot.replica_index)
    if group.num_of_hosts > 1:
        labels[L.REPLICA_NAME] = slot.replica_name or ""
        labels[L.HOST_INDEX] = str(slot.host_index or 0)
    meta["labels"] = labels
    command = build_ray_start(spec, group, head_address=address)

    gcs_fault_tolerance(cluster, pod_spec, ray, meta["annotations"], head=False)
    _metrics_port(ray)
    if spec.autoscaling and autoscaler_version(spec) == "v2":
        pod_spec["restartPolicy"] = "Never"
    _token_auth(cluster, pod_spec)
    _build_pod(cluster, meta, pod_spec, command, head=False, options=options)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": tidy_metadata(meta), "spec": pod_spec}


def pods_for(
    cluster: RayCluster,
    action: CreateNode,
    options: BuildOptions = DEFAULT_OPTIONS,
    replica_name: Callable[[str], str] | None = None,
) -> list[Manifest]:
    """The Pods that carry out one CreateNode of the pure reconciler.

    A multi-host replica is ``num_of_hosts`` Pods sharing a replica name,
    ``<group>-<5 random characters>`` unless *replica_name* (group -> name) says otherwise.
    """
    if action.kind == "head":
        return [head_pod(cluster, options)]
    group = next((g for g in cluster.spec.worker_group_specs if g.group_name == action.group), None)
    if group is None:
        raise BuildError(f"RayCluster {cluster.name!r} has no worker group {action.group!r}")
    name_of = replica_name or (lambda g: with_suffix(g, random_suffix()))
    pods: list[Manifest] = []
    if action.num_of_hosts > 1:
        for index in action.replica_indices:
            shared = name_of(action.group)
            for host in range(action.num_of_hosts):
                slot = Slot(index, shared, host)
                pods.append(worker_pod(cluster, group, slot, options))
    else:
        for index in action.replica_indices or tuple(range(action.count)):
            pods.append(worker_pod(cluster, group, Slot(index), options))
    return pods


# -- steps ---------------------------------------------------------------------------------------


def _pod_spec(template: dict[str, Any], what: str) -> dict[str, Any]:
    pod_spec: dict[str, Any] = template.get("spec") or {}
    if not pod_spec.get("containers"):
        raise BuildError(f"{what} has no container; the Ray container must be the first one")
    return pod_spec


def _template_labels(template: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = (template.get("metadata") or {}).get("labels") or {}
    return labels


def _pod_metadata(template: dict[str, Any], cluster: RayCluster) -> dict[str, Any]:
    """The template's metadata, in the cluster's namespace, owned by the cluster."""
    meta: dict[str, Any] = dict(template.get("metadata") or {})
    meta.pop("generateName", None)
    meta["namespace"] = cluster.namespace
    annotations = dict(meta.get("annotations") or {})
    if (cluster.annotation(L.OVERWRITE_CONTAINER_CMD) or "").lower() == "true":
        annotations[L.OVERWRITE_CONTAINER_CMD] = "true"
    meta["annotations"] = annotations
    meta["ownerReferences"] = [owner_reference(cluster)]
    return meta


def _metrics_port(ray: dict[str, Any]) -> None:
    ports = list_field(ray, "ports")
    if not any(port.get("name") == METRICS_PORT_NAME for port in ports):
        ports.append({"name": METRICS_PORT_NAME, "containerPort": METRICS_PORT})


def _token_auth(cluster: RayCluster, pod_spec: dict[str, Any]) -> None:
    """configureTokenAuth: the Ray container and a ``wait-gcs-ready`` init container."""
    spec = cluster.spec
    if not token_auth_enabled(spec):
        return
    set_token_auth_env(pod_spec["containers"][0], cluster.name, spec)
    if k8s_token_auth_enabled(spec):
        add_token_volume(pod_spec)
    for init in pod_spec.get("initContainers") or ():
        if init.get("name") == WAIT_GCS_READY:
            set_token_auth_env(init, cluster.name, spec)


def _build_pod(
    cluster: RayCluster,
    meta: dict[str, Any],
    pod_spec: dict[str, Any],
    command: RayStartCommand,
    *,
    head: bool,
    options: BuildOptions,
) -> None:
    """KubeRay's BuildPod: labels, volumes, command, env and probes."""
    spec = cluster.spec
    creator = creator_kind(cluster)
    containers: list[dict[str, Any]] = pod_spec["containers"]
    ray = containers[0]
    normalize_resources([*containers, *(pod_spec.get("initContainers") or ())])

    if creator == RAY_SERVICE:
        # Workers serve as soon as their readiness probe passes; the RayService controller
        # flips the head's label after checking its proxy.
        meta["labels"][L.SERVE] = "false" if head else "true"

    if PLASMA_DIRECTORY not in command.params:
        _empty_dir(ray, pod_spec, SHARED_MEMORY_VOLUME, SHARED_MEMORY_PATH, memory=True)
    if head and spec.autoscaling:
        autoscaler = next(c for c in containers if c.get("name") == AUTOSCALER)
        _empty_dir(ray, pod_spec, RAY_LOGS_VOLUME, RAY_LOGS_PATH, memory=False)
        _empty_dir(autoscaler, pod_spec, RAY_LOGS_VOLUME, RAY_LOGS_PATH, memory=False)

    start = command.kuberay_shell()
    user = "".join(f" {word} " for word in [*(ray.get("command") or ()), *(ray.get("args") or ())])
    overwrite = (meta["annotations"].get(L.OVERWRITE_CONTAINER_CMD) or "").lower() == "true"
    if not overwrite and "ray start" not in user:
        generated = f"{ULIMIT}; {start}"
        ray["command"] = container_command(options)
        ray["args"] = [f"{user} && {generated}" if user else generated]

    address_host = head_fqdn(cluster, options)
    service = address_host.split(".")[0]
    for init in pod_spec.get("initContainers") or ():
        add_env(init, "FQ_RAY_IP", address_host)
        add_env(init, "RAY_IP", service)  # deprecated, kept by KubeRay for compatibility

    port = head_port(spec)
    if not head:
        add_env(ray, "FQ_RAY_IP", address_host)
        add_env(ray, "RAY_IP", service)
    add_field_env(ray, "RAY_CLUSTER_NAME", label_field(L.CLUSTER))
    add_field_env(ray, "RAY_CLUSTER_NAMESPACE", "metadata.namespace")
    add_field_env(ray, "RAY_CLOUD_INSTANCE_ID", "metadata.name")
    add_field_env(ray, "RAY_NODE_TYPE_NAME", label_field(L.GROUP))
    add_env(ray, "KUBERAY_GEN_RAY_START_CMD", start)
    add_env_if_missing(ray, "RAY_PORT", port)
    if creator == RAY_SERVICE:
        add_env_if_missing(ray, "RAY_timeout_ms_task_wait_for_death_info", "0")
        add_env_if_missing(ray, "RAY_gcs_server_request_timeout_seconds", "5")
        add_env_if_missing(ray, "RAY_SERVE_KV_TIMEOUT_S", "5")
    add_env_if_missing(ray, "RAY_ADDRESS", f"{LOCALHOST if head else address_host}:{port}")
    add_env_if_missing(ray, "RAY_USAGE_STATS_KUBERAY_IN_USE", "1")
    if head:
        tags = f"kuberay_version={options.operator_version};kuberay_crd={creator}"
        add_env(ray, "RAY_USAGE_STATS_EXTRA_TAGS", tags)
    add_env_if_missing(ray, "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "1")

    if options.probes_injection:
        add_probes(
            ray,
            head=head,
            serve_worker=creator == RAY_SERVICE,
            params=command.params,
            ray_version=spec.ray_version,
        )


def _empty_dir(
    container: dict[str, Any], pod_spec: dict[str, Any], name: str, path: str, *, memory: bool
) -> None:
    """addEmptyDir: mount an emptyDir at *path* unless something is mounted there already."""
    if has_mount_path(container, path):
        return
    if not has_volume(pod_spec, name):
        empty_dir: dict[str, Any] = {}
        if memory:
            empty_dir["medium"] = "Memory"
            size = _memory_limit_or_request(container)
            if size is not None:
                empty_dir["sizeLimit"] = size
        add_volume(pod_spec, {"name": name, "emptyDir": empty_dir})
    add_mount(container, {"mountPath": path, "name": name})


def _memory_limit_or_request(container: dict[str, Any]) -> str | None:
    resources = container.get("resources") or {}
    for key in ("limits", "requests"):
        value = (resources.get(key) or {}).get("memory")
        if value is not None:
            return str(value)
    return None
