"""The K8sJobMode and SidecarMode submitter: KubeRay's ``ray job submit`` script, its
container, and the HTTPMode request body (ray-operator/controllers/ray/common/job.go).

A job submitted through rayplane must see byte-for-byte KubeRay's arguments, and a retried
submitter must produce the same script, so both runtimes build it here.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlsplit

from rayplane.api.k8s import Container, EnvVar
from rayplane.api.loading import LoadError, parse_text
from rayplane.api.raycluster import RayClusterSpec
from rayplane.api.rayjob import RayJob, RayJobStatus
from rayplane.reconcile.gostrings import go_json, go_quote
from rayplane.reconcile.job.model import SubmitJob

DEFAULT_SUBMITTER_BACKOFF_LIMIT: Final = 2
DEFAULT_DASHBOARD_PORT: Final = 8265
GCS_HEALTH_CHECK_TIMEOUT_SECONDS: Final = 10  # RayDashboardGCSHealthCheckTimeoutSeconds
SUBMITTER_CONTAINER_NAME: Final = "ray-job-submitter"
DASHBOARD_PORT_NAME: Final = "dashboard"
ENV_DASHBOARD_ADDRESS: Final = "RAY_DASHBOARD_ADDRESS"
ENV_SUBMISSION_ID: Final = "RAY_JOB_SUBMISSION_ID"
ENV_PYTHONUNBUFFERED: Final = "PYTHONUNBUFFERED"
ENV_AUTH_MODE: Final = "RAY_AUTH_MODE"
ENV_AUTH_TOKEN: Final = "RAY_AUTH_TOKEN"
AUTH_TOKEN_SECRET_KEY: Final = "auth_token"


def submitter_command(
    job: RayJob,
    dashboard_url: str,
    *,
    job_id: str | None = None,
    sidecar_restart: bool = False,
) -> list[str]:
    """KubeRay's submitter: ``["/bin/bash", "-ce", "--", script]`` (common/job.go).

    The script waits for ``/api/gcs_healthz``, then in K8sJobMode submits only if
    ``ray job status`` does not know the id (the Job may retry) and follows the logs::

        until python -c "...urlopen('http://D/api/gcs_healthz', timeout=10)..." >/dev/null 2>&1 ;
        do echo "Waiting for Ray Dashboard GCS to become healthy at http://D ..." ; sleep 2 ;
        done ; if ! ray job status --address http://D ID >/dev/null 2>&1 ; then ray job submit
        --address http://D --no-wait [--runtime-env-json ..] [--metadata-json ..]
        --submission-id ID [--entrypoint-num-cpus ..] -- ENTRYPOINT ; fi ;
        ray job logs --address http://D --follow ID

    In SidecarMode *dashboard_url* is the dashboard as the head sees it (``127.0.0.1:PORT``);
    the script submits once and waits, unless SidecarSubmitterRestart is on. *job_id*
    defaults to status.jobId. The entrypoint is shell text, as in KubeRay. The command needs
    ``python`` and ``ray`` on PATH.
    """
    mode = job.spec.submission_mode
    url = dashboard_url if "://" in dashboard_url else f"http://{dashboard_url}"
    if mode == "SidecarMode":
        port = urlsplit(url).port or DEFAULT_DASHBOARD_PORT
        address = f"http://127.0.0.1:{port}"
        health_url = f"http://localhost:{port}/api/gcs_healthz"
    elif mode == "K8sJobMode":
        address = url
        health_url = f"{address}/api/gcs_healthz"
    else:
        raise ValueError(f"unsupported submission mode for job submit command: {mode}")
    submission_id = job_id if job_id is not None else (job.status or RayJobStatus()).job_id or ""
    spec = job.spec

    health = (
        'python -c "import urllib.request; '
        f"r=urllib.request.urlopen('{health_url}', timeout={GCS_HEALTH_CHECK_TIMEOUT_SECONDS}); "
        "exit(0 if b'success' in r.read() else 1)\""
    )
    waiting = go_quote(f"Waiting for Ray Dashboard GCS to become healthy at {address} ...")
    cmd: list[str] = [
        "until", health, ">/dev/null", "2>&1", ";",
        "do", "echo", waiting, ";", "sleep", "2", ";", "done", ";",
    ]  # fmt: skip
    check_first = mode == "K8sJobMode" or sidecar_restart
    if check_first:
        cmd += ["if", "!", "ray", "job", "status", "--address", address, submission_id]
        cmd += [">/dev/null", "2>&1", ";", "then"]
    cmd += ["ray", "job", "submit", "--address", address]
    if check_first:
        cmd.append("--no-wait")
    runtime_env = runtime_env_of(job)
    if runtime_env is not None:
        cmd += ["--runtime-env-json", go_quote(go_json(runtime_env))]
    if spec.metadata:
        cmd += ["--metadata-json", go_quote(go_json(spec.metadata))]
    if submission_id:
        cmd += ["--submission-id", submission_id]
    if spec.entrypoint_num_cpus and spec.entrypoint_num_cpus > 0:
        cmd += ["--entrypoint-num-cpus", f"{float(spec.entrypoint_num_cpus):f}"]
    if spec.entrypoint_num_gpus and spec.entrypoint_num_gpus > 0:
        cmd += ["--entrypoint-num-gpus", f"{float(spec.entrypoint_num_gpus):f}"]
    if spec.entrypoint_resources:
        cmd += ["--entrypoint-resources", go_quote(spec.entrypoint_resources)]
    cmd += ["--", (spec.entrypoint or "").strip(), ";"]
    if check_first:
        cmd += ["fi", ";", "ray", "job", "logs", "--address", address, "--follow", submission_id]
    return ["/bin/bash", "-ce", "--", " ".join(cmd)]


def runtime_env_of(job: RayJob) -> dict[str, Any] | None:
    """spec.runtimeEnvYAML parsed (None when unset or empty); ValueError if it is not a map.

    Keys are made strings, as YAML-to-JSON conversion does.
    """
    text = job.spec.runtime_env_yaml
    if not text or not text.strip():
        return None
    try:
        docs = parse_text(text, "spec.runtimeEnvYAML")
    except LoadError as exc:
        raise ValueError(str(exc)) from exc
    if not docs:
        return None
    raw = docs[0].raw
    if not isinstance(raw, dict):
        raise ValueError("spec.runtimeEnvYAML must be a YAML mapping")
    result = string_keys(raw)
    assert isinstance(result, dict)
    return result


def entrypoint_resources_of(job: RayJob) -> dict[str, float] | None:
    """spec.entrypointResources (a JSON object string) parsed; ValueError if it is not one."""
    text = job.spec.entrypoint_resources
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"spec.entrypointResources is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in parsed.values()
    ):
        raise ValueError('spec.entrypointResources must be a JSON object like {"GPU_TYPE": 1}')
    return {str(k): float(v) for k, v in parsed.items()}


def check_name(name: str) -> str:
    """KubeRay's CheckName: at most 50 characters (from the end), no leading digit or
    punctuation. Used for the auth Secret's default name."""
    if len(name) > 50:
        name = name[len(name) - 50 :]
    if name and (name[0].isdigit() or not name[0].isalnum()):
        name = "r" + name[1:]
    return name


