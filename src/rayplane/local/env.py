"""A local node's environment: the Ray container's `env`, plus what KubeRay injects.

On Kubernetes the container's env is the node's environment; locally the process gets
the same, so a KubeRay YAML that passes RAY_REDIS_ADDRESS or PYTHONPATH through `env`
behaves the same here. KubeRay's own variables (RAY_CLOUD_INSTANCE_ID, RAY_NODE_TYPE_NAME,
...) are set the way KubeRay sets them, which is how Ray's autoscaler v2 matches nodes.
"""

from __future__ import annotations

import re

from rayplane.api.k8s import Container, EnvVar, EnvVarSource
from rayplane.api.raycluster import HEAD_GROUP, RayCluster, WorkerGroupSpec
from rayplane.local.auth_token import node_auth_env
from rayplane.local.configrefs import (
    CONFIG_ERROR,
    ConfigError,
    ConfigSource,
    Ref,
    env_from_sources,
    missing_object,
    resolve_key,
)
from rayplane.local.homepaths import make_dir
from rayplane.local.loopback import LOOPBACK_IP
from rayplane.local.store import StoredResource
from rayplane.reconcile.gcs_ft import WORKER_RECONNECT_TIMEOUT_S, gcs_ft
from rayplane.settings import LocalSettings

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
    configs: ConfigSource,
    *,
    who: str = "the container",
    strict: bool = False,
) -> tuple[dict[str, str], list[str]]:
    """Resolve a container's envFrom and env; return the values and notes on what is unset.

    Kubernetes' order: envFrom sources first (later sources win, each key with its
    prefix), then `env` entries, which win over envFrom. Only literal `value`s expand
    $(VAR); a Secret's value is used as stored. With *strict*, a required Secret/ConfigMap
    reference that cannot be resolved raises ConfigError (the node must not start); without
    it, it becomes a note. *who* ("the head", ...) is named in both.
    """
    values: dict[str, str] = {}
    notes: list[str] = []
    if container is None:
        return values, notes
    for ref, prefix in env_from_sources(container.env_from):
        where = f"envFrom of {who}"
        data = _lookup(ref, configs, namespace, where, strict, notes)
        values.update({prefix + key: value for key, value in (data or {}).items()})
    for var in container.env or []:
        where = f"env {var.name} of {who}"
        value = _resolve(var, labels, name, namespace, configs, where, strict, notes)
        if value is None:
            continue  # as the kubelet skips it: an envFrom value of that name stays
        # Kubernetes expands $(VAR) from variables defined earlier in the list.
        literal = var.value_from is None
        values[var.name] = _expand(value, {**base, **values}) if literal else value
    return values, notes


def _lookup(
    ref: Ref, configs: ConfigSource, namespace: str, where: str, strict: bool, notes: list[str]
) -> dict[str, str] | None:
    data = configs.lookup(ref.kind, namespace, ref.name)
    if data is None and not ref.optional:
        message = missing_object(ref, namespace, where)
        if strict:
            raise ConfigError(message)
        notes.append(message.removeprefix(f"{CONFIG_ERROR}: "))
    elif data is None:
        notes.append(f"{where}: optional {ref.word} {ref.name!r} not found; nothing set from it.")
    return data


def _expand(value: str, known: dict[str, str]) -> str:
    return _REF.sub(lambda m: known.get(m.group(1), m.group(0)), value)


def _resolve(
    var: EnvVar,
    labels: dict[str, str],
    name: str,
    namespace: str,
    configs: ConfigSource,
    where: str,
    strict: bool,
    notes: list[str],
) -> str | None:
    source = var.value_from
    if source is None:
        return var.value or ""
    if source.field_ref is not None:
        path = source.field_ref.field_path
        value = _field_ref(path, labels, name, namespace)
        if value is None:
            notes.append(f"{where}: fieldRef {path} has no local value; the variable is unset.")
        return value
    for kind, key_ref in (
        ("Secret", source.secret_key_ref),
        ("ConfigMap", source.config_map_key_ref),
    ):
        if key_ref is None:
            continue
        ref = Ref.of(kind, key_ref)
        try:
            value = resolve_key(ref, configs, namespace, where)
        except ConfigError as exc:
            if strict:
                raise
            notes.append(str(exc).removeprefix(f"{CONFIG_ERROR}: "))
            return None
        if value is None:
            notes.append(f"{where}: optional {ref.word} key {ref.key!r} not found; unset.")
        return value
    what = "resourceFieldRef" if source.resource_field_ref is not None else "valueFrom"
    notes.append(f"{where}: {what} has no local value; the variable is unset.")
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
    settings: LocalSettings,
    configs: ConfigSource,
) -> dict[str, str]:
    """Everything a node process gets in its environment, KubeRay's injected vars included.

    Raises ConfigError when a required Secret/ConfigMap reference cannot be resolved: the
    node must not start without it (Kubernetes' CreateContainerConfigError).
    """
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
        # The autoscaler is a container of the head Pod: its references gate the head too.
        _autoscaler_env(cluster, stored.namespace, configs, strict=True)
    who = _who(group)
    user, _ = container_env(
        container, labels, name, stored.namespace, injected, configs, who=who, strict=True
    )
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
    ft = ft_environment(cluster, group, settings, stored.namespace, configs)
    # Token auth (SetContainerTokenAuthEnvVars) comes after the user's env in KubeRay's
    # list, so a missing user reference is reported first, and yields to the user's values.
    auth = node_auth_env(configs, stored.namespace, stored.name, cluster.spec)
    return {**injected, **auth, **user, **ft}


