"""The Ray job REST client against an in-memory dashboard (httpx.MockTransport)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from rayplane.api.rayjob import RayJob
from rayplane.clients.auth import AUTH_HEADER
from rayplane.clients.jobs_api import (
    JobInfo,
    JobsClient,
    JobsClientError,
    Submission,
    dashboard_base_url,
)
from rayplane.reconcile.job import ObservedJob, ObservedJobCluster, reconcile_job

JOB = {
    "type": "SUBMISSION",
    "job_id": "02000000",
    "submission_id": "demo-abcde",
    "status": "RUNNING",
    "message": "Job is currently running.",
    "error_type": None,
    "start_time": 1740830400000,
    "end_time": None,
    "metadata": {"owner": "me"},
    "runtime_env": {"pip": ["requests"]},
    "entrypoint": "python main.py",
    "driver_exit_code": None,
}


class Dashboard:
    """A fake dashboard: jobs by submission id, packages by name, every request recorded."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, bytes] = {}
        self.requests: list[httpx.Request] = []
        self.post_status: int | None = None
        self.post_text = ""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if path.startswith("/api/packages/gcs/"):
            name = path.rsplit("/", 1)[1]
            if method == "GET":
                return httpx.Response(200 if name in self.packages else 404, text="")
            self.packages[name] = request.content
            return httpx.Response(200)
        if path == "/api/jobs/" and method == "GET":
            return httpx.Response(200, json=list(self.jobs.values()))
        if path == "/api/jobs/" and method == "POST":
            if self.post_status is not None:
                return httpx.Response(self.post_status, text=self.post_text)
            body = json.loads(request.content)
            sid = body.get("submission_id") or "raysubmit_x"
            self.jobs[sid] = {**JOB, "submission_id": sid, "status": "PENDING", "body": body}
            return httpx.Response(200, json={"job_id": sid, "submission_id": sid})
        parts = path.removeprefix("/api/jobs/").split("/")
        job = self.jobs.get(parts[0])
        if job is None:
            return httpx.Response(404, text=f"Job {parts[0]} does not exist")
        if len(parts) == 1 and method == "GET":
            return httpx.Response(200, json=job)
        if len(parts) == 1 and method == "DELETE":
            del self.jobs[parts[0]]
            return httpx.Response(200, json={"deleted": True})
        if parts[1:] == ["logs"]:
            return httpx.Response(200, json={"logs": "hello\n"})
        if parts[1:] == ["stop"]:
            stopped = job["status"] in ("PENDING", "RUNNING")
            job["status"] = "STOPPED"
            return httpx.Response(200, json={"stopped": stopped})
        return httpx.Response(405)

    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


@pytest.fixture
def dashboard() -> Dashboard:
    return Dashboard()


@pytest.fixture
def client(dashboard: Dashboard) -> JobsClient:
    return JobsClient(
        "head-svc.default.svc.cluster.local:8265", transport=httpx.MockTransport(dashboard)
    )


def test_get_parses_ray_job_details(dashboard: Dashboard, client: JobsClient) -> None:
    dashboard.jobs["demo-abcde"] = JOB
    info = client.get("demo-abcde")
    assert info is not None
    assert (info.status, info.message, info.submission_id) == (
        "RUNNING",
        "Job is currently running.",
        "demo-abcde",
    )
    assert (info.start_time, info.end_time) == (1740830400000, None)
    assert info.metadata == {"owner": "me"}
    assert info.raw["type"] == "SUBMISSION"
    assert str(dashboard.requests[0].url) == (
        "http://head-svc.default.svc.cluster.local:8265/api/jobs/demo-abcde"
    )


def test_get_unknown_job_is_none(client: JobsClient) -> None:
    assert client.get("nope") is None


def test_errors_carry_status_and_body() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="dashboard starting")

    client = JobsClient("h:1", transport=httpx.MockTransport(broken))
    with pytest.raises(JobsClientError) as err:
        client.get("x")
    assert err.value.status == 503
    assert err.value.body == "dashboard starting"
    assert "HTTP 503" in str(err.value)


def test_unreachable_dashboard_has_no_status() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(JobsClientError) as err:
        JobsClient("h:1", transport=httpx.MockTransport(refuse)).get("x")
    assert err.value.status is None
    assert "ConnectError" in str(err.value)


def test_auth_rejection_hints_at_the_token() -> None:
    def deny(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text="Unauthorized")

    with pytest.raises(JobsClientError, match="auth token") as err:
        JobsClient("h:1", transport=httpx.MockTransport(deny)).list()
    assert err.value.status == 401


