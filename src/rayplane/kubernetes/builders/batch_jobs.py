"""Kubernetes Jobs: the RayJob submitter and the GCS FT Redis cleanup.

KubeRay's common/job.go, rayjob_controller.go (getSubmitterTemplate, createNewK8sJob,
configureSubmitterContainer) and raycluster_controller.go (buildRedisCleanupJob) at
feeaf72.

The submitter waits for the dashboard's GCS health endpoint, submits the job only if
``ray job status`` does not know its submission id (the Job may be retried), and follows
its logs; the RayJob controller reads the outcome from the Ray dashboard, not from the Job.
"""

from __future__ import annotations

from typing import Any

from rayplane.api.raycluster import RayCluster, RayClusterSpec
from rayplane.api.rayjob import RayJob
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.containers import (
    add_token_volume,
    container_command,
    k8s_token_auth_enabled,
    set_token_auth_env,
    token_auth_enabled,
)
from rayplane.kubernetes.builders.names import redis_cleanup_job_name
from rayplane.kubernetes.builders.objects import (
    BuildError,
    Manifest,
    add_env,
    env_list,
    envelope,
    normalize_resources,
    resources,
)
from rayplane.kubernetes.builders.options import DEFAULT_OPTIONS, BuildOptions
from rayplane.kubernetes.builders.pods import build_head_pod
from rayplane.reconcile.job import submitter_command

SUBMITTER = "ray-job-submitter"
SUBMITTER_BACKOFF_LIMIT = 2
DASHBOARD_PORT = 8265
K8S_JOB_MODE = "K8sJobMode"
SIDECAR_MODE = "SidecarMode"
METADATA_MIN_RAY = (2, 6, 0)

REDIS_CLEANUP_BACKOFF_LIMIT = 0
REDIS_CLEANUP_DEADLINE_S = 300

# -- the submitter ------------------------------------------------------------------------------


def _version(text: str) -> tuple[int, int, int] | None:
    parts = text.lstrip("v").split("-")[0].split("+")[0].split(".")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        return None
    if not 1 <= len(numbers) <= 3:
        return None
    numbers += [0] * (3 - len(numbers))
    return numbers[0], numbers[1], numbers[2]


def job_submit_command(
    job: RayJob,
    job_id: str,
    dashboard_url: str,
    mode: str = K8S_JOB_MODE,
    cluster_spec: RayClusterSpec | None = None,
) -> str:
    """The submitter's script (BuildJobSubmitCommand), the one the local runtime runs too.

    K8sJobMode talks to ``http://<dashboard_url>`` and guards against a second submission
    with ``ray job status``; SidecarMode talks to the dashboard on 127.0.0.1 in the head pod,
    at the head container's ``dashboard`` port. What only Kubernetes checks (the Ray
    version for ``metadata``) is checked here; the script itself is the reconciler's.
    """
    if mode == SIDECAR_MODE:
        port = DASHBOARD_PORT
        head = cluster_spec.head_group_spec.template.spec.containers if cluster_spec else []
        for container_port in (head[0].ports or []) if head else []:
            if container_port.name == "dashboard":
                port = container_port.container_port
                break
        dashboard_url = f"127.0.0.1:{port}"
    elif mode != K8S_JOB_MODE:
        raise BuildError(f"unsupported submission mode for a submitter: {mode}")
    if job.spec.metadata:
        version = cluster_spec.ray_version if cluster_spec else None
        if version:
            parsed = _version(version)
            if parsed is None:
                raise BuildError(f"failed to parse Ray version: {version}")
            if parsed < METADATA_MIN_RAY:
                raise BuildError("the Ray version must be at least 2.6.0 to use the metadata field")
    if job.spec.submission_mode != mode:
        job = job.model_copy(update={"spec": job.spec.model_copy(update={"submission_mode": mode})})
    try:
        return submitter_command(job, dashboard_url, job_id=job_id)[-1]
    except ValueError as exc:
        raise BuildError(str(exc)) from exc


def default_submitter_container(cluster_spec: RayClusterSpec | None) -> dict[str, Any]:
    """``ray-job-submitter`` with the head's image (no version skew), 500m/200Mi to 1/1Gi."""
    container: dict[str, Any] = {"name": SUBMITTER}
    containers = cluster_spec.head_group_spec.template.spec.containers if cluster_spec else []
    if containers and containers[0].image is not None:
        container["image"] = containers[0].image
    container["resources"] = resources("1", "1Gi", "500m", "200Mi")
    return container


def _configure_submitter(
    container: dict[str, Any],
    job: RayJob,
    job_id: str,
    dashboard_url: str,
    mode: str,
    cluster: tuple[str, RayClusterSpec] | None,
    options: BuildOptions,
) -> None:
    """configureSubmitterContainer: command (unless the user's, in K8sJobMode) and env."""
    spec = cluster[1] if cluster else None
    script = job_submit_command(job, job_id, dashboard_url, mode, spec)
    if not container.get("command") or mode == SIDECAR_MODE:
        container["command"] = container_command(options, "e")
        container["args"] = [script]
    add_env(container, "PYTHONUNBUFFERED", "1")
    add_env(container, "RAY_DASHBOARD_ADDRESS", dashboard_url)
    add_env(container, "RAY_JOB_SUBMISSION_ID", job_id)
    if cluster is not None and token_auth_enabled(cluster[1]):
        set_token_auth_env(container, cluster[0], cluster[1])


