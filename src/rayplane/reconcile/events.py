"""Events a reconciler reports, typed the way Kubernetes records them.

A reconciler knows why it acted; the runtimes only carry that out. So the reason travels
with the message as data (``Event.reason``, KubeRay's own where KubeRay has one), and the
local store and the operator's Kubernetes Events record the same reason, instead of each
runtime guessing it back from a "Warning" prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

EventType = Literal["Normal", "Warning"]

# KubeRay's reasons (ray-operator/controllers/ray/utils/constant.go, K8sEventType).
CREATED_RAY_CLUSTER: Final = "CreatedRayCluster"
UPDATED_RAY_CLUSTER: Final = "UpdatedRayCluster"
DELETED_RAY_CLUSTER: Final = "DeletedRayCluster"
RAY_CLUSTER_NOT_FOUND: Final = "RayClusterNotFound"
CREATED_RAY_JOB_SUBMITTER: Final = "CreatedRayJobSubmitter"
DELETED_RAY_JOB_SUBMITTER: Final = "DeletedRayJobSubmitter"
FAILED_TO_CREATE_RAY_JOB_SUBMITTER: Final = "FailedToCreateRayJobSubmitter"
INVALID_RAY_JOB_SPEC: Final = "InvalidRayJobSpec"
INVALID_RAY_SERVICE_SPEC: Final = "InvalidRayServiceSpec"
CREATED_HEAD_POD: Final = "CreatedHeadPod"
CREATED_WORKER_POD: Final = "CreatedWorkerPod"
DELETED_HEAD_POD: Final = "DeletedHeadPod"
DELETED_WORKER_POD: Final = "DeletedWorkerPod"
RAY_SERVICE_INITIALIZING_TIMEOUT: Final = "RayServiceInitializingTimeout"
UPDATED_SERVE_APPLICATIONS: Final = "UpdatedServeApplications"
FAILED_TO_UPDATE_SERVE_APPLICATIONS: Final = "FailedToUpdateServeApplications"
UPDATED_SERVE_TARGET_CAPACITY: Final = "UpdatedServeTargetCapacity"
CREATED_GATEWAY: Final = "CreatedGateway"
CREATED_HTTP_ROUTE: Final = "CreatedHTTPRoute"
UPDATED_HTTP_ROUTE: Final = "UpdatedHTTPRoute"
# Ours: KubeRay only logs these transitions.
ROLLBACK_STARTED: Final = "RollbackStarted"
ROLLBACK_COMPLETE: Final = "RollbackComplete"
UPGRADE_RESUMED: Final = "UpgradeResumed"
INVALID_RAY_CRON_JOB_SPEC: Final = "InvalidRayCronJobSpec"
SUSPENDED_RAY_CRON_JOB: Final = "SuspendedRayCronJob"

# Ours, where KubeRay says nothing (it logs these, or has no such step).
RECONCILE_ERROR: Final = "ReconcileError"
MANAGED_ELSEWHERE: Final = "ManagedElsewhere"
JOB_DEPLOYMENT_STATUS: Final = "JobDeploymentStatusChanged"
SUSPENDED_WORKERS: Final = "SuspendedWorkers"
DELETING_RAY_JOB: Final = "DeletingRayJob"
SWITCHED_TRAFFIC: Final = "SwitchedTraffic"
PROMOTED_RAY_CLUSTER: Final = "PromotedRayCluster"
PREPARING_RAY_CLUSTER: Final = "PreparingRayCluster"
SUSPENDING: Final = "Suspending"
SUSPENDED: Final = "Suspended"
RESUMED: Final = "Resumed"
REMOVED_SERVE_ENDPOINT: Final = "RemovedServeEndpoint"
HEAD_RESTART_DISABLED: Final = "HeadRestartDisabled"
FAILED_TO_SUBMIT_RAY_JOB: Final = "FailedToSubmitRayJob"
FAILED_TO_GET_RAY_JOB_STATUS: Final = "FailedToGetRayJobStatus"
RAY_JOB_SUBMITTER_NOT_FOUND: Final = "RayJobSubmitterNotFound"
SERVE_CONFIG_EMPTY: Final = "ServeConfigEmpty"
SCHEDULED_RAY_CLUSTER_DELETION: Final = "ScheduledRayClusterDeletion"
CREATED_RAY_JOB: Final = "CreatedRayJob"  # KubeRay only logs a RayCronJob's new RayJob
SCHEDULE_NEVER_FIRES: Final = "ScheduleNeverFires"


@dataclass(frozen=True)
class Event:
    """One line for ``describe``: KubeRay's (type, reason, message) triple."""

    type: EventType
    reason: str
    message: str

    @classmethod
    def normal(cls, reason: str, message: str) -> Event:
        return cls("Normal", reason, message)

    @classmethod
    def warning(cls, reason: str, message: str) -> Event:
        return cls("Warning", reason, message)

    @property
    def warns(self) -> bool:
        return self.type == "Warning"


def messages(events: list[Event]) -> list[str]:
    """The messages alone, as people read them (tests and logs)."""
    return [event.message for event in events]