def test_token_is_sent_as_ray_auth_header(dashboard: Dashboard) -> None:
    client = JobsClient("h:1", token="s3cret", transport=httpx.MockTransport(dashboard))
    client.list()
    assert dashboard.requests[0].headers[AUTH_HEADER] == "Bearer s3cret"
    plain = JobsClient("h:1", transport=httpx.MockTransport(dashboard))
    plain.list()
    assert AUTH_HEADER not in dashboard.requests[1].headers


def test_submit_gets_before_it_posts(dashboard: Dashboard, client: JobsClient) -> None:
    result = client.submit(
        "python main.py",
        submission_id="demo-abcde",
        runtime_env={"pip": ["requests"]},
        metadata={"owner": "me"},
        entrypoint_num_cpus=1.0,
        entrypoint_resources={"Custom": 2.0},
    )
    assert result == Submission("demo-abcde", True)
    assert dashboard.calls() == ["GET /api/jobs/demo-abcde", "POST /api/jobs/"]
    assert json.loads(dashboard.requests[1].content) == {
        "entrypoint": "python main.py",
        "submission_id": "demo-abcde",
        "runtime_env": {"pip": ["requests"]},
        "metadata": {"owner": "me"},
        "entrypoint_num_cpus": 1.0,
        "entrypoint_resources": {"Custom": 2.0},
    }


def test_a_reconcilers_submit_action_is_sent_with_every_field(
    dashboard: Dashboard, client: JobsClient
) -> None:
    from rayplane.reconcile.job import SubmitJob

    action = SubmitJob(
        job_id="demo-abcde",
        dashboard_url="unused",
        entrypoint="python main.py",
        runtime_env={"pip": ["requests"]},
        metadata={"owner": "me"},
        entrypoint_num_cpus=1.0,
        entrypoint_num_gpus=0.5,
        entrypoint_resources={"Custom": 2.0},
    )
    assert client.submit_request(action) == Submission("demo-abcde", True)
    assert json.loads(dashboard.requests[1].content) == {
        "entrypoint": "python main.py",
        "submission_id": "demo-abcde",
        "runtime_env": {"pip": ["requests"]},
        "metadata": {"owner": "me"},
        "entrypoint_num_cpus": 1.0,
        "entrypoint_num_gpus": 0.5,
        "entrypoint_resources": {"Custom": 2.0},
    }


def test_submit_never_submits_twice(dashboard: Dashboard, client: JobsClient) -> None:
    client.submit("python main.py", submission_id="demo-abcde")
    again = client.submit("python main.py", submission_id="demo-abcde")
    assert again == Submission("demo-abcde", False)
    assert dashboard.calls().count("POST /api/jobs/") == 1


def test_duplicate_post_is_success(dashboard: Dashboard, client: JobsClient) -> None:
    """Another submitter won the race between our GET and POST."""
    dashboard.post_status = 500
    dashboard.post_text = (
        "Traceback ... ValueError: Job with submission_id demo-abcde already exists. "
        "Please use a different submission_id."
    )
    assert client.submit("x", submission_id="demo-abcde") == Submission("demo-abcde", False)


def test_other_post_failures_raise(dashboard: Dashboard, client: JobsClient) -> None:
    dashboard.post_status = 400
    dashboard.post_text = "entrypoint must be a string"
    with pytest.raises(JobsClientError) as err:
        client.submit("x", submission_id="demo-abcde")
    assert (err.value.status, err.value.body) == (400, "entrypoint must be a string")


def test_submit_without_id_posts_once(dashboard: Dashboard, client: JobsClient) -> None:
    assert client.submit("python main.py") == Submission("raysubmit_x", True)
    assert dashboard.calls() == ["POST /api/jobs/"]


def test_logs_stop_delete_list(dashboard: Dashboard, client: JobsClient) -> None:
    dashboard.jobs["demo-abcde"] = dict(JOB)
    assert client.logs("demo-abcde") == "hello\n"
    assert [j.submission_id for j in client.list()] == ["demo-abcde"]
    assert client.stop("demo-abcde") is True
    assert client.stop("demo-abcde") is False
    assert client.delete("demo-abcde") is True
    assert client.delete("demo-abcde") is False
    assert client.stop("demo-abcde") is False
    with pytest.raises(JobsClientError) as err:
        client.logs("demo-abcde")
    assert err.value.status == 404


