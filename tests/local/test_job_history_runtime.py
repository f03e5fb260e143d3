"""The local runtime keeps a RayJob attempt before deleting its cluster and drops it with
the RayJob: the driver log from the head's session logs, the final status and events,
the node logs once the nodes have stopped."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rayplane.api.rayjob import RayJob
from rayplane.local.controller import Controller
from rayplane.local.history import finish_cluster
from rayplane.local.store import StoredNode, StoredResource
from rayplane.reconcile.job import DeleteCluster

JOB: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayJob",
    "metadata": {"name": "job", "namespace": "default"},
    "spec": {"entrypoint": "python -c 'print(1)'", "shutdownAfterJobFinishes": True},
}
FINISHED = {
    "jobId": "job-x1",
    "jobStatus": "SUCCEEDED",
    "jobDeploymentStatus": "Complete",
    "rayClusterName": "job-c1",
    "dashboardURL": "127.0.0.1:9",  # nothing answers: the session log must be used
}


def _job_with_cluster(controller: Controller, tmp_path: Path) -> tuple[StoredResource, str]:
    store = controller.store
    job = store.put("RayJob", "default", "job", JOB)
    store.set_status(job.uid, FINISHED)
    body = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"ownerReferences": [{"kind": "RayJob", "name": "job", "uid": job.uid}]},
    }
    cluster = store.put("RayCluster", "default", "job-c1", body)
    temp = tmp_path / "node"
    for session, text in (("2026-01-01_00-00-00_1", "an old session\n"), ("2026-01-02", "")):
        logs = temp / f"session_{session}" / "logs"
        logs.mkdir(parents=True)
        (logs / "job-driver-job-x1.log").write_text(text or "the marker\n")
        if text:  # the old session's log was last written a day earlier
            os.utime(logs / "job-driver-job-x1.log", (1e9, 1e9))
    (temp / "session_latest").symlink_to(temp / "session_2026-01-02")  # as Ray links it
    store.add_node(
        StoredNode(
            name="job-c1-head-aaaaa",
            cluster_uid=cluster.uid,
            group="headgroup",
            kind="head",
            pid=None,
            create_time=None,
            ports={},
            temp_dir=str(temp),
            log_path=str(tmp_path / "head.log"),
            created=0.0,
        )
    )
    store.event(job.uid, "RayJob", "Deleting RayCluster default/job-c1")
    found = store.get("RayJob", "default", "job")
    assert found is not None
    return found, cluster.uid


def test_deleting_the_job_cluster_keeps_the_driver_log_first(
    controller: Controller, tmp_path: Path
) -> None:
    job, _ = _job_with_cluster(controller, tmp_path)
    model = RayJob.model_validate(job.document())
    controller.jobs._act(job, model, DeleteCluster("job-c1"), {}, FINISHED)

    cluster = controller.store.get("RayCluster", "default", "job-c1")
    assert cluster is not None and cluster.deleting is not None
    attempt = controller.jobs.history.attempts("default", "job")[0]
    assert (attempt.dir / "driver.log").read_text() == "the marker\n"
    assert json.loads((attempt.dir / "status.json").read_text())["jobStatus"] == "SUCCEEDED"
    events = json.loads((attempt.dir / "events.json").read_text())
    assert any("Deleting RayCluster" in e["message"] for e in events["rayJob"])
    code, detail = controller.handle("GET", "/resources/RayJob/default/job", {}, None)
    assert code == 200 and detail["local"]["history"][0]["cluster"] == "job-c1"


def test_node_logs_are_kept_when_the_nodes_are_gone_without_a_retrys_status(
    controller: Controller, tmp_path: Path
) -> None:
    job, _ = _job_with_cluster(controller, tmp_path)
    controller.jobs._act(
        job, RayJob.model_validate(job.document()), DeleteCluster("job-c1"), {}, FINISHED
    )
    # A retry has moved the RayJob on to its next cluster before this one is gone.
    controller.store.set_status(job.uid, {"jobDeploymentStatus": "New"})
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "job-c1-head-aaaaa.log").write_text("Ray runtime started.\n")
    cluster = controller.store.get("RayCluster", "default", "job-c1")
    assert cluster is not None
    finish_cluster(controller.jobs.history, controller.store, cluster, logs)

    attempt = controller.jobs.history.for_cluster("default", "job-c1")
    assert attempt is not None and attempt.manifest["clusterDeletedAt"]
    assert (attempt.dir / "nodes" / "job-c1-head-aaaaa.log").read_text() == "Ray runtime started.\n"
    assert json.loads((attempt.dir / "status.json").read_text())["jobStatus"] == "SUCCEEDED"


def test_the_history_goes_with_the_rayjob(controller: Controller, tmp_path: Path) -> None:
    job, cluster_uid = _job_with_cluster(controller, tmp_path)
    controller.jobs._act(
        job, RayJob.model_validate(job.document()), DeleteCluster("job-c1"), {}, FINISHED
    )
    controller.store.remove(cluster_uid)
    submitter = controller.settings.home / "logs" / "default" / "job" / "submitter.log"
    submitter.parent.mkdir(parents=True)
    submitter.write_text("submitted\n")
    controller.store.set_runtime_state(job.uid, {"submitter_log": str(submitter)})
    marked = controller.store.mark_deleting("RayJob", "default", "job")
    assert marked is not None
    controller.jobs.reconcile(marked)

    assert controller.store.get("RayJob", "default", "job") is None
    assert not (controller.settings.home / "history" / "default" / "job").exists()
    assert not submitter.parent.exists()
