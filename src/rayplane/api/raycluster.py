"""RayCluster (ray.io/v1), field for field as KubeRay v1.4-v1.7 define it.

Defaults are KubeRay's CRD defaults; they are applied on read (attributes) but not written
back on dump, so a resource dumps as the user wrote it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from rayplane.api.base import CRD_REQUIRED, Open, Strict, crd_default, crd_rules
from rayplane.api.common import MAX_INT32, Condition, Resource
from rayplane.api.k8s import (
    EnvVar,
    EnvVarSource,
    Int32,
    PodTemplateSpec,
    Quantity,
    ResourceRequirements,
    ServiceTemplate,
    VolumeMount,
)

HEAD_GROUP = "headgroup"
# KubeRay's CEL rules on spec.managedBy of all three kinds.
MANAGED_BY_RULES = crd_rules(
    ("self == oldSelf", "the managedBy field is immutable"),
    (
        "self in ['ray.io/kuberay-operator', 'kueue.x-k8s.io/multikueue']",
        "the managedBy field value must be either 'ray.io/kuberay-operator' or "
        "'kueue.x-k8s.io/multikueue'",
    ),
)


class IngressOptions(Strict):
    """The head's dashboard Ingress (KubeRay 1.7); unset fields take `/` and `Prefix`."""

    host: str | None = None
    path: str | None = None
    path_type: Literal["Exact", "Prefix", "ImplementationSpecific"] | None = None
    tls: list[dict[str, Any]] | None = None


class HeadGroupSpec(Strict):
    template: PodTemplateSpec = Field(
        default_factory=PodTemplateSpec, json_schema_extra=CRD_REQUIRED
    )
    ray_start_params: dict[str, str] = Field(default_factory=dict)
    service_type: str | None = None
    head_service: ServiceTemplate | None = None
    enable_ingress: bool | None = None
    ingress_options: IngressOptions | None = None
    resources: dict[str, str] | None = None
    labels: dict[str, str] | None = None


class ScaleStrategy(Strict):
    workers_to_delete: list[str] | None = None


class WorkerGroupSpec(Strict):
    # groupName is required by the CRD; it is optional here so validation can report its
    # absence among the other errors of the document.
    # The CRD requires and defaults what KubeRay's does; the model leaves minReplicas and
    # maxReplicas unset so that the local runtime can warn that KubeRay's defaults apply.
    group_name: str | None = Field(default=None, json_schema_extra=CRD_REQUIRED)
    replicas: Int32 | None = Field(default=None, json_schema_extra=crd_default(0))
    min_replicas: Int32 | None = Field(
        default=None, json_schema_extra=crd_default(0, required=True)
    )
    max_replicas: Int32 | None = Field(
        default=None, json_schema_extra=crd_default(MAX_INT32, required=True)
    )
    num_of_hosts: Int32 = 1
    idle_timeout_seconds: Int32 | None = None
    priority: Int32 | None = Field(default=None, json_schema_extra=crd_default(0))
    suspend: bool | None = None
    scale_strategy: ScaleStrategy | None = None
    ray_start_params: dict[str, str] = Field(default_factory=dict)
    template: PodTemplateSpec = Field(
        default_factory=PodTemplateSpec, json_schema_extra=CRD_REQUIRED
    )
    resources: dict[str, str] | None = None
    labels: dict[str, str] | None = None

    @property
    def min(self) -> int:
        return 0 if self.min_replicas is None else self.min_replicas

    @property
    def max(self) -> int:
        return MAX_INT32 if self.max_replicas is None else self.max_replicas

    @property
    def desired_replicas(self) -> int:
        """clamp(replicas, min, max): KubeRay's per-group target before numOfHosts."""
        replicas = 0 if self.replicas is None else self.replicas
        return max(self.min, min(replicas, self.max))

    @property
    def workers_to_delete(self) -> list[str]:
        return list(self.scale_strategy.workers_to_delete or []) if self.scale_strategy else []


class AutoscalerOptions(Strict):
    resources: ResourceRequirements | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    security_context: dict[str, Any] | None = None
    idle_timeout_seconds: Int32 | None = None
    upscaling_mode: Literal["Default", "Aggressive", "Conservative"] | None = None
    version: Literal["v1", "v2"] | None = None
    env: list[EnvVar] | None = None
    env_from: list[dict[str, Any]] | None = None
    volume_mounts: list[VolumeMount] | None = None
    command: list[str] | None = None
    args: list[str] | None = None


class RedisCredential(Strict):
    """redisUsername / redisPassword: a literal or, as KubeRay takes it, a whole EnvVarSource
    (the operator copies it into the head's env; locally a Secret or ConfigMap key is read)."""

    value: str | None = None
    value_from: EnvVarSource | None = None


class GcsStorage(Strict):
    claim_name: str | None = None
    size: Quantity | None = None
    storage_class_name: str | None = None
    access_modes: list[str] | None = None
    sub_path: str | None = None
    deletion_policy: Literal["DeleteWithCluster", "Retain"] | None = None


class GcsFaultToleranceOptions(Strict):
    backend: Literal["redis", "rocksdb"] | None = Field(
        default=None,
        json_schema_extra=crd_rules(
            ("self == oldSelf", "gcsFaultToleranceOptions.backend is immutable")
        ),
    )
    redis_address: str | None = None
    redis_username: RedisCredential | None = None
    redis_password: RedisCredential | None = None
    external_storage_namespace: str | None = None
    storage: GcsStorage | None = None


