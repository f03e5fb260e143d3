"""A local node's environment: the Ray container's `env`, plus what KubeRay injects.

On Kubernetes the container's env is the node's environment; locally the process gets
the same, so a KubeRay YAML that passes RAY_REDIS_ADDRESS or PYTHONPATH through `env`
behaves the same here. KubeRay's own variables (RAY_CLOUD_INSTANCE_ID, RAY_NODE_TYPE_NAME,
...) are set the way KubeRay sets them, which is how Ray's autoscaler v2 matches nodes.
"""

from __future__ import annotations

import re

from rayplane.api.k8s import Container, EnvVar
from rayplane.api.raycluster import HEAD_GROUP, RayCluster, WorkerGroupSpec
from rayplane.local.loopback import LOOPBACK_IP
from rayplane.local.store import StoredResource
from rayplane.reconcile.gcs_ft import WORKER_RECONNECT_TIMEOUT_S, gcs_ft
from rayplane.settings import Settings

_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _field_ref(path: str, labels: dict[str, str], name: str, namespace: str) -> str | None:
    if path == "metadata.name":
        return name
    if path == "metadata.namespace":
        return namespace
    match = re.fullmatch(r"metadata\.labels\['([^']+)'\]", path)
    if match:
        return labels.get(match.group(1))
    if path in ("status.podIP", "status.hostIP"):
        return LOOPBACK_IP
    return None


def container_env(
    container: Container | None,
    labels: dict[str, str],
    name: str,
    namespace: str,
    base: dict[str, str],
) -> tuple[dict[str, str], list[str]]:
    """Resolve a container's env list; return the values and what could not be resolved."""
    values: dict[str, str] = {}
    unresolved: list[str] = []
    for var in (container.env or []) if container else []:
        value = _resolve(var, labels, name, namespace)
        if value is None:
            unresolved.append(var.name)
            continue
        # Kubernetes expands $(VAR) from variables defined earlier in the list.
        values[var.name] = _expand(value, {**base, **values})
    return values, unresolved


def _expand(value: str, known: dict[str, str]) -> str:
    return _REF.sub(lambda m: known.get(m.group(1), m.group(0)), value)


def _resolve(var: EnvVar, labels: dict[str, str], name: str, namespace: str) -> str | None:
    if var.value_from is None:
        return var.value or ""
    if var.value_from.field_ref is not None:
        return _field_ref(var.value_from.field_ref.field_path, labels, name, namespace)
    return None


def node_labels(cluster: RayCluster, group: WorkerGroupSpec | None) -> dict[str, str]:
    """The labels KubeRay puts on the Pod, which fieldRef env vars read."""
    kind = "head" if group is None else "worker"
    template = cluster.spec.head_group_spec.template if group is None else group.template
    labels = dict((template.metadata.labels if template.metadata else None) or {})
    labels.update(
        {
            "ray.io/cluster": cluster.name,
            "ray.io/node-type": kind,
            "ray.io/group": HEAD_GROUP if group is None else str(group.group_name),
            "ray.io/identifier": f"{cluster.name}-{kind}",
            "ray.io/is-ray-node": "yes",
            "app.kubernetes.io/name": "kuberay",
            "app.kubernetes.io/created-by": "kuberay-operator",
        }
    )
    return labels


def node_environment(
    stored: StoredResource,
    cluster: RayCluster,
    group: WorkerGroupSpec | None,
    name: str,
    address: str,
    settings: Settings,
) -> dict[str, str]:
    """Everything a node process gets in its environment, KubeRay's injected vars included."""
    template = cluster.spec.head_group_spec.template if group is None else group.template
    container = template.spec.containers[0] if template.spec.containers else None
    labels = node_labels(cluster, group)
    group_name = HEAD_GROUP if group is None else str(group.group_name)
    port = address.rsplit(":", 1)[1]
    injected = {
        "RAY_CLUSTER_NAME": stored.name,
        "RAY_CLUSTER_NAMESPACE": stored.namespace,
        "RAY_CLOUD_INSTANCE_ID": name,
        "RAY_NODE_TYPE_NAME": group_name,
        "RAY_PORT": port,
        "RAY_ADDRESS": address,
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": f"{settings.drain_timeout_s:g}",
    }
    if group is not None:
        injected.update({"FQ_RAY_IP": LOOPBACK_IP, "RAY_IP": LOOPBACK_IP})
    elif cluster.spec.autoscaling and settings.local_autoscaler:
        # The local autoscaler is Ray's v2 (rayplane.local.autoscaler); its GCS side is on.
        injected["RAY_enable_autoscaler_v2"] = "1"
        # The GCS pulls pending demand from raylets every 1 s by default; a local node
        # starts in seconds, so the autoscaler sees demand sooner (4 small RPCs a second).
        injected["RAY_gcs_pull_resource_loads_period_milliseconds"] = "250"
    user, _ = container_env(container, labels, name, stored.namespace, injected)
    labels = cluster.metadata.labels or {}
    if labels.get("ray.io/originated-from-crd") == "RayService":
        # KubeRay's RayService clusters fail fast instead of hanging on a dead GCS.
        injected.update(
            {
                "RAY_timeout_ms_task_wait_for_death_info": "0",
                "RAY_gcs_server_request_timeout_seconds": "5",
                "RAY_SERVE_KV_TIMEOUT_S": "5",
            }
        )
    return {**injected, **user, **ft_environment(cluster, group, settings)}


def ft_environment(
    cluster: RayCluster, group: WorkerGroupSpec | None, settings: Settings
) -> dict[str, str]:
    """KubeRay's GCS FT env: storage namespace and Redis on the head, patience on workers."""
    ft = gcs_ft(cluster)
    if not ft.enabled:
        return {}
    if group is not None:
        return {"RAY_gcs_rpc_server_reconnect_timeout_s": WORKER_RECONNECT_TIMEOUT_S}
    env = {"RAY_external_storage_namespace": ft.namespace}
    if ft.backend == "rocksdb":
        path = settings.home / "gcs" / str(cluster.metadata.uid or cluster.name)
        path.mkdir(parents=True, exist_ok=True)
        env.update({"RAY_gcs_storage": "rocksdb", "RAY_gcs_storage_path": str(path)})
        return env
    if ft.redis_address:
        env["RAY_REDIS_ADDRESS"] = ft.redis_address
    if ft.redis_password:
        env["REDIS_PASSWORD"] = ft.redis_password
    return env
