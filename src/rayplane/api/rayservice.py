"""RayService (ray.io/v1): Serve applications on a RayCluster with zero-downtime upgrades."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rayplane.api.base import CRD_REQUIRED, Open, Strict, crd_default
from rayplane.api.common import Condition, Resource
from rayplane.api.k8s import Int32, ServiceTemplate
from rayplane.api.raycluster import MANAGED_BY_RULES, RayClusterSpec, RayClusterStatus


class ClusterUpgradeOptions(Strict):
    # KubeRay's CRD requires the last three; validation reports them by name instead of
    # stopping at the first, so the model leaves them optional.
    max_surge_percent: Int32 | None = Field(default=None, json_schema_extra=crd_default(100))
    step_size_percent: Int32 | None = Field(default=None, json_schema_extra=CRD_REQUIRED)
    interval_seconds: Int32 | None = Field(default=None, json_schema_extra=CRD_REQUIRED)
    gateway_class_name: str | None = Field(default=None, json_schema_extra=CRD_REQUIRED)


class ServiceUpgradeStrategy(Strict):
    type: Literal["NewCluster", "NewClusterWithIncrementalUpgrade", "None"] | None = None
    cluster_upgrade_options: ClusterUpgradeOptions | None = None


class RayServiceSpec(Strict):
    serve_config_v2: str | None = Field(default=None, alias="serveConfigV2")
    ray_cluster_config: RayClusterSpec = Field(
        default_factory=RayClusterSpec, json_schema_extra=CRD_REQUIRED
    )
    upgrade_strategy: ServiceUpgradeStrategy | None = None
    serve_service: ServiceTemplate | None = None
    exclude_head_pod_from_serve_svc: bool | None = None
    # 60 is applied by KubeRay's controller, not by its CRD.
    ray_cluster_deletion_delay_seconds: Int32 = Field(
        default=60, json_schema_extra=crd_default(None)
    )
    managed_by: str | None = Field(default=None, json_schema_extra=MANAGED_BY_RULES)
    suspend: bool | None = None
    # Deprecated by KubeRay (#1685) and ignored; accepted so old YAML still loads.
    service_unhealthy_second_threshold: Int32 | None = None
    deployment_unhealthy_second_threshold: Int32 | None = None


class ServeDeploymentStatus(Open):
    status: str | None = None
    message: str | None = None


class AppStatus(Open):
    status: str | None = None
    message: str | None = None
    serve_deployment_statuses: dict[str, ServeDeploymentStatus] | None = None


class ServiceClusterStatus(Open):
    ray_cluster_name: str | None = None
    ray_cluster_status: RayClusterStatus | None = None
    application_statuses: dict[str, AppStatus] | None = None
    target_capacity: int | None = None
    traffic_routed_percent: int | None = None
    last_traffic_migrated_time: str | None = None


class RayServiceStatus(Open):
    service_status: str | None = None
    active_service_status: ServiceClusterStatus | None = None
    pending_service_status: ServiceClusterStatus | None = None
    num_serve_endpoints: int | None = None
    observed_generation: int | None = None
    last_update_time: str | None = None
    conditions: list[Condition] | None = None


class RayService(Resource):
    kind: Literal["RayService"] = "RayService"
    spec: RayServiceSpec = Field(default_factory=RayServiceSpec)
    status: RayServiceStatus | None = None
