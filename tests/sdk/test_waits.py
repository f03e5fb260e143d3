"""Every wait ends with an outcome and a reason: ready, failed with the runtime's reason,
or timed out with what was still missing. The runtime's story is scripted (tests/sdk/fake),
so nothing here depends on time."""

from __future__ import annotations

import pytest

import rayplane
from rayplane.sdk.runtime import Runtime
from tests.sdk.conftest import raycluster, rayjob, rayservice
from tests.sdk.fake import FakeBackend, both, local, node, status

CRASH = "CrashLoop: c1-head-x exited 3 times (exit code 1); see its log"


def test_apply_waits_until_the_cluster_is_ready_then_reads_it(
    fake: FakeBackend, runtime: Runtime
) -> None:
    fake.play(
        "RayCluster",
        "c1",
        local(nodes=[node("c1-head-x", "starting")]),
        local(nodes=[node("c1-head-x", "starting")]),
        both(
            local(nodes=[node("c1-head-x", "ready")]),
            status(state="ready", endpoints={"dashboard": "8265", "gcs-server": "6379"}),
        ),
    )
    cluster = rayplane.Cluster.from_dict(raycluster(), runtime).apply(progress=False)
    assert fake.gets[("RayCluster", "default", "c1")] == 3  # waited exactly until ready
    assert cluster.status().state == "ready"
    assert [(n.name, n.state) for n in cluster.nodes()] == [("c1-head-x", "ready")]
    assert cluster.dashboard_url == "http://127.0.0.1:8265"
    assert cluster.address == "127.0.0.1:6379"


def test_dashboard_and_address_are_none_until_ready(fake: FakeBackend, runtime: Runtime) -> None:
    cluster = rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False)
    assert cluster.dashboard_url is None and cluster.address is None


def test_a_cluster_that_cannot_start_fails_the_wait_with_the_runtimes_reason(
    fake: FakeBackend, runtime: Runtime
) -> None:
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "X", "message": CRASH}
    fake.play("RayCluster", "c1", status(conditions=[failure]))
    with pytest.raises(rayplane.WaitError) as caught:
        rayplane.Cluster.from_dict(raycluster(), runtime).apply(progress=False)
    assert caught.value.reason == CRASH and not caught.value.timed_out
    assert str(caught.value) == f"RayCluster default/c1: {CRASH}"


def test_a_timeout_says_what_was_still_missing(fake: FakeBackend, runtime: Runtime) -> None:
    fake.play("RayCluster", "c1", local(nodes=[node("c1-head-x", "starting", reason="ray start")]))
    with pytest.raises(rayplane.WaitError) as caught:
        rayplane.Cluster.from_dict(raycluster(), runtime).apply(timeout=0, progress=False)
    assert caught.value.timed_out
    assert caught.value.reason == "timed out after 0s: c1-head-x: ray start"


def test_a_serve_app_that_failed_to_deploy_stops_the_wait_at_once(
    fake: FakeBackend, runtime: Runtime
) -> None:
    cause = "RuntimeError: Failed to download https://example.invalid/app.zip: 404"
    fake.play("RayService", "s1", local(serveFailure=cause))
    service = rayplane.RayService.from_dict(rayservice(), runtime)
    with pytest.raises(rayplane.WaitError) as caught:
        service.apply(progress=False)
    assert caught.value.reason == cause
    assert fake.gets[("RayService", "default", "s1")] == 1  # not one poll more
    assert service.status().state == "Failed" and service.status().reason == cause


def test_a_serving_rayservice_has_its_endpoint(fake: FakeBackend, runtime: Runtime) -> None:
    ready = {"type": "Ready", "status": "True", "reason": "ServiceReady", "message": ""}
    fake.play(
        "RayService",
        "s1",
        status(conditions=[{**ready, "status": "False", "reason": "Initializing"}]),
        both(status(conditions=[ready]), local(endpoint="http://127.0.0.1:8000")),
    )
    service = rayplane.RayService.from_dict(rayservice(), runtime).apply(progress=False)
    assert service.endpoint == "http://127.0.0.1:8000"
    st = service.status()
    assert st.state == "Ready"
    assert st.condition("Ready") == rayplane.Condition("Ready", "True", "ServiceReady", "")
    assert "RayService default/s1: Ready" in service.describe()


def test_progress_shows_the_nodes_of_a_rayservice_as_changed_lines(
    fake: FakeBackend, runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.play(
        "RayService",
        "s1",
        local(nodes=[node("s1-raycluster-abc-head-x", "starting", reason="waiting for GCS")]),
        local(serveFailure="ValueError: bad config"),
    )
    with pytest.raises(rayplane.WaitError):
        rayplane.RayService.from_dict(rayservice(), runtime).apply()
    shown = capsys.readouterr().err
    assert "s1-raycluster-abc-head-x (headgroup): starting - waiting for GCS" in shown


def test_a_rayjob_apply_ends_with_the_job_and_wait_returns_its_status(
    fake: FakeBackend, runtime: Runtime
) -> None:
    fake.play(
        "RayJob",
        "j1",
        status(jobDeploymentStatus="Initializing"),
        status(jobDeploymentStatus="Running", jobStatus="RUNNING"),
        status(
            jobDeploymentStatus="Failed", jobStatus="FAILED", reason="AppFailed", message="exit 1"
        ),
    )
    job = rayplane.RayJob.from_dict(rayjob(), runtime)
    with pytest.raises(rayplane.WaitError) as caught:
        job.apply(progress=False)
    assert caught.value.reason == "jobStatus FAILED: AppFailed: exit 1"
    assert job.wait(progress=False) == "FAILED"  # a finished job: its status, no error
    assert job.job_status == "FAILED"


def test_status_reads_kuberays_conditions_as_typed_values(
    fake: FakeBackend, runtime: Runtime
) -> None:
    provisioned = {"type": "RayClusterProvisioned", "status": "False", "reason": "Waiting"}
    fake.play("RayCluster", "c1", status(state="", conditions=[provisioned]))
    cluster = rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False)
    st = cluster.status()
    assert st.state == "pending"
    assert st.conditions == [rayplane.Condition("RayClusterProvisioned", "False", "Waiting", "")]
    assert st.raw["conditions"][0]["type"] == "RayClusterProvisioned"


def test_describe_gives_a_failed_app_its_last_line_and_the_failure_log(
    fake: FakeBackend, runtime: Runtime
) -> None:
    traceback = "Traceback (most recent call last):\n  File x\nValueError: bad port 70000"
    apps = {"app": {"status": "DEPLOY_FAILED", "message": traceback}}
    fake.play(
        "RayService",
        "s1",
        both(
            status(pendingServiceStatus={"applicationStatuses": apps}),
            local(serveFailure="ValueError: bad port 70000", serveFailureLog="/h/serve.log"),
        ),
    )
    service = rayplane.RayService.from_dict(rayservice(), runtime).apply(wait=False)
    text = service.describe()
    assert "RayService default/s1: Failed (ValueError: bad port 70000)" in text
    assert "  pending app app: DEPLOY_FAILED - ValueError: bad port 70000" in text
    assert "Traceback" not in text
    assert "failure log: /h/serve.log (rayplane logs rayservice/s1)" in text
