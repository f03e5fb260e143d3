"""RAYPLANE_FEATURE_GATES reach the local RayJob reconciler, not only validation."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayplane.local.controller import Controller
from rayplane.settings import load
from tests.support import short_temp_root

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rayjob-data-pipeline.yaml"
PATH = "/resources/RayJob/default/log-pipeline"


def _submitter(ctl: Controller) -> dict[str, Any] | None:
    for cluster in ctl.store.resources("RayCluster"):
        head = cluster.document()["spec"]["headGroupSpec"]["template"]["spec"]
        found = [c for c in head["containers"] if c["name"] == "ray-job-submitter"]
        if found:
            return dict(found[0])
    return None


def test_a_gate_from_the_environment_changes_what_the_rayjob_reconciler_creates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYPLANE_HOME", str(tmp_path / "home"))
    temp = short_temp_root()
    monkeypatch.setenv("RAYPLANE_TEMP_ROOT", str(temp))
    monkeypatch.setenv("RAYPLANE_FEATURE_GATES", "SidecarSubmitterRestart=true")
    # As `rayplane controller run` builds it: the settings root, read from the environment.
    settings = load()
    ctl = Controller(settings.local, settings.gates)
    try:
        job = yaml.safe_load(EXAMPLE.read_text())
        job["spec"]["submissionMode"] = "SidecarMode"
        code, body = ctl.handle("PUT", PATH, {}, job)
        assert code == 200, body
        # Only the RayJob's passes run: the cluster it creates is read, never started.
        for _ in range(5):
            stored = ctl.store.get("RayJob", "default", "log-pipeline")
            assert stored is not None
            ctl.jobs.reconcile(stored)
            submitter = _submitter(ctl)
            if submitter is not None:
                break
        assert submitter is not None, "the RayJob created no cluster with a submitter"
        # The gated behaviour: the sidecar submitter restarts by itself on failure.
        assert submitter.get("restartPolicy") == "OnFailure"
    finally:
        ctl.clusters.close()
        ctl.services.close()
        ctl.store.close()
        shutil.rmtree(temp, ignore_errors=True)
