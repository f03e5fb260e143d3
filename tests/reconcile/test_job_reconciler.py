"""The pure RayJob reconciler: KubeRay's jobDeploymentStatus machine, pass by pass."""

from __future__ import annotations

import itertools
import json
import shlex
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rayplane.api.raycluster import RayClusterSpec, RayClusterStatus
from rayplane.api.rayjob import RayJob, RayJobStatus
from rayplane.reconcile.events import messages
from rayplane.reconcile.job import (
    NOT_FOUND,
    CreateCluster,
    CreateSubmitter,
    DeleteCluster,
    DeleteSelf,
    DeleteSubmitter,
    EnsureHeadService,
    JobOptions,
    JobPlan,
    ObservedJob,
    ObservedJobCluster,
    ObservedSubmitter,
    RayJobState,
    StopJob,
    SubmitJob,
    SuspendWorkers,
    check_name,
    finalize_job,
    is_job_terminal,
    reconcile_job,
    submitter_command,
    validation_failed,
    wants_ray_job,
)
from rayplane.reconcile.kuberay import random_suffix

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
DASH = "demo-raycluster-head-svc.default.svc.cluster.local:8265"
MS0 = int(T0.timestamp() * 1000)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rayjob(status: dict[str, Any] | None = None, **spec: Any) -> RayJob:
    """A RayJob "demo" with an embedded cluster (one worker group); *spec* overrides."""
    doc: dict[str, Any] = {
        "entrypoint": "python -c 'print(1)'",
        "rayClusterSpec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "template": {
                    "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}
                }
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": 1,
                    "template": {"spec": {"containers": [{"name": "ray-worker"}]}},
                }
            ],
        },
    }
    doc.update(spec)
    if doc.get("clusterSelector"):
        doc.pop("rayClusterSpec", None)
    body: dict[str, Any] = {
        "metadata": {"name": "demo", "namespace": "default", "labels": {"team": "ml"}},
        "spec": doc,
    }
    if status is not None:
        body["status"] = status
    return RayJob.model_validate(body)


def running_status(**extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "jobId": "demo-abcde",
        "rayClusterName": "demo-fghij",
        "dashboardURL": DASH,
        "jobDeploymentStatus": "Running",
        "startTime": iso(T0),
        "failed": 0,
        "succeeded": 0,
    }
    status.update(extra)
    return status


def ready_cluster(name: str = "demo-fghij", **kw: Any) -> ObservedJobCluster:
    return ObservedJobCluster(
        name=name,
        status=RayClusterStatus(state="ready", ready_worker_replicas=1, desired_worker_replicas=1),
        dashboard_url=DASH,
        **kw,
    )


def sequence(*values: str) -> Callable[[], str]:
    it: Iterator[str] = iter(values)
    return lambda: next(it)


def step(
    job: RayJob,
    observed: ObservedJob | None = None,
    now: datetime = T0,
    rand: Callable[[], str] | None = None,
    options: JobOptions | None = None,
) -> JobPlan:
    return reconcile_job(
        job,
        observed or ObservedJob(),
        now,
        rand or sequence("abcde", "fghij", "kmnpq", "rstvw"),
        options,
    )


def apply(job: RayJob, plan: JobPlan) -> RayJob:
    """The job after the runtime wrote the plan's status."""
    return job.model_copy(update={"status": plan.status})


def status_of(plan: JobPlan) -> dict[str, Any]:
    return plan.status.wire()


# -- New ------------------------------------------------------------------------------------


def test_new_generates_ids_and_moves_to_initializing() -> None:
    plan = step(rayjob())
    assert plan.changed
    assert plan.actions == []
    assert plan.requeue_after == 3.0
    assert status_of(plan) == {
        "jobId": "demo-abcde",
        "rayClusterName": "demo-fghij",
        "jobDeploymentStatus": "Initializing",
        "startTime": iso(T0),
        "failed": 0,
        "succeeded": 0,
    }
    assert "JobDeploymentStatus New -> Initializing" in messages(plan.events)


def test_new_uses_spec_job_id_and_selector_cluster() -> None:
    job = rayjob(jobId="my-id", clusterSelector={"ray.io/cluster": "shared"})
    status = step(job).status
    assert (status.job_id, status.ray_cluster_name) == ("my-id", "shared")


def test_new_interactive_mode_leaves_job_id_for_the_user() -> None:
    status = step(rayjob(submissionMode="InteractiveMode")).status
    assert status.job_id is None
    assert status.ray_cluster_name == "demo-abcde"


def test_new_keeps_existing_names() -> None:
    job = rayjob({"jobId": "kept", "rayClusterName": "kept-cluster"})
    status = step(job).status
    assert (status.job_id, status.ray_cluster_name) == ("kept", "kept-cluster")


def test_random_suffix_is_kuberay_alphabet() -> None:
    for _ in range(50):
        suffix = random_suffix()
        assert len(suffix) == 5
        assert set(suffix) <= set("bcdfghjklmnpqrstvwxz2456789")


# -- Initializing -----------------------------------------------------------------------------


def initializing(**extra: Any) -> dict[str, Any]:
    status = {
        "jobId": "demo-abcde",
        "rayClusterName": "demo-fghij",
        "jobDeploymentStatus": "Initializing",
        "startTime": iso(T0),
        "failed": 0,
        "succeeded": 0,
    }
    status.update(extra)
    return status


def test_initializing_creates_the_cluster_with_origin_labels() -> None:
    job = rayjob(initializing())
    plan = step(job)
    assert len(plan.actions) == 1
    action = plan.actions[0]
    assert isinstance(action, CreateCluster)
    assert action.name == "demo-fghij"
    assert action.spec == job.spec.ray_cluster_spec
    assert action.spec is not job.spec.ray_cluster_spec
    assert action.labels == {
        "team": "ml",
        "ray.io/originated-from-cr-name": "demo",
        "ray.io/originated-from-crd": "RayJob",
        "ray.io/job-submission-mode": "K8sJobMode",
    }
    assert action.annotations == {}
    # The new cluster's (empty) status equals the unset one: nothing to write yet.
    assert not plan.changed
    assert plan.status == job.status
    assert plan.requeue_after == 3.0


def test_initializing_copies_cluster_status_while_waiting() -> None:
    job = rayjob(initializing())
    provisioning = ObservedJobCluster(
        name="demo-fghij", status=RayClusterStatus(desired_worker_replicas=1, reason="x")
    )
    plan = step(job, ObservedJob(cluster=provisioning))
    assert plan.changed
    assert plan.actions == []
    assert plan.status.ray_cluster_status == provisioning.status
    assert plan.status.dashboard_url is None
    assert plan.status.job_deployment_status == "Initializing"
    # Same cluster status again: KubeRay does not write.
    again = step(apply(job, plan), ObservedJob(cluster=provisioning))
    assert not again.changed


