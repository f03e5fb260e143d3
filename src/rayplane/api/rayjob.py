"""RayJob (ray.io/v1): KubeRay's job lifecycle object."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from rayplane.api.base import Open, Strict, crd_default, crd_rules
from rayplane.api.common import Resource
from rayplane.api.k8s import Int32, PodTemplateSpec
from rayplane.api.raycluster import MANAGED_BY_RULES, RayClusterSpec, RayClusterStatus

SubmissionMode = Literal["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]
JobStatus = Literal["", "PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"]
DeletionPolicyType = Literal["DeleteCluster", "DeleteWorkers", "DeleteSelf", "DeleteNone"]


class SubmitterConfig(Strict):
    backoff_limit: Int32 | None = None


class DeletionPolicy(Strict):
    policy: DeletionPolicyType | None = None


class DeletionCondition(Strict):
    model_config = ConfigDict(
        json_schema_extra=crd_rules(
            (
                "!(has(self.jobStatus) && has(self.jobDeploymentStatus))",
                "JobStatus and JobDeploymentStatus cannot be used together within the same "
                "deletion condition.",
            ),
            (
                "has(self.jobStatus) || has(self.jobDeploymentStatus)",
                "the deletion condition requires either the JobStatus or the "
                "JobDeploymentStatus field.",
            ),
        )
    )

    job_status: Literal["SUCCEEDED", "FAILED"] | None = None
    job_deployment_status: Literal["Failed"] | None = None
    ttl_seconds: Int32 = 0


class DeletionRule(Strict):
    policy: DeletionPolicyType
    condition: DeletionCondition


class DeletionStrategy(Strict):
    model_config = ConfigDict(
        json_schema_extra=crd_rules(
            (
                "!((has(self.onSuccess) || has(self.onFailure)) && has(self.deletionRules))",
                "legacy policies (onSuccess/onFailure) and deletionRules cannot be used "
                "together within the same deletionStrategy",
            ),
            (
                "((has(self.onSuccess) && has(self.onFailure)) || has(self.deletionRules))",
                "deletionStrategy requires either BOTH onSuccess and onFailure, OR the "
                "deletionRules field (cannot be empty)",
            ),
        )
    )

    on_success: DeletionPolicy | None = None
    on_failure: DeletionPolicy | None = None
    deletion_rules: list[DeletionRule] | None = None


class RayJobSpec(Strict):
    entrypoint: str | None = None
    runtime_env_yaml: str | None = Field(default=None, alias="runtimeEnvYAML")
    job_id: str | None = None
    metadata: dict[str, str] | None = None
    entrypoint_num_cpus: int | float | None = None
    entrypoint_num_gpus: int | float | None = None
    entrypoint_resources: str | None = None
    ray_cluster_spec: RayClusterSpec | None = None
    cluster_selector: dict[str, str] | None = None
    submission_mode: SubmissionMode = "K8sJobMode"
    submitter_pod_template: PodTemplateSpec | None = None
    submitter_config: SubmitterConfig | None = None
    # False is the model's reading of "unset"; KubeRay's CRD has no default, so the API
    # server does not write `shutdownAfterJobFinishes: false` into every stored RayJob.
    shutdown_after_job_finishes: bool = Field(default=False, json_schema_extra=crd_default(None))
    ttl_seconds_after_finished: Int32 = 0
    active_deadline_seconds: Int32 | None = None
    pre_running_deadline_seconds: Int32 | None = None
    backoff_limit: Int32 = 0
    suspend: bool = Field(default=False, json_schema_extra=crd_default(None))
    managed_by: str | None = Field(default=None, json_schema_extra=MANAGED_BY_RULES)
    deletion_strategy: DeletionStrategy | None = None


class RayJobInfo(Open):
    start_time: str | None = None
    end_time: str | None = None


class RayJobStatus(Open):
    job_id: str | None = None
    ray_cluster_name: str | None = None
    dashboard_url: str | None = Field(default=None, alias="dashboardURL")
    job_status: str | None = None
    job_deployment_status: str | None = None
    reason: str | None = None
    message: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    succeeded: int | None = Field(default=None, json_schema_extra=crd_default(0))
    failed: int | None = Field(default=None, json_schema_extra=crd_default(0))
    ray_cluster_status: RayClusterStatus | None = None
    ray_job_info: RayJobInfo | None = None
    job_status_check_failure_start_time: str | None = None
    observed_generation: int | None = None
    # KubeRay's RayJob status has no `conditions` (v1.7); neither does ours. The model is
    # Open, so a status that carries them still loads.


class RayJob(Resource):
    kind: Literal["RayJob"] = "RayJob"
    spec: RayJobSpec = Field(default_factory=RayJobSpec)
    status: RayJobStatus | None = None