def _who(group: WorkerGroupSpec | None) -> str:
    return "the head" if group is None else f"worker group {group.group_name}"


def _autoscaler_env(
    cluster: RayCluster, namespace: str, configs: ConfigSource, strict: bool
) -> list[str]:
    options = cluster.spec.autoscaler_options
    if options is None or not options.env:
        return []
    container = Container(name="autoscaler", env=options.env)
    labels = {"ray.io/cluster": cluster.name, "ray.io/node-type": "head"}
    _, notes = container_env(
        container,
        labels,
        cluster.name,
        namespace,
        {},
        configs,
        who="the autoscaler",
        strict=strict,
    )
    return notes


def ft_environment(
    cluster: RayCluster,
    group: WorkerGroupSpec | None,
    settings: LocalSettings,
    namespace: str,
    configs: ConfigSource,
) -> dict[str, str]:
    """KubeRay's GCS FT env: storage namespace and Redis on the head, patience on workers.

    The Redis credentials come from gcsFaultToleranceOptions as KubeRay wires them
    (REDIS_PASSWORD / REDIS_USERNAME, by value or from a Secret); a missing Secret raises
    ConfigError as any other required reference of the head does.
    """
    ft = gcs_ft(cluster)
    if not ft.enabled:
        return {}
    if group is not None:
        return {"RAY_gcs_rpc_server_reconnect_timeout_s": WORKER_RECONNECT_TIMEOUT_S}
    env = {"RAY_external_storage_namespace": ft.namespace}
    if ft.backend == "rocksdb":
        path = make_dir(settings.home, "gcs", str(cluster.metadata.uid or cluster.name))
        env.update({"RAY_gcs_storage": "rocksdb", "RAY_gcs_storage_path": str(path)})
        return env
    if ft.redis_address:
        env["RAY_REDIS_ADDRESS"] = ft.redis_address
    password = redis_password(cluster, namespace, configs, strict=True)
    if password is not None:
        env["REDIS_PASSWORD"] = password
    options = cluster.spec.gcs_fault_tolerance_options
    username = options.redis_username if options else None
    if username is not None:
        value = username.value
        ref = _key_ref(username.value_from)
        if ref is not None:
            value = resolve_key(ref, configs, namespace, "env REDIS_USERNAME of the head")
        if value is not None:
            env["REDIS_USERNAME"] = value
    return env


def redis_password(
    cluster: RayCluster, namespace: str, configs: ConfigSource, *, strict: bool
) -> str | None:
    """GCS FT's Redis password: literal, or read from the Secret it names.

    Both the head (REDIS_PASSWORD) and the delete-time Redis cleanup need it; the cleanup
    (not strict) also reads a head `REDIS_PASSWORD` env var given by reference.
    """
    ft = gcs_ft(cluster)
    if ft.redis_password:
        return ft.redis_password
    where = "env REDIS_PASSWORD of the head"
    refs: list[Ref] = []
    options = cluster.spec.gcs_fault_tolerance_options
    given = (
        _key_ref(options.redis_password.value_from) if options and options.redis_password else None
    )
    if given is not None:
        refs.append(given)
    elif not strict:
        containers = cluster.spec.head_group_spec.template.spec.containers
        var = (
            next((v for v in containers[0].env or [] if v.name == "REDIS_PASSWORD"), None)
            if containers
            else None
        )
        source = var.value_from if var is not None else None
        if source is not None and source.secret_key_ref is not None:
            refs.append(Ref.of("Secret", source.secret_key_ref))
        elif source is not None and source.config_map_key_ref is not None:
            refs.append(Ref.of("ConfigMap", source.config_map_key_ref))
    for ref in refs:
        try:
            return resolve_key(ref, configs, namespace, where)
        except ConfigError:
            if strict:
                raise
    return None


def env_notes(
    stored: StoredResource, cluster: RayCluster, settings: LocalSettings, configs: ConfigSource
) -> list[str]:
    """What of the env cannot be set locally right now, for `describe` (nothing is dropped
    silently): fieldRefs without a local value, missing optional or required references."""
    notes: list[str] = []
    for group in [None, *cluster.spec.worker_group_specs]:
        template = cluster.spec.head_group_spec.template if group is None else group.template
        container = template.spec.containers[0] if template.spec.containers else None
        labels = node_labels(cluster, group)
        _, found = container_env(
            container, labels, stored.name, stored.namespace, {}, configs, who=_who(group)
        )
        notes += found
    try:
        redis_password(cluster, stored.namespace, configs, strict=True)
    except ConfigError as exc:
        notes.append(str(exc).removeprefix(f"{CONFIG_ERROR}: "))
    if cluster.spec.autoscaling and settings.local_autoscaler:
        notes += _autoscaler_env(cluster, stored.namespace, configs, strict=False)
    return list(dict.fromkeys(notes))


def _key_ref(source: EnvVarSource | None) -> Ref | None:
    """The Secret or ConfigMap key a GCS FT credential names, as the kubelet would read it."""
    if source is None:
        return None
    if source.secret_key_ref is not None:
        return Ref.of("Secret", source.secret_key_ref)
    if source.config_map_key_ref is not None:
        return Ref.of("ConfigMap", source.config_map_key_ref)
    return None