def test_list_includes_driver_jobs() -> None:
    jobs = [JOB, {"type": "DRIVER", "job_id": "01000000", "status": "SUCCEEDED"}]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=jobs)

    listed = JobsClient("h:1", transport=httpx.MockTransport(answer)).list()
    assert [(j.type, j.submission_id) for j in listed] == [
        ("SUBMISSION", "demo-abcde"),
        ("DRIVER", None),
    ]


def test_addresses_and_timeouts(dashboard: Dashboard) -> None:
    assert dashboard_base_url("h:8265") == "http://h:8265"
    assert dashboard_base_url("https://h:8265/") == "https://h:8265"
    client = JobsClient(
        "h:1", timeout=2.0, upload_timeout=60.0, transport=httpx.MockTransport(dashboard)
    )
    client.get("x")
    client.upload_package("gcs://_ray_pkg_abc.zip", b"zip")
    get_timeout, put_timeout = (r.extensions["timeout"] for r in dashboard.requests)
    assert get_timeout["read"] == 2.0
    assert put_timeout["read"] == 60.0


def test_invalid_job_id_is_rejected_before_any_request(client: JobsClient) -> None:
    with pytest.raises(JobsClientError):
        client.get("a/b")


def test_job_info_feeds_the_reconciler(dashboard: Dashboard, client: JobsClient) -> None:
    dashboard.jobs["demo-abcde"] = {**JOB, "status": "SUCCEEDED", "end_time": 1740830405000}
    info = client.get("demo-abcde")
    assert info is not None
    job = RayJob.model_validate(
        {
            "metadata": {"name": "demo"},
            "spec": {"entrypoint": "x", "submissionMode": "HTTPMode", "rayClusterSpec": {}},
            "status": {
                "jobId": "demo-abcde",
                "rayClusterName": "demo-fghij",
                "dashboardURL": "h:1",
                "jobDeploymentStatus": "Running",
            },
        }
    )
    now = datetime(2025, 3, 1, 12, 1, tzinfo=UTC)
    plan = reconcile_job(job, ObservedJob(ObservedJobCluster("demo-fghij"), ray_job=info), now)
    assert plan.status.job_deployment_status == "Complete"
    assert plan.status.ray_job_info is not None
    assert plan.status.ray_job_info.end_time == "2025-03-01T12:00:05Z"


# -- working_dir upload -----------------------------------------------------------------------


def project(root: Path) -> Path:
    src = root / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "main.py").write_text("print('hi')\n")
    (src / "pkg" / "util.py").write_text("X = 1\n")
    return src


