"""`rayplane job submit`, `connect` and `run` against a runtime and a Jobs API in memory:
what lands on stdout and stderr, and the exit codes scripts rely on."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from rayplane.cli import connect_cmd, job_cmd
from rayplane.cli.main import app
from rayplane.sdk.backend import Applied, Obj
from rayplane.sdk.jobs import Jobs
from tests.sdk.doubles import FakeBackend, JobsAPI, cluster

RAYJOB = """\
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: interactive}
spec:
  submissionMode: %s
  runtimeEnvYAML: |
    env_vars: {GREETING: hello}
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers:
          - name: ray-head
            image: rayproject/ray:2.60.0
            resources: {limits: {cpu: "1", memory: 1Gi}}
"""


class Runtime(FakeBackend):
    """Objects by kind; an applied RayJob is Waiting at once on cluster "interactive-x"."""

    def __init__(self) -> None:
        super().__init__(None)
        self.objects: dict[str, Obj] = {}

    def apply(self, obj: Obj) -> Applied:
        self.applied.append(obj)
        if obj["kind"] == "RayJob":
            stored = {
                **obj,
                "status": {"jobDeploymentStatus": "Waiting", "rayClusterName": "interactive-x"},
            }
            self.objects["RayJob"] = stored
            self.objects["RayCluster"] = cluster("interactive-x")
        return Applied(obj, "created")

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get(kind)


@pytest.fixture
def api() -> JobsAPI:
    return JobsAPI()


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, api: JobsAPI) -> Runtime:
    backend = Runtime()
    backend.objects["RayCluster"] = cluster("demo")
    monkeypatch.setattr(job_cmd, "runtime_backend", lambda start=False: backend)
    monkeypatch.setattr(connect_cmd, "runtime_backend", lambda start=False: backend)
    monkeypatch.setattr(
        job_cmd, "Jobs", functools.partial(Jobs, transport=httpx.MockTransport(api), poll_s=0)
    )
    return backend


def submit(*args: str) -> Any:
    return CliRunner().invoke(app, ["job", "submit", *args])


def test_submit_to_a_cluster_streams_the_log_and_exits_0(runtime: Runtime, api: JobsAPI) -> None:
    result = submit("--cluster", "demo", "--", "python", "-c", "print('a b')")
    assert result.exit_code == 0, result.output
    assert result.stdout == "hello\n"  # the job's log and nothing else
    assert result.stderr.strip().splitlines()[-1] == "job raysubmit_1 succeeded"
    (job,) = api.jobs.values()
    assert job["body"]["entrypoint"] == "python -c 'print('\"'\"'a b'\"'\"')'"


def test_a_failing_job_exits_1_with_rays_reason_on_the_last_line(
    runtime: Runtime, api: JobsAPI
) -> None:
    api.script = [("RUNNING", "boom\n"), ("FAILED", "boom\n")]
    api.message = (
        "Job entrypoint command failed with exit code 3, last available logs "
        "(truncated to 20,000 chars):\nboom\n"
    )
    result = submit("--cluster", "demo", "--", "python bad.py")
    assert result.exit_code == 1
    assert result.stdout == "boom\n"
    assert result.stderr.strip().splitlines()[-1] == (
        "job raysubmit_1 FAILED: Job entrypoint command failed with exit code 3"
    )
    assert api.jobs["raysubmit_1"]["body"]["entrypoint"] == "python bad.py"  # one word: as is


def test_a_local_script_without_working_dir_is_named_before_it_fails(
    runtime: Runtime, api: JobsAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_script.py").write_text("print('hi')\n")
    monkeypatch.chdir(tmp_path)
    result = submit("--cluster", "demo", "--no-wait", "--", "python", "my_script.py")
    assert "note: my_script.py is in this directory" in result.stderr
    assert "--working-dir ." in result.stderr
    uploaded = submit("--cluster", "demo", "--no-wait", "--working-dir", ".", "--", "python x.py")
    assert "note:" not in uploaded.stderr


def test_no_wait_returns_once_submitted(runtime: Runtime, api: JobsAPI) -> None:
    result = submit("--cluster", "demo", "--no-wait", "--submission-id", "mine", "--", "true")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "job mine submitted to RayCluster default/demo" in result.stderr
    assert api.jobs["mine"]["step"] == -1  # never polled


def test_runtime_env_file_and_working_dir(runtime: Runtime, api: JobsAPI, tmp_path: Path) -> None:
    (tmp_path / "env.yaml").write_text("env_vars: {A: '1'}\nworking_dir: s3://overridden\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print(1)\n")
    result = submit(
        "--cluster",
        "demo",
        "--runtime-env",
        str(tmp_path / "env.yaml"),
        "--working-dir",
        str(tmp_path / "src"),
        "--",
        "python",
        "main.py",
    )
    assert result.exit_code == 0, result.output
    env = api.jobs["raysubmit_1"]["body"]["runtime_env"]
    assert env["env_vars"] == {"A": "1"}
    assert env["working_dir"].startswith("gcs://_ray_pkg_")


def test_with_an_interactive_rayjob_the_job_id_is_recorded(
    runtime: Runtime, api: JobsAPI, tmp_path: Path
) -> None:
    path = tmp_path / "rayjob.yaml"
    path.write_text(RAYJOB % "InteractiveMode")
    result = submit("-f", str(path), "--", "python", "main.py")
    assert result.exit_code == 0, result.output
    assert "rayjob.ray.io/interactive created" in result.stderr
    assert "submitted to RayCluster default/interactive-x" in result.stderr
    first, second = runtime.applied
    assert "jobId" not in first["spec"]
    assert second["spec"]["jobId"] == "raysubmit_1"  # the RayJob follows the job from here
    assert api.jobs["raysubmit_1"]["body"]["runtime_env"] == {"env_vars": {"GREETING": "hello"}}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--", "true"], "give either -f RAYJOB.yaml or --cluster NAME"),
        (["--cluster", "demo"], "give the entrypoint after --"),
        (["--cluster", "demo", "--working-dir", "/no/such/dir", "--", "true"], "not a directory"),
        (["--cluster", "demo", "--runtime-env-json", "[1]", "--", "true"], "is a mapping"),
        (["--cluster", "demo", "--runtime-env-json", "{", "--", "true"], "not valid YAML"),
    ],
)
def test_bad_input_exits_2_and_says_why(runtime: Runtime, args: list[str], says: str) -> None:
    result = submit(*args)
    assert result.exit_code == 2
    assert says in result.stderr


def test_a_rayjob_that_exists_is_not_given_a_second_job(
    runtime: Runtime, api: JobsAPI, tmp_path: Path
) -> None:
    path = tmp_path / "rayjob.yaml"
    path.write_text(RAYJOB % "InteractiveMode")
    runtime.objects["RayJob"] = {"status": {"jobDeploymentStatus": "Complete"}}
    result = submit("-f", str(path), "--", "true")
    assert result.exit_code == 1
    assert "RayJob default/interactive exists already (Complete)" in result.stderr
    assert runtime.applied == [] and api.jobs == {}


def test_a_rayjob_that_is_not_interactive_exits_2(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "rayjob.yaml"
    path.write_text(RAYJOB % "HTTPMode\n  entrypoint: python x.py")  # valid, not interactive
    result = submit("-f", str(path), "--", "true")
    assert result.exit_code == 2
    assert "spec.submissionMode is HTTPMode" in result.stderr
    assert "submissionMode: InteractiveMode" in result.stderr
    assert runtime.applied == []


def test_a_missing_cluster_exits_1(runtime: Runtime) -> None:
    runtime.objects.clear()
    result = submit("--cluster", "nope", "--", "true")
    assert result.exit_code == 1
    assert 'RayCluster "nope" not found in namespace default' in result.stderr


CHILD = "import os, sys; print(os.environ['RAY_ADDRESS'], os.environ['{switch}']); sys.exit(7)"


def test_run_gives_the_child_the_address_and_its_exit_code(
    runtime: Runtime, capfd: pytest.CaptureFixture[str]
) -> None:
    code = CHILD.format(switch="RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    result = CliRunner().invoke(app, ["run", "demo", "--", sys.executable, "-c", code])
    assert result.exit_code == 7
    assert result.stdout == ""  # only the child's output, which went straight to fd 1
    assert capfd.readouterr().out == "127.0.0.1:6379 0\n"


def test_connect_runs_python_with_the_address(
    runtime: Runtime, capfd: pytest.CaptureFixture[str]
) -> None:
    code = "import os; print(os.environ['RAY_ADDRESS'])"
    result = CliRunner().invoke(app, ["connect", "demo", "--", sys.executable, "-c", code])
    assert result.exit_code == 0
    assert capfd.readouterr().out == "127.0.0.1:6379\n"


def test_run_needs_a_command_and_a_ready_cluster(runtime: Runtime) -> None:
    assert CliRunner().invoke(app, ["run", "demo"]).exit_code == 2
    runtime.objects["RayCluster"]["status"] = {"state": "suspended"}
    result = CliRunner().invoke(app, ["run", "demo", "--", "true"])
    assert result.exit_code == 1
    assert "is not ready (status.state: suspended)" in result.stderr
