"""KubeRay 1.7's rules for two alpha RayCluster fields: networkPolicy and historyServerOptions.

They run only with the field's gate on (without it the field itself is the error, reported by
``cluster._check_alpha``), as in KubeRay's validation.go (validateNetworkPolicy,
validateCollectorOptions). KubeRay stops at the first problem; every one is reported here.
"""

from __future__ import annotations

from collections.abc import Callable

from rayplane.api.findings import Findings
from rayplane.api.k8s import Container, EnvVar
from rayplane.api.raycluster import NetworkPolicyRules, RayClusterSpec
from rayplane.api.validation.names import dns1123_label_problem
from rayplane.api.validation.paths import join

COLLECTOR_CONTAINER = "ray-history-collector"
STORAGE_BACKEND = "STORAGE_BACKEND"
# Injected into the collector by the operator; a user's value would fight it.
COLLECTOR_RESERVED_ENV = (
    "POD_IP",
    "FQ_RAY_IP",
    "RAY_CLUSTER_NAME",
    "RAY_CLUSTER_NAMESPACE",
    "RAY_ROLE",
    "OWNER_KIND",
    "OWNER_NAME",
    "EVENTS_PORT",
)
# The variables each storage backend cannot work without (KubeRay's constant names).
BACKEND_ENV: dict[str, tuple[str, ...]] = {
    "GCS": ("GCS_BUCKET",),
    "S3": ("S3_REGION",),
    "ALIYUNOSS": ("OSS_BUCKET", "OSS_ENDPOINT", "OSS_REGION"),
}
_BACKENDS = ("GCS", "S3", "AZUREBLOB", "ALIYUNOSS")
AZURE_AUTH_MODE = "AZURE_STORAGE_AUTH_MODE"
AZURE_CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
AZURE_ACCOUNT_URL = "AZURE_STORAGE_ACCOUNT_URL"


# -- networkPolicy ---------------------------------------------------------------------------


def check_network_policy(spec: RayClusterSpec, path: str, out: Findings) -> None:
    policy = spec.network_policy
    if policy is None:
        return
    mode = policy.mode or "DenyAll"  # the CRD's default
    npath = join(path, "networkPolicy")
    _check_rules(policy.head, mode, join(npath, "head"), out)
    _check_rules(policy.worker, mode, join(npath, "worker"), out)
    names: list[str] = []
    for index, group in enumerate(spec.worker_group_specs):
        if not group.group_name:
            continue  # reported as missing by the group rules
        names.append(group.group_name)
        problem = dns1123_label_problem(group.group_name)
        if problem:
            out.error(
                join(join(join(path, "workerGroupSpecs"), index), "groupName"),
                f"is {group.group_name!r}; with networkPolicy set it is part of a "
                f"NetworkPolicy's name (<cluster>-workers-<group>), so it {problem}.",
                group.group_name,
            )
    for index, rules in enumerate(policy.worker_groups or []):
        gpath = join(join(npath, "workerGroups"), index)
        _check_rules(rules, mode, gpath, out)
        if rules.group_name not in names:
            out.error(
                join(gpath, "groupName"),
                f"is {rules.group_name!r}, which names no group in workerGroupSpecs.",
                rules.group_name,
                ", ".join(names) or "(no worker groups)",
            )


def _check_rules(rules: NetworkPolicyRules | None, mode: str, path: str, out: Findings) -> None:
    """Rules for a direction the mode does not restrict would silently do nothing."""
    if rules is None:
        return
    if mode == "DenyAllEgress" and rules.ingress_rules:
        out.error(
            join(path, "ingressRules"),
            f"cannot be set when mode is {mode} (ingress is not restricted); remove them or "
            "use mode DenyAll or DenyAllIngress.",
        )
    if mode == "DenyAllIngress" and rules.egress_rules:
        out.error(
            join(path, "egressRules"),
            f"cannot be set when mode is {mode} (egress is not restricted); remove them or "
            "use mode DenyAll or DenyAllEgress.",
        )


# -- historyServerOptions --------------------------------------------------------------------


def check_history_server(spec: RayClusterSpec, path: str, out: Findings) -> None:
    options = spec.history_server_options
    if options is None:
        return
    hpath = join(path, "historyServerOptions")
    collector = options.collector_options
    cpath = join(hpath, "collectorOptions")
    if collector is None:
        out.error(
            cpath,
            "must be set: the history server needs its collector sidecar (at least image and "
            f"a {STORAGE_BACKEND} env var).",
        )
    else:
        if not collector.image:
            out.error(
                join(cpath, "image"),
                "must be set: the collector container's image (e.g. quay.io/kuberay/collector).",
            )
        _check_collector_env(collector.env or [], join(cpath, "env"), out)
    _check_container_names(
        spec.head_group_spec.template.spec.containers,
        join(join(join(path, "headGroupSpec"), "template"), "spec"),
        out,
    )
    for index, group in enumerate(spec.worker_group_specs):
        _check_container_names(
            group.template.spec.containers,
            join(join(join(join(path, "workerGroupSpecs"), index), "template"), "spec"),
            out,
        )


def _check_container_names(containers: list[Container], path: str, out: Findings) -> None:
    for index, container in enumerate(containers):
        if container.name == COLLECTOR_CONTAINER:
            out.error(
                join(join(join(path, "containers"), index), "name"),
                f"is {COLLECTOR_CONTAINER!r}, the name of the collector the operator injects "
                "with historyServerOptions; rename this container.",
                container.name,
            )


def _check_collector_env(env: list[EnvVar], path: str, out: Findings) -> None:
    by_name = {var.name: var for var in env}
    for index, var in enumerate(env):
        if var.name in COLLECTOR_RESERVED_ENV:
            out.error(
                join(join(path, index), "name"),
                f"is {var.name}, which KubeRay sets in the collector container itself; remove it.",
                var.name,
            )

    def has_value(name: str) -> bool:
        var = by_name.get(name)
        return var is not None and (bool(var.value) or var.value_from is not None)

    backend_var = by_name.get(STORAGE_BACKEND)
    if backend_var is None or not backend_var.value:
        out.error(
            path,
            f"must set {STORAGE_BACKEND} to a literal value ({', '.join(_BACKENDS)}): where "
            "the collector uploads the cluster's logs and events.",
        )
        return
    backend = backend_var.value.upper()
    if backend == "AZUREBLOB":
        _check_azure(by_name, has_value, path, out)
        return
    for name in BACKEND_ENV.get(backend, ()):
        if not has_value(name):
            out.error(path, f"must set {name} when {STORAGE_BACKEND} is {backend}.")


def _check_azure(
    by_name: dict[str, EnvVar], has_value: Callable[[str], bool], path: str, out: Findings
) -> None:
    auth = by_name.get(AZURE_AUTH_MODE)
    mode = (auth.value or "").strip().lower() if auth is not None else ""
    if mode == "connection_string":
        needed: tuple[str, ...] = (AZURE_CONNECTION_STRING,)
    elif mode in ("workload_identity", "default"):
        needed = (AZURE_ACCOUNT_URL,)
    else:
        if not has_value(AZURE_CONNECTION_STRING) and not has_value(AZURE_ACCOUNT_URL):
            out.error(
                path,
                f"must set {AZURE_CONNECTION_STRING} or {AZURE_ACCOUNT_URL} when "
                f"{STORAGE_BACKEND} is AZUREBLOB.",
            )
        return
    for name in needed:
        if not has_value(name):
            out.error(
                path,
                f"must set {name} when {STORAGE_BACKEND} is AZUREBLOB and {AZURE_AUTH_MODE} "
                f"is {mode}.",
            )