def zip_names(data: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return set(archive.namelist())


def ray_uri(path: Path) -> str:
    from ray._private import ray_constants
    from ray._private.runtime_env.packaging import get_uri_for_directory

    excludes = ray_constants.get_runtime_env_default_excludes()
    return str(get_uri_for_directory(str(path), include_gitignore=True, excludes=excludes))


def test_local_working_dir_is_uploaded_and_rewritten(
    tmp_path: Path, dashboard: Dashboard, client: JobsClient
) -> None:
    src = project(tmp_path)
    client.submit(
        "python main.py",
        submission_id="demo-abcde",
        runtime_env={"working_dir": "proj", "env_vars": {"A": "1"}},
        base_dir=tmp_path,
    )
    uri = ray_uri(src)
    name = uri.removeprefix("gcs://")
    assert uri.startswith("gcs://_ray_pkg_") and uri.endswith(".zip")
    assert dashboard.calls() == [
        "GET /api/jobs/demo-abcde",
        f"GET /api/packages/gcs/{name}",
        f"PUT /api/packages/gcs/{name}",
        "POST /api/jobs/",
    ]
    assert zip_names(dashboard.packages[name]) >= {"main.py", "pkg/util.py"}
    body = json.loads(dashboard.requests[-1].content)
    assert body["runtime_env"] == {"working_dir": uri, "env_vars": {"A": "1"}}


def test_existing_package_is_not_uploaded_again(
    tmp_path: Path, dashboard: Dashboard, client: JobsClient
) -> None:
    src = project(tmp_path)
    name = ray_uri(src).removeprefix("gcs://")
    dashboard.packages[name] = b"already there"
    env = client.prepare_runtime_env({"working_dir": str(src)})
    assert env["working_dir"] == f"gcs://{name}"
    assert [c.split()[0] for c in dashboard.calls()] == ["GET"]


def test_py_modules_keep_their_directory_name(
    tmp_path: Path, dashboard: Dashboard, client: JobsClient
) -> None:
    src = project(tmp_path)
    env = client.prepare_runtime_env({"py_modules": ["proj/pkg"]}, base_dir=tmp_path)
    [uri] = env["py_modules"]
    assert zip_names(dashboard.packages[uri.removeprefix("gcs://")]) >= {"pkg/util.py"}
    assert (src / "pkg").is_dir()


def test_remote_working_dir_passes_through(dashboard: Dashboard, client: JobsClient) -> None:
    remote = "https://github.com/ray-project/serve_config_examples/archive/master.zip"
    env = client.prepare_runtime_env({"working_dir": remote, "pip": ["x"]})
    assert env == {"working_dir": remote, "pip": ["x"]}
    assert dashboard.requests == []


def test_runtime_env_without_paths_makes_no_requests(client: JobsClient) -> None:
    original = {"env_vars": {"A": "1"}}
    env = client.prepare_runtime_env(original)
    assert env == original and env is not original


def test_missing_working_dir_is_a_client_error(tmp_path: Path, client: JobsClient) -> None:
    with pytest.raises(JobsClientError, match="must be an existing directory"):
        client.prepare_runtime_env({"working_dir": "missing"}, base_dir=tmp_path)


def test_failed_upload_raises(tmp_path: Path) -> None:
    project(tmp_path)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(500, text="GCS full")
        return httpx.Response(404)

    client = JobsClient("h:1", transport=httpx.MockTransport(handler))
    with pytest.raises(JobsClientError) as err:
        client.prepare_runtime_env({"working_dir": "proj"}, base_dir=tmp_path)
    assert err.value.status == 500 and err.value.body == "GCS full"


def test_job_info_from_sparse_json() -> None:
    info = JobInfo.from_json({"status": "PENDING"})
    assert (info.status, info.message, info.start_time, info.metadata) == ("PENDING", "", None, {})


def test_client_is_a_context_manager(dashboard: Dashboard) -> None:
    closed: list[bool] = []
    transport = httpx.MockTransport(dashboard)
    original: Callable[[], None] = transport.close

    def close() -> None:
        closed.append(True)
        original()

    transport.close = close  # type: ignore[method-assign]
    with JobsClient("h:1", transport=transport) as client:
        client.list()
    assert closed == [True]


def test_version_and_optional_submit_fields(dashboard: Dashboard) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/version":
            return httpx.Response(200, json={"version": "4", "ray_version": "2.60.0"})
        return dashboard(request)

    client = JobsClient("h:1", transport=httpx.MockTransport(answer))
    assert client.version()["ray_version"] == "2.60.0"
    client.submit("x", submission_id="s", entrypoint_num_gpus=0.5, entrypoint_memory=1024)
    body = json.loads(dashboard.requests[-1].content)
    assert (body["entrypoint_num_gpus"], body["entrypoint_memory"]) == (0.5, 1024)


@pytest.mark.parametrize(
    ("path", "payload"), [("/api/jobs/", "{}"), ("/api/jobs/x", "[]"), ("/api/jobs/x", "<html>")]
)
def test_unexpected_answers_are_client_errors(path: str, payload: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=payload)

    client = JobsClient("h:1", transport=httpx.MockTransport(answer))
    with pytest.raises(JobsClientError):
        client.list() if path == "/api/jobs/" else client.get("x")


def test_archive_working_dir_is_uploaded_as_is(
    tmp_path: Path, dashboard: Dashboard, client: JobsClient
) -> None:
    archive = tmp_path / "code.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("code/main.py", "print(1)\n")
    env = client.prepare_runtime_env({"working_dir": "code.zip"}, base_dir=tmp_path)
    name = env["working_dir"].removeprefix("gcs://")
    assert dashboard.packages[name] == archive.read_bytes()


def test_single_file_py_module_is_uploaded(
    tmp_path: Path, dashboard: Dashboard, client: JobsClient
) -> None:
    (tmp_path / "helper.py").write_text("Y = 2\n")
    env = client.prepare_runtime_env({"py_modules": ["helper.py"]}, base_dir=tmp_path)
    [uri] = env["py_modules"]
    assert zip_names(dashboard.packages[uri.removeprefix("gcs://")]) == {"helper.py"}


def test_bad_package_uri(client: JobsClient) -> None:
    with pytest.raises(JobsClientError, match="not a package URI"):
        client.package_exists("no-scheme.zip")