def sidecar_submitter(
    job: RayJob,
    job_id: str,
    cluster: tuple[str, RayClusterSpec],
    options: BuildOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """The ``ray-job-submitter`` container a SidecarMode RayJob adds to its head pod."""
    container = default_submitter_container(cluster[1])
    # SidecarMode's dashboard address is fixed; RAY_DASHBOARD_ADDRESS is still the status's,
    # which is empty while the cluster is being created.
    _configure_submitter(container, job, job_id, "", SIDECAR_MODE, cluster, options)
    return container


def submitter_job(
    job: RayJob,
    job_id: str,
    dashboard_url: str,
    cluster: tuple[str, RayClusterSpec] | None,
    options: BuildOptions = DEFAULT_OPTIONS,
) -> Manifest:
    """The K8sJobMode submitter Job, named after the RayJob and owned by it.

    *dashboard_url* is the RayJob's ``status.dashboardURL``
    (``<head-svc fqdn>:<dashboard port>``); *cluster* is the cluster's (name, spec), or None
    when it is not known (clusterSelector in a dry run).
    """
    spec = job.spec
    if spec.submitter_pod_template is not None:
        template = spec.submitter_pod_template.wire()
    else:
        container = default_submitter_container(cluster[1] if cluster else None)
        template = {"spec": {"containers": [container], "restartPolicy": "Never"}}
    pod_spec: dict[str, Any] = template.setdefault("spec", {})
    containers = pod_spec.get("containers") or []
    if not containers:
        raise BuildError("submitterPodTemplate has no container")
    _configure_submitter(containers[0], job, job_id, dashboard_url, K8S_JOB_MODE, cluster, options)
    normalize_resources(containers)
    if cluster is not None and k8s_token_auth_enabled(cluster[1]):
        add_token_volume(pod_spec)
    labels = {**L.originated_from(job.name, "RayJob"), L.CREATED_BY: L.CREATED_BY_VALUE}
    meta: dict[str, Any] = dict(template.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    rest = {k: v for k, v in template.items() if k != "metadata"}
    template = {"metadata": meta, **rest}
    manifest = envelope("batch/v1", "Job", job.name, job.namespace, labels=labels, owner=job)
    backoff = SUBMITTER_BACKOFF_LIMIT
    if spec.submitter_config is not None and spec.submitter_config.backoff_limit is not None:
        backoff = spec.submitter_config.backoff_limit
    manifest["spec"] = {"backoffLimit": backoff, "template": template}
    return manifest


# -- Redis cleanup ------------------------------------------------------------------------------

_CLEANUP_PREAMBLE = (
    'echo "To get more information about manually deleting the storage namespace in Redis and '
    "removing the RayCluster's finalizer, please check "
    "https://docs.ray.io/en/master/cluster/kubernetes/user-guides/kuberay-gcs-ft.html for more "
    'details." && python -c "from ray._private.gcs_utils import cleanup_redis_storage; '
    "from urllib.parse import urlparse; import os; import sys; "
    "redis_address = os.getenv('RAY_REDIS_ADDRESS', '').split(',')[0]; "
    "redis_address = redis_address if '://' in redis_address else 'redis://' + redis_address; "
    "parsed = urlparse(redis_address); "
)
_CLEANUP_CALL = (
    "sys.exit(1) if not cleanup_redis_storage(host=parsed.hostname, port=parsed.port, "
    "{username}password=os.getenv('REDIS_PASSWORD', parsed.password or ''), "
    "use_ssl=parsed.scheme=='rediss', "
    "storage_namespace=os.getenv('RAY_external_storage_namespace')) else None\""
)
_CLEANUP_USERNAME = "username=os.getenv('REDIS_USERNAME', parsed.username), "


def redis_cleanup_job(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> Manifest:
    """``<cluster>-redis-cleanup``: deletes the cluster's GCS data from Redis.

    Created only when a Redis-backed fault-tolerant cluster is deleted (after its head is
    gone); the finalizer ``ray.io/gcs-ft-redis-cleanup-finalizer`` waits for it. It is the
    head pod with only the Ray container, a Python one-liner instead of ``ray start``, no
    probes, 200m/256Mi and 120 Redis connection retries; one try, at most 5 minutes.
    """
    pod = build_head_pod(cluster, options)
    meta = pod["metadata"]
    meta["labels"][L.NODE_TYPE] = L.REDIS_CLEANUP
    pod_spec = pod["spec"]
    ray = pod_spec["containers"][0]
    pod_spec["containers"] = [ray]
    ray["command"] = container_command(options)
    has_username = any(var.get("name") == "REDIS_USERNAME" for var in ray.get("env") or ())
    call = _CLEANUP_CALL.format(username=_CLEANUP_USERNAME if has_username else "")
    ray["args"] = [_CLEANUP_PREAMBLE + call]
    ray.pop("livenessProbe", None)
    ray.pop("readinessProbe", None)
    env_list(ray).append({"name": "RAY_redis_db_connect_retries", "value": "120"})
    env_list(ray).append({"name": "RAY_redis_db_connect_wait_milliseconds", "value": "500"})
    ray["resources"] = resources("200m", "256Mi")
    pod_spec["restartPolicy"] = "Never"

    job = envelope(
        "batch/v1",
        "Job",
        redis_cleanup_job_name(cluster.name),
        cluster.namespace,
        labels=meta["labels"],
        annotations=meta.get("annotations"),
        owner=cluster,
    )
    template_meta = {k: meta[k] for k in ("labels", "annotations") if meta.get(k)}
    job["spec"] = {
        "backoffLimit": REDIS_CLEANUP_BACKOFF_LIMIT,
        "template": {"metadata": template_meta, "spec": pod_spec},
        "activeDeadlineSeconds": REDIS_CLEANUP_DEADLINE_S,
    }
    return job
