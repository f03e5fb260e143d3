"""The RayJob reconciler, one room per concern.

* :mod:`.state_machine`: KubeRay's jobDeploymentStatus machine, :func:`reconcile_job`;
* :mod:`.model`: what it reads (the observed world) and returns (actions, the plan);
* :mod:`.submitter`: the ``ray job submit`` script and container, the HTTPMode request;
* :mod:`.options`: KubeRay's environment variables and the gates it reads.

The names below are what the runtimes use; they import them from here.
"""

from rayplane.reconcile.job.model import (
    COMPLETE,
    FAILED,
    NOT_FOUND,
    RETRYING,
    CreateCluster,
    CreateSubmitter,
    DeleteCluster,
    DeleteSelf,
    DeleteSubmitter,
    EnsureHeadService,
    JobAction,
    JobPlan,
    ObservedJob,
    ObservedJobCluster,
    ObservedSubmitter,
    RayJobLike,
    RayJobState,
    StopJob,
    SubmitJob,
    SuspendWorkers,
    is_job_terminal,
)
from rayplane.reconcile.job.options import JobOptions
from rayplane.reconcile.job.state_machine import (
    finalize_job,
    reconcile_job,
    validation_failed,
    wants_ray_job,
)
from rayplane.reconcile.job.submitter import SUBMITTER_CONTAINER_NAME, check_name, submitter_command

__all__ = [
    "COMPLETE",
    "FAILED",
    "NOT_FOUND",
    "RETRYING",
    "SUBMITTER_CONTAINER_NAME",
    "CreateCluster",
    "CreateSubmitter",
    "DeleteCluster",
    "DeleteSelf",
    "DeleteSubmitter",
    "EnsureHeadService",
    "JobAction",
    "JobOptions",
    "JobPlan",
    "ObservedJob",
    "ObservedJobCluster",
    "ObservedSubmitter",
    "RayJobLike",
    "RayJobState",
    "StopJob",
    "SubmitJob",
    "SuspendWorkers",
    "check_name",
    "finalize_job",
    "is_job_terminal",
    "reconcile_job",
    "submitter_command",
    "validation_failed",
    "wants_ray_job",
]