def configure_submitter(
    container: Container,
    command: list[str],
    cluster_spec: RayClusterSpec,
    cluster_name: str,
    dashboard_url: str,
    job_id: str,
    *,
    force: bool,
) -> None:
    """configureSubmitterContainer: the default command unless the user set one (always
    in SidecarMode), PYTHONUNBUFFERED, the dashboard address and submission id, and the
    auth token when the cluster requires one."""
    if force or not container.command:
        container.command = command[:3]
        container.args = command[3:]
    env = list(container.env or [])
    env.append(EnvVar(name=ENV_PYTHONUNBUFFERED, value="1"))
    env.append(EnvVar(name=ENV_DASHBOARD_ADDRESS, value=dashboard_url))
    env.append(EnvVar(name=ENV_SUBMISSION_ID, value=job_id))
    auth = cluster_spec.auth_options
    if auth is not None and auth.mode == "token":
        names = {var.name for var in env}
        if ENV_AUTH_MODE not in names:
            env.append(EnvVar(name=ENV_AUTH_MODE, value="token"))
        if ENV_AUTH_TOKEN not in names:
            secret = auth.secret_name or check_name(cluster_name)
            env.append(
                EnvVar.model_validate(
                    {
                        "name": ENV_AUTH_TOKEN,
                        "valueFrom": {
                            "secretKeyRef": {"name": secret, "key": AUTH_TOKEN_SECRET_KEY}
                        },
                    }
                )
            )
    container.env = env


def http_submission(job: RayJob, job_id: str, dashboard_url: str) -> SubmitJob:
    """ConvertRayJobToReq: the POST /api/jobs/ body of an HTTPMode job."""
    spec = job.spec
    cpus = float(spec.entrypoint_num_cpus) if spec.entrypoint_num_cpus else None
    gpus = float(spec.entrypoint_num_gpus) if spec.entrypoint_num_gpus else None
    return SubmitJob(
        job_id=job_id,
        dashboard_url=dashboard_url,
        entrypoint=spec.entrypoint or "",
        runtime_env=runtime_env_of(job),
        metadata=dict(spec.metadata) if spec.metadata else None,
        entrypoint_num_cpus=cpus,
        entrypoint_num_gpus=gpus,
        entrypoint_resources=entrypoint_resources_of(job),
    )


def dashboard_port(container: Container | None) -> int:
    """FindContainerPort(head, "dashboard", 8265)."""
    for port in (container.ports or []) if container is not None else []:
        if port.name == DASHBOARD_PORT_NAME:
            return port.container_port
    return DEFAULT_DASHBOARD_PORT


def default_submitter_container(
    cluster_spec: RayClusterSpec, restart_policy: str | None = None
) -> Container:
    """GetDefaultSubmitterContainer: the head's image (no version skew), small resources."""
    containers = cluster_spec.head_group_spec.template.spec.containers
    doc: dict[str, Any] = {
        "name": SUBMITTER_CONTAINER_NAME,
        "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"},
            "requests": {"cpu": "500m", "memory": "200Mi"},
        },
    }
    if containers and containers[0].image:
        doc["image"] = containers[0].image
    if restart_policy is not None:
        doc["restartPolicy"] = restart_policy
    return Container.model_validate(doc)


def string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [string_keys(v) for v in value]
    return value