def test_initializing_k8s_job_mode_creates_submitter_then_running() -> None:
    job = rayjob(initializing())
    plan = step(job, ObservedJob(cluster=ready_cluster()))
    assert plan.status.job_deployment_status == "Running"
    assert plan.status.dashboard_url == DASH
    [action] = plan.actions
    assert isinstance(action, CreateSubmitter)
    assert action.name == "demo"
    assert action.backoff_limit == 2
    assert action.labels == {
        "ray.io/originated-from-cr-name": "demo",
        "ray.io/originated-from-crd": "RayJob",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    running = apply(job, plan)
    assert action.command == submitter_command(running, DASH)
    assert {(e.name, e.value) for e in action.env} == {
        ("PYTHONUNBUFFERED", "1"),
        ("RAY_DASHBOARD_ADDRESS", DASH),
        ("RAY_JOB_SUBMISSION_ID", "demo-abcde"),
    }
    pod = action.template.wire()
    assert pod["metadata"]["labels"] == action.labels
    assert pod["spec"]["restartPolicy"] == "Never"
    [container] = pod["spec"]["containers"]
    assert container["name"] == "ray-job-submitter"
    assert container["image"] == "rayproject/ray:2.60.0"
    assert container["command"] == ["/bin/bash", "-ce", "--"]
    assert container["args"] == [action.command[3]]
    assert container["resources"] == {
        "limits": {"cpu": "1", "memory": "1Gi"},
        "requests": {"cpu": "500m", "memory": "200Mi"},
    }


def test_submitter_template_keeps_user_command_and_backoff() -> None:
    template = {
        "metadata": {"labels": {"mine": "yes"}},
        "spec": {
            "containers": [{"name": "custom", "image": "me/img", "command": ["ray", "job", "x"]}],
            "restartPolicy": "Never",
        },
    }
    job = rayjob(initializing(), submitterPodTemplate=template, submitterConfig={"backoffLimit": 5})
    [action] = step(job, ObservedJob(cluster=ready_cluster())).actions
    assert isinstance(action, CreateSubmitter)
    assert action.command == ["ray", "job", "x"]
    assert action.backoff_limit == 5
    pod = action.template.wire()
    assert pod["metadata"]["labels"]["mine"] == "yes"
    assert pod["metadata"]["labels"]["ray.io/originated-from-cr-name"] == "demo"
    assert [e["name"] for e in pod["spec"]["containers"][0]["env"]] == [
        "PYTHONUNBUFFERED",
        "RAY_DASHBOARD_ADDRESS",
        "RAY_JOB_SUBMISSION_ID",
    ]


def test_submitter_gets_the_cluster_token_when_auth_is_on() -> None:
    job = rayjob(initializing())
    assert job.spec.ray_cluster_spec is not None
    spec = RayClusterSpec.model_validate(
        {**job.spec.ray_cluster_spec.wire(), "authOptions": {"mode": "token"}}
    )
    cluster = replace(ready_cluster(), spec=spec)
    [action] = step(job, ObservedJob(cluster=cluster)).actions
    assert isinstance(action, CreateSubmitter)
    env = {e.name: e for e in action.env}
    assert env["RAY_AUTH_MODE"].value == "token"
    token = env["RAY_AUTH_TOKEN"].value_from
    assert token is not None and token.secret_key_ref is not None
    assert (token.secret_key_ref.name, token.secret_key_ref.key) == ("demo-fghij", "auth_token")


def test_existing_submitter_is_not_created_twice() -> None:
    job = rayjob(initializing())
    plan = step(job, ObservedJob(cluster=ready_cluster(), submitter=ObservedSubmitter()))
    assert plan.actions == []
    assert plan.status.job_deployment_status == "Running"


def test_initializing_http_mode_goes_running_without_submitter() -> None:
    plan = step(rayjob(initializing(), submissionMode="HTTPMode"), ObservedJob(ready_cluster()))
    assert plan.actions == []
    assert plan.status.job_deployment_status == "Running"


def test_initializing_interactive_mode_waits() -> None:
    job = rayjob(initializing(jobId=None), submissionMode="InteractiveMode")
    plan = step(job, ObservedJob(ready_cluster()))
    assert plan.status.job_deployment_status == "Waiting"
    assert plan.status.dashboard_url == DASH


def test_ready_cluster_without_dashboard_url_waits() -> None:
    cluster = replace(ready_cluster(), dashboard_url=None)
    plan = step(rayjob(initializing()), ObservedJob(cluster))
    assert not plan.changed
    assert plan.error is not None and "dashboard URL" in plan.error
    assert plan.requeue_after == 3.0


def test_selected_cluster_missing_is_reported_not_created() -> None:
    job = rayjob(
        initializing(rayClusterName="shared"), clusterSelector={"ray.io/cluster": "shared"}
    )
    plan = step(job)
    assert plan.actions == []
    assert not plan.changed
    assert plan.error == (
        "RayCluster default/shared set in the clusterSelector is not found. It must be "
        "created manually"
    )


def test_sidecar_mode_puts_the_submitter_in_the_head() -> None:
    job = rayjob(initializing(), submissionMode="SidecarMode")
    [action] = step(job).actions
    assert isinstance(action, CreateCluster)
    assert action.annotations == {"ray.io/disable-provisioned-head-restart": "true"}
    head = action.spec.head_group_spec.template.spec
    assert head.restart_policy == "Never"
    assert [c.name for c in head.containers] == ["ray-head", "ray-job-submitter"]
    sidecar = head.containers[1]
    assert sidecar.command == ["/bin/bash", "-ce", "--"]
    assert sidecar.args is not None
    script = sidecar.args[0]
    assert "--address http://127.0.0.1:8265" in script
    assert "http://localhost:8265/api/gcs_healthz" in script
    assert "ray job status" not in script and "--no-wait" not in script
    # The job's own spec is untouched.
    assert job.spec.ray_cluster_spec is not None
    assert len(job.spec.ray_cluster_spec.head_group_spec.template.spec.containers) == 1


def test_sidecar_restart_gate_checks_status_and_restarts_on_failure() -> None:
    job = rayjob(initializing(), submissionMode="SidecarMode")
    options = JobOptions(sidecar_submitter_restart=True)
    [action] = step(job, options=options).actions
    assert isinstance(action, CreateCluster)
    sidecar = action.spec.head_group_spec.template.spec.containers[1]
    assert sidecar.wire()["restartPolicy"] == "OnFailure"
    assert sidecar.args is not None and "if ! ray job status" in sidecar.args[0]


# -- deadlines before Running ---------------------------------------------------------------


def test_active_deadline_fails_initializing_without_retry() -> None:
    job = rayjob(initializing(), activeDeadlineSeconds=60, backoffLimit=3)
    assert step(job, now=at(59)).status.job_deployment_status == "Initializing"
    plan = step(job, now=at(60))
    status = plan.status
    assert status.job_deployment_status == "Failed"
    assert status.reason == "DeadlineExceeded"
    assert status.message == (
        "The RayJob has passed the activeDeadlineSeconds. StartTime: 2025-03-01 12:00:00 +0000 "
        "UTC. ActiveDeadlineSeconds: 60"
    )
    assert status.failed == 1
    assert status.end_time == iso(at(60))
    assert plan.actions == []


def test_pre_running_deadline_fails_and_may_retry() -> None:
    job = rayjob(initializing(), preRunningDeadlineSeconds=30)
    status = step(job, now=at(31)).status
    assert (status.job_deployment_status, status.reason) == ("Failed", "PreRunningDeadlineExceeded")
    assert status.message is not None and "PreRunningDeadlineSeconds: 30" in status.message
    retried = step(rayjob(initializing(), preRunningDeadlineSeconds=30, backoffLimit=1), now=at(31))
    assert retried.status.job_deployment_status == "Retrying"
    assert retried.status.end_time is None


def test_waiting_needs_spec_job_id() -> None:
    waiting = initializing(jobId=None, jobDeploymentStatus="Waiting", dashboardURL=DASH)
    job = rayjob(waiting, submissionMode="InteractiveMode")
    plan = step(job, ObservedJob(ready_cluster()))
    assert not plan.changed and plan.requeue_after == 3.0
    job = rayjob(waiting, submissionMode="InteractiveMode", jobId="user-job")
    status = step(job, ObservedJob(ready_cluster())).status
    assert (status.job_deployment_status, status.job_id) == ("Running", "user-job")


def test_waiting_pre_running_deadline() -> None:
    waiting = initializing(jobId=None, jobDeploymentStatus="Waiting", dashboardURL=DASH)
    job = rayjob(waiting, submissionMode="InteractiveMode", preRunningDeadlineSeconds=10)
    assert step(job, now=at(10)).status.reason == "PreRunningDeadlineExceeded"


# -- Running --------------------------------------------------------------------------------


def test_running_mirrors_the_ray_job() -> None:
    job = rayjob(running_status())
    ray_job = RayJobState("RUNNING", "Job is currently running.", start_time=MS0 + 1500)
    cluster = ready_cluster()
    plan = step(job, ObservedJob(cluster, ObservedSubmitter(), ray_job))
    status = plan.status
    assert status.job_status == "RUNNING"
    assert status.job_deployment_status == "Running"
    assert status.message == "Job is currently running."
    assert status.ray_job_info is not None and status.ray_job_info.wire() == {
        "startTime": iso(at(1))
    }
    assert status.ray_cluster_status == cluster.status
    assert plan.actions == [EnsureHeadService("demo-head-svc", "demo-fghij")]
    assert plan.changed


def test_running_message_change_alone_is_not_written() -> None:
    job = rayjob(running_status(jobStatus="RUNNING", message="old"))
    cluster = replace(ready_cluster(), status=RayClusterStatus())
    plan = step(job, ObservedJob(cluster, ObservedSubmitter(), RayJobState("RUNNING", "new")))
    assert not plan.changed
    assert plan.status == job.status


def test_terminal_ray_job_waits_for_the_submitter() -> None:
    job = rayjob(running_status(jobStatus="RUNNING"))
    done = RayJobState("SUCCEEDED", "ok", MS0, MS0 + 5000)
    plan = step(job, ObservedJob(ready_cluster(), ObservedSubmitter(), done), now=at(6))
    assert plan.status.job_status == "SUCCEEDED"
    assert plan.status.job_deployment_status == "Running"
    finished = ObservedSubmitter("succeeded", finished_at=at(6))
    plan = step(apply(job, plan), ObservedJob(ready_cluster(), finished, done), now=at(7))
    status = plan.status
    assert status.job_deployment_status == "Complete"
    assert status.reason is None
    assert (status.succeeded, status.failed) == (1, 0)
    assert status.end_time == iso(at(7))
    assert status.ray_job_info is not None
    assert status.ray_job_info.end_time == iso(at(5))
    assert "JobDeploymentStatus Running -> Complete" in messages(plan.events)


@pytest.mark.parametrize("mode", ["HTTPMode", "InteractiveMode"])
def test_modes_without_submitter_complete_on_ray_status(mode: str) -> None:
    job = rayjob(running_status(), submissionMode=mode)
    plan = step(job, ObservedJob(ready_cluster(), None, RayJobState("STOPPED", "stopped")))
    assert plan.status.job_deployment_status == "Complete"
    assert plan.status.job_status == "STOPPED"
    assert plan.status.succeeded == 0


def test_failed_ray_job_is_app_failed() -> None:
    job = rayjob(running_status())
    failed = RayJobState("FAILED", "exit 1", MS0, MS0 + 1000)
    sub = ObservedSubmitter("succeeded", finished_at=at(2))
    plan = step(job, ObservedJob(ready_cluster(), sub, failed), now=at(3))
    status = plan.status
    assert (status.job_deployment_status, status.reason, status.message) == (
        "Failed",
        "AppFailed",
        "exit 1",
    )
    assert status.failed == 1
    assert status.end_time == iso(at(3))


def test_submitter_failure_is_submission_failed() -> None:
    job = rayjob(running_status(jobStatus="PENDING"))
    sub = ObservedSubmitter(
        "failed",
        finished_at=at(1),
        reason="BackoffLimitExceeded",
        message="Job has reached the specified backoff limit",
    )
    status = step(job, ObservedJob(ready_cluster(), sub, RayJobState("PENDING")), now=at(2)).status
    assert (status.job_deployment_status, status.reason) == ("Failed", "SubmissionFailed")
    assert status.message == (
        "Job submission has failed. Reason: BackoffLimitExceeded. Message: Job has reached the "
        "specified backoff limit"
    )


def test_submitter_failure_after_app_failure_is_app_failed() -> None:
    job = rayjob(running_status(jobStatus="FAILED", message="boom"))
    sub = ObservedSubmitter("failed", finished_at=at(1), reason="BackoffLimitExceeded")
    status = step(job, ObservedJob(ready_cluster(), sub, None), now=at(2)).status
    assert (status.job_deployment_status, status.reason, status.message) == (
        "Failed",
        "AppFailed",
        "boom",
    )


def test_submitter_finished_but_job_not_terminal_times_out() -> None:
    job = rayjob(running_status(jobStatus="RUNNING"))
    sub = ObservedSubmitter("succeeded", finished_at=T0)
    running = RayJobState("RUNNING")
    early = step(job, ObservedJob(ready_cluster(), sub, running), now=at(29)).status
    assert early.job_deployment_status == "Running"
    status = step(job, ObservedJob(ready_cluster(), sub, running), now=at(30)).status
    assert status.job_status == "FAILED"
    assert status.job_deployment_status == "Failed"
    assert status.reason == "JobDeploymentStatusTransitionGracePeriodExceeded"
    assert status.message == (
        "The RayJob submitter finished at 2025-03-01 12:00:00 but the ray job did not reach "
        "terminal state within 30s"
    )


def test_submitter_timeout_does_not_override_a_terminal_job() -> None:
    """Deliberate: a controller that slept past the 30 s still sees the job succeed."""
    job = rayjob(running_status(jobStatus="RUNNING"))
    sub = ObservedSubmitter("succeeded", finished_at=T0)
    done = RayJobState("SUCCEEDED", "ok", MS0, MS0)
    status = step(job, ObservedJob(ready_cluster(), sub, done), now=at(600)).status
    assert (status.job_deployment_status, status.job_status) == ("Complete", "SUCCEEDED")


def test_job_not_found_after_submitter_finished_is_app_failed() -> None:
    job = rayjob(running_status())
    waiting = step(job, ObservedJob(ready_cluster(), ObservedSubmitter(), NOT_FOUND))
    assert not waiting.changed and waiting.requeue_after == 3.0
    sub = ObservedSubmitter("succeeded", finished_at=T0)
    status = step(job, ObservedJob(ready_cluster(), sub, NOT_FOUND), now=at(1)).status
    assert (status.job_deployment_status, status.reason, status.message) == (
        "Failed",
        "AppFailed",
        "Submitter completed but Ray job not found in RayCluster.",
    )


def test_missing_submitter_is_created_again() -> None:
    job = rayjob(running_status())
    plan = step(job, ObservedJob(ready_cluster(), None, RayJobState("RUNNING")))
    assert [type(a) for a in plan.actions] == [EnsureHeadService, CreateSubmitter]
    assert not plan.changed
    assert plan.error is not None and "missing" in plan.error


def test_missing_cluster_while_running_is_recreated() -> None:
    job = rayjob(running_status(), submissionMode="HTTPMode")
    plan = step(job, ObservedJob(None, None, None, dashboard_error="connection refused"))
    assert isinstance(plan.actions[0], CreateCluster)
    assert plan.status.job_status_check_failure_start_time == iso(T0)


def test_selector_jobs_get_no_head_service() -> None:
    job = rayjob(
        running_status(rayClusterName="shared"),
        clusterSelector={"ray.io/cluster": "shared"},
        submissionMode="HTTPMode",
    )
    plan = step(job, ObservedJob(ready_cluster("shared"), None, RayJobState("RUNNING")))
    assert plan.actions == []
    assert plan.status.job_status == "RUNNING"


def test_http_mode_submits_when_not_found() -> None:
    job = rayjob(
        running_status(),
        submissionMode="HTTPMode",
        runtimeEnvYAML="pip:\n  - requests\nenv_vars:\n  A: '1'\n",
        metadata={"owner": "me"},
        entrypointNumCpus=1,
        entrypointNumGpus=0.5,
        entrypointResources='{"Custom": 2}',
    )
    plan = step(job, ObservedJob(ready_cluster(), None, NOT_FOUND))
    assert plan.actions[-1] == SubmitJob(
        job_id="demo-abcde",
        dashboard_url=DASH,
        entrypoint="python -c 'print(1)'",
        runtime_env={"pip": ["requests"], "env_vars": {"A": "1"}},
        metadata={"owner": "me"},
        entrypoint_num_cpus=1.0,
        entrypoint_num_gpus=0.5,
        entrypoint_resources={"Custom": 2.0},
    )
    assert not plan.changed


def test_http_mode_submit_error_starts_the_status_check_clock() -> None:
    job = rayjob(running_status(), submissionMode="HTTPMode")
    observed = ObservedJob(ready_cluster(), None, NOT_FOUND, submit_error="HTTP 500")
    plan = step(job, observed)
    assert isinstance(plan.actions[-1], SubmitJob)
    assert plan.changed
    assert plan.status.job_status_check_failure_start_time == iso(T0)
    again = step(apply(job, plan), observed, now=at(10))
    assert not again.changed


def test_status_check_timeout() -> None:
    job = rayjob(running_status(jobStatus="RUNNING"), backoffLimit=2)
    broken = ObservedJob(ready_cluster(), ObservedSubmitter(), dashboard_error="timed out")
    first = step(job, broken)
    assert first.changed
    assert first.status.job_status_check_failure_start_time == iso(T0)
    job = apply(job, first)
    assert not step(job, broken, now=at(299)).changed
    plan = step(job, broken, now=at(300))
    status = plan.status
    assert (status.job_deployment_status, status.reason) == (
        "Failed",
        "JobStatusCheckTimeoutExceeded",
    )
    assert status.message == (
        "Job status checks have been failing since 2025-03-01 12:00:00; exceeded timeout of 300s"
    )
    # Not retried even with backoffLimit left.
    assert status.failed == 1


def test_successful_check_clears_the_status_check_clock() -> None:
    job = rayjob(running_status(jobStatus="RUNNING", jobStatusCheckFailureStartTime=iso(T0)))
    plan = step(
        job, ObservedJob(ready_cluster(), ObservedSubmitter(), RayJobState("RUNNING")), at(5)
    )
    assert plan.changed
    assert plan.status.job_status_check_failure_start_time is None


def test_status_check_timeout_is_configurable() -> None:
    options = JobOptions.from_env({"RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS": "10"})
    job = rayjob(running_status(jobStatus="RUNNING", jobStatusCheckFailureStartTime=iso(T0)))
    plan = step(job, ObservedJob(ready_cluster()), now=at(10), options=options)
    assert plan.status.reason == "JobStatusCheckTimeoutExceeded"


@pytest.mark.parametrize(
    ("job_status", "deployment"), [("SUCCEEDED", "Complete"), ("FAILED", "Failed")]
)
def test_transition_grace_period(job_status: str, deployment: str) -> None:
    status = running_status(jobStatus=job_status, rayJobInfo={"endTime": iso(T0)})
    job = rayjob(status)
    idle = ObservedJob(ready_cluster(), ObservedSubmitter(), RayJobState(job_status))
    assert step(job, idle, now=at(299)).status.job_deployment_status == "Running"
    plan = step(job, idle, now=at(300))
    assert plan.status.job_deployment_status == deployment
    assert plan.status.reason == "JobDeploymentStatusTransitionGracePeriodExceeded"
    assert plan.status.message == (
        "JobDeploymentStatus does not transition to Complete or Failed within the grace "
        "period after JobStatus reaches a terminal state."
    )


def test_active_deadline_while_running_stops_the_ray_job() -> None:
    job = rayjob(running_status(jobStatus="RUNNING"), activeDeadlineSeconds=100, backoffLimit=5)
    plan = step(job, ObservedJob(ready_cluster(), ObservedSubmitter()), now=at(100))
    assert plan.actions == [StopJob("demo-abcde", DASH)]
    assert plan.status.job_deployment_status == "Failed"
    assert plan.status.reason == "DeadlineExceeded"


def test_sidecar_head_missing_is_app_failed() -> None:
    job = rayjob(running_status(), submissionMode="SidecarMode")
    cluster = replace(ready_cluster(), head_present=False)
    status = step(job, ObservedJob(cluster)).status
    assert (status.job_deployment_status, status.reason, status.message) == (
        "Failed",
        "AppFailed",
        "Ray head pod not found.",
    )


def test_sidecar_nonzero_exit_is_submission_failed() -> None:
    job = rayjob(running_status(jobStatus="PENDING"), submissionMode="SidecarMode")
    sub = ObservedSubmitter("failed", finished_at=T0, reason="Error", exit_code=1)
    status = step(job, ObservedJob(ready_cluster(), sub, RayJobState("PENDING")), at(1)).status
    assert status.reason == "SubmissionFailed"
    assert (
        status.message
        == "Ray head pod container ray-job-submitter terminated with exit code 1: Error"
    )


# -- retries -----------------------------------------------------------------------------------


def test_retry_tears_down_and_starts_over_with_new_names() -> None:
    job = rayjob(running_status(jobStatus="RUNNING"), backoffLimit=2)
    sub_done = ObservedSubmitter("succeeded", finished_at=at(1))
    failed_job = RayJobState("FAILED", "boom", MS0, MS0 + 500)

    plan = step(job, ObservedJob(ready_cluster(), sub_done, failed_job), now=at(2))
    assert plan.status.job_deployment_status == "Retrying"
    assert plan.status.reason == "AppFailed"
    assert plan.status.failed == 1
    assert plan.status.end_time is None
    job = apply(job, plan)

    plan = step(job, ObservedJob(ready_cluster(), sub_done), now=at(3))
    assert plan.actions == [DeleteCluster("demo-fghij"), DeleteSubmitter("demo")]
    assert not plan.changed

    going = ObservedJob(replace(ready_cluster(), deleting=True), replace(sub_done, deleting=True))
    plan = step(job, going, now=at(4))
    assert plan.actions == [] and not plan.changed

    plan = step(job, ObservedJob(), now=at(5))
    # KubeRay's reset: every field of the attempt goes, the counts and startTime stay.
    assert status_of(plan) == {"startTime": iso(T0), "failed": 1, "succeeded": 0}
    assert "JobDeploymentStatus Retrying -> New" in messages(plan.events)
    job = apply(job, plan)

    plan = step(job, ObservedJob(), now=at(6), rand=sequence("22222", "33333"))
    assert plan.status.job_id == "demo-22222"
    assert plan.status.ray_cluster_name == "demo-33333"
    assert plan.status.start_time == iso(at(6))
    assert plan.status.failed == 1


def test_retries_stop_at_backoff_limit() -> None:
    job = rayjob(running_status(jobStatus="RUNNING", failed=2), backoffLimit=2)
    sub = ObservedSubmitter("succeeded", finished_at=T0)
    plan = step(job, ObservedJob(ready_cluster(), sub, RayJobState("FAILED", "x")), at(1))
    assert plan.status.job_deployment_status == "Failed"
    assert plan.status.failed == 3


def test_http_mode_retry_deletes_only_the_cluster() -> None:
    job = rayjob(running_status(jobDeploymentStatus="Retrying"), submissionMode="HTTPMode")
    plan = step(job, ObservedJob(ready_cluster(), ObservedSubmitter()))
    assert plan.actions == [DeleteCluster("demo-fghij")]


def test_selector_retry_never_deletes_the_cluster() -> None:
    job = rayjob(
        running_status(jobDeploymentStatus="Retrying", rayClusterName="shared"),
        clusterSelector={"ray.io/cluster": "shared"},
        submissionMode="HTTPMode",
    )
    plan = step(job, ObservedJob(ready_cluster("shared")))
    assert plan.actions == []
    assert plan.status.job_deployment_status is None


# -- suspend -----------------------------------------------------------------------------------


def test_suspend_cycle() -> None:
    job = rayjob(running_status(jobStatus="RUNNING"), suspend=True, shutdownAfterJobFinishes=True)
    plan = step(job, ObservedJob(ready_cluster(), ObservedSubmitter()))
    assert plan.status.job_deployment_status == "Suspending"
    assert plan.actions == []
    job = apply(job, plan)

    plan = step(job, ObservedJob(ready_cluster(), ObservedSubmitter()))
    assert plan.actions == [DeleteCluster("demo-fghij"), DeleteSubmitter("demo")]

    # Atomic: un-suspending meanwhile still ends in Suspended.
    job = job.model_copy(update={"spec": job.spec.model_copy(update={"suspend": False})})
    plan = step(job, ObservedJob())
    status = plan.status
    assert status.job_deployment_status == "Suspended"
    for name in ("job_id", "ray_cluster_name", "dashboard_url", "job_status", "reason"):
        assert getattr(status, name) is None
    assert status.start_time == iso(T0)
    job = apply(job, plan)

    plan = step(job)
    assert plan.status.job_deployment_status is None
    assert plan.requeue_after == 3.0


def test_suspended_stays_without_requeue() -> None:
    job = rayjob({"jobDeploymentStatus": "Suspended"}, suspend=True, shutdownAfterJobFinishes=True)
    plan = step(job)
    assert not plan.changed and plan.requeue_after is None and plan.actions == []


def test_suspend_while_initializing() -> None:
    job = rayjob(initializing(), suspend=True, shutdownAfterJobFinishes=True)
    assert step(job).status.job_deployment_status == "Suspending"


def test_suspend_is_ignored_when_finished() -> None:
    job = rayjob(running_status(jobDeploymentStatus="Complete"), suspend=True)
    assert step(job, ObservedJob(ready_cluster())).status.job_deployment_status == "Complete"


# -- Complete / Failed -------------------------------------------------------------------------


def finished(job_status: str = "SUCCEEDED", deployment: str = "Complete", **extra: Any) -> Any:
    return running_status(
        jobStatus=job_status, jobDeploymentStatus=deployment, endTime=iso(T0), **extra
    )


def test_finished_without_policy_does_nothing() -> None:
    plan = step(rayjob(finished()), ObservedJob(ready_cluster()), now=at(10_000))
    assert plan.actions == [] and plan.requeue_after is None and not plan.changed


def test_finished_selector_job_never_deletes() -> None:
    job = rayjob(
        finished(rayClusterName="shared"),
        clusterSelector={"ray.io/cluster": "shared"},
        shutdownAfterJobFinishes=True,
    )
    plan = step(job, ObservedJob(ready_cluster("shared")), now=at(10_000))
    assert plan.actions == [] and plan.requeue_after is None


def test_shutdown_after_finish_waits_for_ttl() -> None:
    job = rayjob(finished(), shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=60)
    plan = step(job, ObservedJob(ready_cluster()), now=at(10))
    assert plan.actions == []
    assert plan.requeue_after == pytest.approx(52.0)
    plan = step(job, ObservedJob(ready_cluster(), ObservedSubmitter("succeeded")), now=at(60))
    assert plan.actions == [DeleteCluster("demo-fghij")]  # the submitter is kept
    assert plan.requeue_after is None
    assert step(job, ObservedJob(replace(ready_cluster(), deleting=True)), at(61)).actions == []
    assert step(job, ObservedJob(), now=at(61)).actions == []


def test_shutdown_can_delete_the_rayjob_itself() -> None:
    job = rayjob(finished(), shutdownAfterJobFinishes=True)
    options = JobOptions.from_env({"DELETE_RAYJOB_CR_AFTER_JOB_FINISHES": "TRUE"})
    assert step(job, ObservedJob(ready_cluster()), options=options).actions == [DeleteSelf()]


def rules(*items: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"deletionRules": [{"policy": p, "condition": c} for p, c in items]}


def test_deletion_rules_run_most_destructive_overdue_first() -> None:
    strategy = rules(
        ("DeleteWorkers", {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}),
        ("DeleteCluster", {"jobStatus": "SUCCEEDED", "ttlSeconds": 60}),
        ("DeleteSelf", {"jobStatus": "SUCCEEDED", "ttlSeconds": 120}),
        ("DeleteCluster", {"jobStatus": "FAILED", "ttlSeconds": 0}),
    )
    job = rayjob(finished(), deletionStrategy=strategy)

    plan = step(job, ObservedJob(ready_cluster()), now=at(10))
    assert plan.actions == [SuspendWorkers("demo-fghij")]
    assert plan.requeue_after == pytest.approx(52.0)

    suspended = replace(ready_cluster(), workers_suspended=True)
    plan = step(job, ObservedJob(suspended), now=at(11))
    assert plan.actions == []
    assert plan.requeue_after == pytest.approx(51.0)

    # Both DeleteWorkers and DeleteCluster are overdue: the cluster goes.
    plan = step(job, ObservedJob(ready_cluster()), now=at(70))
    assert plan.actions == [DeleteCluster("demo-fghij")]
    assert plan.requeue_after == pytest.approx(52.0)

    plan = step(job, ObservedJob(None), now=at(130))
    assert plan.actions == [DeleteSelf()]
    assert plan.requeue_after is None


def test_deletion_rules_match_deployment_status() -> None:
    strategy = rules(
        ("DeleteCluster", {"jobDeploymentStatus": "Failed", "ttlSeconds": 5}),
        ("DeleteSelf", {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}),
    )
    job = rayjob(finished("RUNNING", "Failed"), deletionStrategy=strategy)
    assert step(job, ObservedJob(ready_cluster()), now=at(4)).actions == []
    assert step(job, ObservedJob(ready_cluster()), now=at(5)).actions == [
        DeleteCluster("demo-fghij")
    ]


def test_deletion_rule_delete_none_does_nothing() -> None:
    job = rayjob(finished(), deletionStrategy=rules(("DeleteNone", {"jobStatus": "SUCCEEDED"})))
    plan = step(job, ObservedJob(ready_cluster()), now=at(1))
    assert plan.actions == [] and plan.requeue_after is None


def test_deletion_strategy_ignored_when_gate_is_off() -> None:
    job = rayjob(finished(), deletionStrategy=rules(("DeleteSelf", {"jobStatus": "SUCCEEDED"})))
    plan = step(job, ObservedJob(ready_cluster()), options=JobOptions(deletion_policy=False))
    assert plan.actions == []


@pytest.mark.parametrize(
    ("job_status", "expected"),
    [
        ("SUCCEEDED", [DeleteCluster("demo-fghij")]),
        ("FAILED", [SuspendWorkers("demo-fghij")]),
        ("STOPPED", []),
    ],
)
def test_legacy_policies_follow_job_status(job_status: str, expected: list[Any]) -> None:
    strategy = {"onSuccess": {"policy": "DeleteCluster"}, "onFailure": {"policy": "DeleteWorkers"}}
    job = rayjob(
        finished(job_status, "Failed" if job_status == "FAILED" else "Complete"),
        deletionStrategy=strategy,
        ttlSecondsAfterFinished=30,
    )
    early = step(job, ObservedJob(ready_cluster()), now=at(10))
    assert early.actions == []
    if expected:
        assert early.requeue_after == pytest.approx(22.0)
    assert step(job, ObservedJob(ready_cluster()), now=at(30)).actions == expected


def test_legacy_delete_none() -> None:
    strategy = {"onSuccess": {"policy": "DeleteNone"}, "onFailure": {"policy": "DeleteNone"}}
    plan = step(rayjob(finished(), deletionStrategy=strategy), ObservedJob(ready_cluster()))
    assert plan.actions == [] and plan.requeue_after is None


# -- deletion, validation, ownership ---------------------------------------------------------


def test_finalize_stops_a_job_that_may_still_run() -> None:
    job = rayjob(running_status(jobStatus="RUNNING"))
    assert finalize_job(job) == [StopJob("demo-abcde", DASH)]
    assert finalize_job(job, ObservedJob(None)) == []
    assert finalize_job(rayjob(finished())) == []
    assert finalize_job(rayjob(initializing())) == []  # no dashboard yet


def test_deleted_rayjob_gets_finalize_actions() -> None:
    job = rayjob(running_status(jobStatus="PENDING"))
    job = job.model_copy(
        update={"metadata": job.metadata.model_copy(update={"deletion_timestamp": iso(T0)})}
    )
    plan = step(job, ObservedJob(ready_cluster()))
    assert plan.actions == [StopJob("demo-abcde", DASH)]
    assert not plan.changed and plan.requeue_after is None


def test_managed_by_another_controller_is_skipped() -> None:
    plan = step(rayjob(managedBy="kueue.x-k8s.io/multikueue"))
    assert plan.actions == [] and not plan.changed and plan.requeue_after is None
    assert step(rayjob(managedBy="ray.io/kuberay-operator")).changed


def test_validation_failed_status_and_state() -> None:
    job = rayjob(initializing())
    status = validation_failed(job, "spec.entrypoint is required")
    assert (status.job_deployment_status, status.reason, status.message) == (
        "ValidationFailed",
        "ValidationFailed",
        "spec.entrypoint is required",
    )
    plan = step(job.model_copy(update={"status": status}), ObservedJob(ready_cluster()))
    assert plan.actions == [] and not plan.changed and plan.requeue_after == 3.0


def test_wants_ray_job_only_while_running() -> None:
    assert wants_ray_job(rayjob(running_status()))
    assert not wants_ray_job(rayjob(initializing()))
    assert not wants_ray_job(rayjob())


def test_is_job_terminal() -> None:
    assert [is_job_terminal(s) for s in ("", None, "PENDING", "RUNNING")] == [False] * 4
    assert all(is_job_terminal(s) for s in ("STOPPED", "SUCCEEDED", "FAILED"))


def test_check_name() -> None:
    assert check_name("demo-abcde") == "demo-abcde"
    assert check_name("1abc") == "rabc"
    long = "x" * 60
    assert check_name(long) == "x" * 50


def test_options_from_env_fall_back_like_kuberay() -> None:
    options = JobOptions.from_env(
        {
            "RAYJOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_SECONDS": "nope",
            "RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS": "-5",
        },
        sidecar_submitter_restart=True,
    )
    assert options == JobOptions(300, 300, False, True, True)


# -- the submitter script (KubeRay's common/job_test.go cases) ------------------------------


def kuberay_template(mode: str = "K8sJobMode") -> RayJob:
    return RayJob.model_validate(
        {
            "metadata": {"name": "test"},
            "spec": {
                "submissionMode": mode,
                "runtimeEnvYAML": "test: test",
                "metadata": {"testKey": "testValue"},
                "rayClusterSpec": {"rayVersion": "2.6.0"},
                "entrypoint": "echo no quote 'single quote' \"double quote\"",
                "entrypointNumCpus": 1,
                "entrypointNumGpus": 0.5,
                "entrypointResources": '{"Custom_1": 1, "Custom_2": 5.5}',
            },
            "status": {"dashboardURL": "http://127.0.0.1:8265", "jobId": "testJobId"},
        }
    )


def health(url: str) -> str:
    return (
        "python -c \"import urllib.request; r=urllib.request.urlopen('"
        + url
        + "', timeout=10); exit(0 if b'success' in r.read() else 1)\""
    )


def test_submitter_command_k8s_job_mode_matches_kuberay() -> None:
    expected = [
        "until", health("http://127.0.0.1:8265/api/gcs_healthz"), ">/dev/null", "2>&1", ";",
        "do", "echo", '"Waiting for Ray Dashboard GCS to become healthy at '
        'http://127.0.0.1:8265 ..."', ";", "sleep", "2", ";", "done", ";",
        "if", "!", "ray", "job", "status", "--address", "http://127.0.0.1:8265", "testJobId",
        ">/dev/null", "2>&1", ";", "then",
        "ray", "job", "submit", "--address", "http://127.0.0.1:8265", "--no-wait",
        "--runtime-env-json", '"{\\"test\\":\\"test\\"}"',
        "--metadata-json", '"{\\"testKey\\":\\"testValue\\"}"',
        "--submission-id", "testJobId",
        "--entrypoint-num-cpus", "1.000000",
        "--entrypoint-num-gpus", "0.500000",
        "--entrypoint-resources", '"{\\"Custom_1\\": 1, \\"Custom_2\\": 5.5}"',
        "--", "echo no quote 'single quote' \"double quote\"", ";", "fi", ";",
        "ray", "job", "logs", "--address", "http://127.0.0.1:8265", "--follow", "testJobId",
    ]  # fmt: skip
    command = submitter_command(kuberay_template(), "http://127.0.0.1:8265")
    assert command == ["/bin/bash", "-ce", "--", " ".join(expected)]


def test_submitter_command_sidecar_mode_matches_kuberay() -> None:
    expected = [
        "until", health("http://localhost:8265/api/gcs_healthz"), ">/dev/null", "2>&1", ";",
        "do", "echo", '"Waiting for Ray Dashboard GCS to become healthy at '
        'http://127.0.0.1:8265 ..."', ";", "sleep", "2", ";", "done", ";",
        "ray", "job", "submit", "--address", "http://127.0.0.1:8265",
        "--runtime-env-json", '"{\\"test\\":\\"test\\"}"',
        "--metadata-json", '"{\\"testKey\\":\\"testValue\\"}"',
        "--submission-id", "testJobId",
        "--entrypoint-num-cpus", "1.000000",
        "--entrypoint-num-gpus", "0.500000",
        "--entrypoint-resources", '"{\\"Custom_1\\": 1, \\"Custom_2\\": 5.5}"',
        "--", "echo no quote 'single quote' \"double quote\"", ";",
    ]  # fmt: skip
    command = submitter_command(kuberay_template("SidecarMode"), "127.0.0.1:8265")
    assert command[3] == " ".join(expected)


def test_submitter_command_json_survives_bash() -> None:
    """What bash hands `ray job submit` is the runtime env's JSON, HTML escapes included."""
    job = rayjob(
        {"jobId": "j1"},
        runtimeEnvYAML="env_vars:\n  GREETING: \"a <b> & 'c' \\\\ d\"\n",
    )
    script = submitter_command(job, "h:1")[3]
    quoted = script.split("--runtime-env-json ", 1)[1].split(" --submission-id", 1)[0]
    # Inside double quotes bash only unescapes \" and \\ (what strconv.Quote produced here).
    unquoted = quoted[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    assert json.loads(unquoted) == {"env_vars": {"GREETING": "a <b> & 'c' \\ d"}}
    assert "\\u003cb\\u003e" in unquoted
    assert shlex.split(script)  # balanced quoting


def test_submitter_command_rejects_modes_without_submitter() -> None:
    with pytest.raises(ValueError, match="HTTPMode"):
        submitter_command(rayjob(submissionMode="HTTPMode"), DASH)


def test_submitter_command_without_optional_fields() -> None:
    script = submitter_command(rayjob({"jobId": "j1"}), DASH)[3]
    assert "--runtime-env-json" not in script and "--metadata-json" not in script
    assert "--entrypoint-num-cpus" not in script
    assert (
        f"--submission-id j1 -- python -c 'print(1)' ; fi ; ray job logs --address http://{DASH}"
        in script
    )


# -- a whole life ----------------------------------------------------------------------------


class World:
    """A tiny fake runtime: carries out actions, then lets time and Ray move on."""

    def __init__(self) -> None:
        self.cluster: ObservedJobCluster | None = None
        self.submitter: ObservedSubmitter | None = None
        self.ray: RayJobState | None = None
        self.log: list[str] = []

    def observe(self) -> ObservedJob:
        ray_job: Any = self.ray if self.ray is not None else NOT_FOUND
        return ObservedJob(self.cluster, self.submitter, ray_job)

    def carry_out(self, plan: JobPlan) -> None:
        for action in plan.actions:
            self.log.append(type(action).__name__)
            if isinstance(action, CreateCluster):
                self.cluster = ObservedJobCluster(action.name, head_present=True)
            elif isinstance(action, DeleteCluster):
                self.cluster = None
            elif isinstance(action, CreateSubmitter):
                self.submitter = ObservedSubmitter()
            elif isinstance(action, DeleteSubmitter):
                self.submitter = None


def test_a_job_runs_to_completion_after_one_retry() -> None:
    world = World()
    job = rayjob(backoffLimit=1, shutdownAfterJobFinishes=True)
    clock = itertools.count(0, 3)
    deployments: list[str] = ["New"]
    attempt = 0
    for _ in range(40):
        now = at(next(clock))
        plan = reconcile_job(job, world.observe(), now, random_suffix)
        world.carry_out(plan)
        job = apply(job, plan)
        state = job.status.job_deployment_status if job.status else None
        if deployments[-1] != (state or "New"):
            deployments.append(state or "New")
        # Ray and the cluster move on.
        if world.cluster is not None and not world.cluster.ready:
            world.cluster = replace(
                world.cluster, status=RayClusterStatus(state="ready"), dashboard_url=DASH
            )
        elif world.submitter is not None and world.submitter.phase == "running":
            attempt += 1 if world.ray is None else 0
            outcome = "FAILED" if attempt == 1 else "SUCCEEDED"
            world.ray = RayJobState(outcome, outcome.lower(), MS0, MS0 + 1)
            world.submitter = ObservedSubmitter("succeeded", finished_at=now)
        elif world.cluster is None:
            world.ray = None
        if state == "Complete" and world.cluster is None:
            break
    assert deployments == [
        "New", "Initializing", "Running", "Retrying", "New", "Initializing", "Running",
        "Complete",
    ]  # fmt: skip
    assert job.status is not None
    assert (job.status.failed, job.status.succeeded, job.status.job_status) == (1, 1, "SUCCEEDED")
    assert world.log.count("CreateCluster") == 2
    assert world.log[-1] == "DeleteCluster"


def test_status_dump_is_kuberay_shaped() -> None:
    status = RayJobStatus.model_validate({"jobDeploymentStatus": "Running"})
    assert status.wire() == {"jobDeploymentStatus": "Running"}


def test_go_quoting_of_unprintable_characters() -> None:
    job = rayjob({"jobId": "j"}, entrypointResources='{"a":\t1}\x01\u00a0\U000e0001é')
    script = submitter_command(job, DASH)[3]
    assert '--entrypoint-resources "{\\"a\\":\\t1}\\x01\\u00a0\\U000e0001é"' in script


def test_sidecar_uses_the_head_dashboard_port() -> None:
    job = rayjob(initializing(), submissionMode="SidecarMode")
    assert job.spec.ray_cluster_spec is not None
    doc = job.spec.ray_cluster_spec.wire()
    doc["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "gcs", "containerPort": 6379},
        {"name": "dashboard", "containerPort": 9999},
    ]
    job = rayjob(initializing(), submissionMode="SidecarMode", rayClusterSpec=doc)
    [action] = step(job).actions
    assert isinstance(action, CreateCluster)
    args = action.spec.head_group_spec.template.spec.containers[1].args
    assert args is not None and "--address http://127.0.0.1:9999" in args[0]


def test_sidecar_failure_after_app_failure_is_app_failed() -> None:
    job = rayjob(running_status(jobStatus="FAILED", message="boom"), submissionMode="SidecarMode")
    sub = ObservedSubmitter("failed", finished_at=T0, exit_code=1)
    status = step(job, ObservedJob(ready_cluster(), sub), at(1)).status
    assert (status.reason, status.message) == ("AppFailed", "boom")


def test_sidecar_restart_gate_failure_message() -> None:
    job = rayjob(running_status(jobStatus="RUNNING"), submissionMode="SidecarMode")
    sub = ObservedSubmitter("failed", finished_at=T0, exit_code=1)
    options = JobOptions(sidecar_submitter_restart=True)
    status = step(job, ObservedJob(ready_cluster(), sub), at(1), options=options).status
    assert status.message == (
        "Ray head pod submitter container ray-job-submitter terminated after exceeding the "
        "maximum restart count"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"runtimeEnvYAML": "a: [1"},
        {"runtimeEnvYAML": "- just\n- a list\n"},
        {"entrypointResources": "{not json"},
        {"entrypointResources": '{"GPU": "one"}'},
    ],
)
def test_unusable_submission_fields_stop_the_pass(bad: dict[str, Any]) -> None:
    http = step(
        rayjob(running_status(), submissionMode="HTTPMode", **bad),
        ObservedJob(ready_cluster(), None, NOT_FOUND),
    )
    assert not any(isinstance(a, SubmitJob) for a in http.actions)
    assert http.error is not None and "cannot submit" in http.error
    if "runtimeEnvYAML" in bad:
        k8s = step(rayjob(initializing(), **bad), ObservedJob(ready_cluster()))
        assert k8s.actions == [] and not k8s.changed
        assert k8s.error is not None and "cannot build the submitter" in k8s.error


def test_empty_runtime_env_is_left_out() -> None:
    job = rayjob(running_status(), submissionMode="HTTPMode", runtimeEnvYAML="# nothing\n")
    action = step(job, ObservedJob(ready_cluster(), None, NOT_FOUND)).actions[-1]
    assert isinstance(action, SubmitJob) and action.runtime_env is None


def test_submitter_template_without_containers_is_an_error() -> None:
    job = rayjob(initializing(), submitterPodTemplate={"spec": {"containers": []}})
    plan = step(job, ObservedJob(ready_cluster()))
    assert plan.actions == [] and not plan.changed
    assert plan.error is not None and "no containers" in plan.error


def test_missing_cluster_spec_is_reported() -> None:
    job = rayjob(initializing())
    job = job.model_copy(update={"spec": job.spec.model_copy(update={"ray_cluster_spec": None})})
    plan = step(job)
    assert plan.actions == [] and plan.error is not None
