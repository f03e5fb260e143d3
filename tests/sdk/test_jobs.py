"""`cluster.jobs`: submit, status, wait, logs and stop over the Jobs API, as a notebook
user sees them (Ray's job API is in memory; see doubles.JobsAPI)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest

from rayplane.sdk.errors import WaitError
from rayplane.sdk.jobs import JobError, Jobs
from tests.sdk.doubles import FakeBackend, JobsAPI, cluster


def jobs_on(api: JobsAPI, backend: FakeBackend, **kw: float) -> Jobs:
    return Jobs(
        backend,
        lambda: backend.obj,
        transport=httpx.MockTransport(api),
        poll_s=0,
        **kw,
    )


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(cluster())


def test_submit_uploads_the_working_dir_and_runs_the_entrypoint(
    backend: FakeBackend, tmp_path: Path
) -> None:
    (tmp_path / "main.py").write_text("print('hi')\n")
    api = JobsAPI()
    handle = jobs_on(api, backend).submit(
        "python main.py",
        working_dir=tmp_path,
        runtime_env={"working_dir": "s3://ignored/by/the/argument", "env_vars": {"A": "1"}},
        metadata={"owner": "me"},
    )
    assert handle.id == "raysubmit_1"
    body = api.jobs[handle.id]["body"]
    assert body["entrypoint"] == "python main.py"
    assert body["metadata"] == {"owner": "me"}
    assert body["runtime_env"]["env_vars"] == {"A": "1"}
    uri = body["runtime_env"]["working_dir"]
    assert uri.startswith("gcs://_ray_pkg_") and uri.endswith(".zip")
    package = api.packages[uri.removeprefix("gcs://")]
    assert "main.py" in zipfile.ZipFile(io.BytesIO(package)).namelist()
    assert backend.reached == ["dashboard"] and backend.open == 0


def test_follow_yields_new_log_text_until_the_job_is_terminal(backend: FakeBackend) -> None:
    api = JobsAPI(
        [
            ("PENDING", ""),
            ("RUNNING", "step 1\n"),
            ("RUNNING", "step 1\n"),
            ("RUNNING", "step 1\nstep 2\n"),
            ("SUCCEEDED", "step 1\nstep 2\ndone\n"),
        ]
    )
    handle = jobs_on(api, backend).submit("python train.py", submission_id="train-1")
    chunks = list(handle.logs(follow=True))
    assert chunks == ["step 1\n", "step 2\n", "done\n"]
    assert handle.status == "SUCCEEDED"
    assert handle.logs() == "step 1\nstep 2\ndone\n"
    assert backend.open == 0  # the dashboard session (a port-forward on Kubernetes) is closed


def test_wait_returns_a_failed_status_as_an_answer(backend: FakeBackend) -> None:
    api = JobsAPI([("RUNNING", ""), ("FAILED", "Traceback\n")], message="exit code 3")
    handle = jobs_on(api, backend).submit("python bad.py")
    assert handle.wait(timeout=60) == "FAILED"
    assert handle.info.message == "exit code 3"


def test_wait_timeout_leaves_the_job_running(backend: FakeBackend) -> None:
    api = JobsAPI([("RUNNING", "")])
    handle = jobs_on(api, backend).submit("sleep 1000")
    with pytest.raises(WaitError) as caught:
        handle.wait(timeout=0)
    assert caught.value.timed_out
    assert "still RUNNING" in str(caught.value)
    assert not any(c.endswith("/stop") for c in api.calls())


def test_wait_ends_when_the_cluster_is_deleted(backend: FakeBackend) -> None:
    api = JobsAPI([("RUNNING", "")])
    jobs = jobs_on(api, backend)
    handle = jobs.submit("sleep 1000")
    api.down, backend.obj = True, None
    with pytest.raises(WaitError) as caught:
        handle.wait()
    assert not caught.value.timed_out
    assert "RayCluster default/demo was deleted" in str(caught.value)


def test_wait_ends_when_the_dashboard_stops_answering(backend: FakeBackend) -> None:
    api = JobsAPI([("RUNNING", "")])
    handle = jobs_on(api, backend, unreachable_s=0).submit("sleep 1000")
    api.down = True
    with pytest.raises(WaitError) as caught:
        handle.wait()
    assert "has not answered" in caught.value.reason
    assert "ConnectError" in str(caught.value)
    assert backend.open == 0


def test_a_dropped_dashboard_session_is_reopened(backend: FakeBackend) -> None:
    api = JobsAPI([("RUNNING", "a\n"), ("RUNNING", "a\n"), ("SUCCEEDED", "a\nb\n")])
    handle = jobs_on(api, backend, unreachable_s=60).submit("python x.py")
    sent = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        if sent == 3:  # a read in the first poll: a port-forward that dropped
            raise httpx.ConnectError("reset", request=request)
        return api(request)

    handle._jobs._transport = httpx.MockTransport(flaky)
    assert list(handle.logs(follow=True)) == ["a\n", "b\n"]
    assert backend.reached.count("dashboard") >= 3  # submit, first session, reopened one


def test_get_list_and_stop(backend: FakeBackend) -> None:
    api = JobsAPI([("RUNNING", "")])
    jobs = jobs_on(api, backend)
    first, second = jobs.submit("a", submission_id="one"), jobs.submit("b", submission_id="two")
    assert [h.id for h in jobs.list()] == ["one", "two"]
    assert jobs.get("two").id == second.id
    assert first.stop() is True
    assert first.status == "STOPPED"
    with pytest.raises(JobError, match="no job 'nope' on RayCluster default/demo"):
        jobs.get("nope")


def test_a_cluster_that_is_gone_is_named(backend: FakeBackend) -> None:
    jobs = jobs_on(JobsAPI(), backend)
    backend.obj = None
    with pytest.raises(JobError, match="does not exist"):
        jobs.submit("python x.py")


def test_submit_refused_by_ray_says_why(backend: FakeBackend) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="Failed to validate runtime_env: bad pip spec")

    jobs = Jobs(backend, lambda: backend.obj, transport=httpx.MockTransport(refuse))
    with pytest.raises(JobError) as caught:
        jobs.submit("python x.py", runtime_env={"pip": 3})
    assert "bad pip spec" in str(caught.value) and "RayCluster default/demo" in str(caught.value)
