"""A RayJob's driver logs from Python: what there is so far, or followed to the end."""

from __future__ import annotations

from typing import Any

import pytest

import rayplane
from rayplane.sdk import rayjob as rayjob_module
from rayplane.sdk.runtime import Runtime
from tests.sdk.conftest import raycluster, rayjob
from tests.sdk.fake import FakeBackend, status


class Dashboard:
    """The Jobs API of the job's cluster: each read of the logs shows one line more, and
    all of them once the job has ended."""

    lines = ["start\n", "working\n", "done\n"]
    reads = 0
    addresses: list[str] = []
    fake: FakeBackend

    def __init__(self, address: str, token: str | None = None) -> None:
        Dashboard.addresses.append(address)

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def logs(self, job_id: str) -> str:
        assert job_id == "rayjob-j1-abc"
        Dashboard.reads += 1
        job = self.fake.objects[("RayJob", "default", "j1")]
        ended = job["status"]["jobDeploymentStatus"] == "Complete"
        return "".join(self.lines if ended else self.lines[: Dashboard.reads])


@pytest.fixture
def job(fake: FakeBackend, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> rayplane.RayJob:
    monkeypatch.setattr(rayjob_module, "JobsClient", Dashboard)
    monkeypatch.setattr(rayjob_module, "LOG_POLL_S", 0)
    Dashboard.reads, Dashboard.addresses, Dashboard.fake = 0, [], fake
    cluster = raycluster("j1-raycluster")
    fake.apply(cluster)
    fake.objects[("RayCluster", "default", "j1-raycluster")]["status"] = {
        "state": "ready",
        "endpoints": {"dashboard": "8265"},
    }
    handle = rayplane.RayJob.from_dict(rayjob(), runtime).apply(wait=False)
    running = {"rayClusterName": "j1-raycluster", "jobId": "rayjob-j1-abc"}
    fake.play(
        "RayJob",
        "j1",
        status(jobDeploymentStatus="Running", jobStatus="RUNNING", **running),
        status(jobDeploymentStatus="Running", jobStatus="RUNNING", **running),
        status(jobDeploymentStatus="Complete", jobStatus="SUCCEEDED", **running),
    )
    return handle


def test_logs_are_what_the_driver_printed_so_far(job: rayplane.RayJob) -> None:
    assert job.logs() == "start\n"
    assert Dashboard.addresses == ["127.0.0.1:8265"]  # reached through the backend


def test_following_logs_yields_new_text_until_the_job_ends(job: rayplane.RayJob) -> None:
    chunks = list(job.logs(follow=True))
    assert chunks[0] == "start\n" and len(chunks) > 1  # text came as it was written
    assert "".join(chunks) == "start\nworking\ndone\n"  # all of it, once
    assert job.job_status == "SUCCEEDED"