class AuthOptions(Strict):
    mode: Literal["disabled", "token"] | None = None
    secret_name: str | None = None
    enable_k8s_token_auth: bool | None = Field(default=None, alias="enableK8sTokenAuth")


class ClusterUpgradeStrategy(Strict):
    type: Literal["Recreate", "None"] | None = None


class TLSOptions(Strict):
    enabled: bool | None = None


class NetworkPolicyRules(Strict):
    """Extra rules appended to the operator's base NetworkPolicy of the head or workers.

    Each rule is a networking.k8s.io/v1 NetworkPolicyIngressRule / EgressRule, handed to
    the API server as written (rayplane builds no NetworkPolicy locally).
    """

    ingress_rules: list[dict[str, Any]] | None = None
    egress_rules: list[dict[str, Any]] | None = None


class WorkerGroupNetworkPolicyRules(NetworkPolicyRules):
    """Per-group rules; they replace (not extend) ``worker`` for the group they name."""

    group_name: str


class NetworkPolicyConfig(Strict):
    """``spec.networkPolicy`` (alpha gate RayClusterNetworkPolicy), KubeRay 1.7."""

    mode: Literal["DenyAll", "DenyAllIngress", "DenyAllEgress"] | None = Field(
        default=None, json_schema_extra=crd_default("DenyAll")
    )
    head: NetworkPolicyRules | None = None
    worker: NetworkPolicyRules | None = None
    worker_groups: list[WorkerGroupNetworkPolicyRules] | None = None


class CollectorOptions(Strict):
    """The history server's collector sidecar, injected beside each Ray container."""

    image: str | None = None
    image_pull_policy: str | None = None
    resources: ResourceRequirements | None = None
    env: list[EnvVar] | None = None


class HistoryServerOptions(Strict):
    """``spec.historyServerOptions`` (alpha gate RayClusterHistoryServer), KubeRay 1.7."""

    collector_options: CollectorOptions | None = None


class IdleTerminationOptions(Strict):
    """``spec.idleTerminationOptions``: end a cluster no driver has used for a while.

    The design of KubeRay PR #5210 and Ray PR #65763 (open in KubeRay; Ray 2.60's KubeRay
    cloud provider already reads it): after ``timeoutSeconds`` with no user driver the
    cluster is suspended (``policy: Suspend``, the default, sets ``spec.idleSuspend``) or
    deleted (``policy: Delete``).
    """

    timeout_seconds: Int32 | None = None
    policy: Literal["Suspend", "Delete"] | None = Field(
        default=None, json_schema_extra=crd_default("Suspend")
    )


class RayClusterSpec(Strict):
    head_group_spec: HeadGroupSpec = Field(
        default_factory=HeadGroupSpec, json_schema_extra=CRD_REQUIRED
    )
    worker_group_specs: list[WorkerGroupSpec] = Field(default_factory=list)
    ray_version: str | None = None
    enable_in_tree_autoscaling: bool | None = None
    autoscaler_options: AutoscalerOptions | None = None
    head_service_annotations: dict[str, str] | None = None
    suspend: bool | None = None
    managed_by: str | None = Field(default=None, json_schema_extra=MANAGED_BY_RULES)
    gcs_fault_tolerance_options: GcsFaultToleranceOptions | None = None
    auth_options: AuthOptions | None = None
    upgrade_strategy: ClusterUpgradeStrategy | None = None
    network_policy: NetworkPolicyConfig | None = None
    tls_options: TLSOptions | None = None
    history_server_options: HistoryServerOptions | None = None
    idle_termination_options: IdleTerminationOptions | None = None
    # Set by whoever found the cluster idle; suspends it as ``suspend`` does (KubeRay #5210).
    idle_suspend: bool | None = None

    @property
    def suspended(self) -> bool:
        """``suspend`` or ``idleSuspend``: either one stops every node of the cluster."""
        return bool(self.suspend or self.idle_suspend)

    @property
    def autoscaling(self) -> bool:
        return bool(self.enable_in_tree_autoscaling)


class HeadInfo(Open):
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_name: str | None = None
    service_ip: str | None = Field(default=None, alias="serviceIP")
    service_name: str | None = None


class RayClusterStatus(Open):
    state: str | None = None
    reason: str | None = None
    ready_worker_replicas: int | None = None
    available_worker_replicas: int | None = None
    desired_worker_replicas: int | None = None
    min_worker_replicas: int | None = None
    max_worker_replicas: int | None = None
    # resource.Quantity in KubeRay: int-or-string with Kubernetes' quantity pattern.
    desired_cpu: Quantity | None = Field(default=None, alias="desiredCPU")
    desired_memory: Quantity | None = None
    desired_gpu: Quantity | None = Field(default=None, alias="desiredGPU")
    desired_tpu: Quantity | None = Field(default=None, alias="desiredTPU")
    endpoints: dict[str, str] | None = None
    head: HeadInfo | None = None
    last_update_time: str | None = None
    state_transition_times: dict[str, str] | None = None
    observed_generation: int | None = None
    conditions: list[Condition] | None = None


class RayCluster(Resource):
    kind: Literal["RayCluster"] = "RayCluster"
    spec: RayClusterSpec = Field(default_factory=RayClusterSpec)
    status: RayClusterStatus | None = None
