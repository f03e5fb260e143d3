"""RayCronJob on the local runtime, end to end, with real Ray: the RayJobs of a
``*/1 * * * *`` schedule run to completion, and ``suspend: true`` stops new ones.

KubeRay's own samples (tests/api/samples) mount their code from a ConfigMap volume (which
local nodes now get through bubblewrap, see tests/e2e/test_local_volumes.py) and pin pip
packages that take minutes to build; so this test runs an inline entrypoint on a head-only
cluster instead. The samples' schema and
rules are checked in tests/api/test_raycronjob.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import Local
from tests.support import wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

NAME = "every-minute"


def cron_yaml(suspend: bool) -> str:
    return f"""
apiVersion: ray.io/v1
kind: RayCronJob
metadata: {{name: {NAME}}}
spec:
  schedule: "*/1 * * * *"
  timeZone: UTC
  suspend: {str(suspend).lower()}
  jobTemplate:
    entrypoint: python -c "import ray; ray.init(); print('tick', ray.cluster_resources()['CPU'])"
    submissionMode: HTTPMode
    shutdownAfterJobFinishes: true
    rayClusterSpec:
      headGroupSpec:
        rayStartParams: {{}}
        template:
          spec:
            containers:
            - name: ray-head
              image: rayproject/ray:2.60.0
              resources: {{limits: {{cpu: "1", memory: 1Gi}}}}
"""


def children(local: Local) -> list[dict[str, Any]]:
    """The RayJobs the RayCronJob made: KubeRay's label, owned by it."""
    listed = json.loads(local.run("get", "rayjobs", "-o", "json").stdout or "{}")
    items = listed.get("items", [listed] if listed.get("metadata") else [])
    return sorted(
        (
            j
            for j in items
            if (j["metadata"].get("labels") or {}).get("ray.io/cronjob-name") == NAME
        ),
        key=lambda j: j["metadata"]["name"],
    )


def completed(local: Local) -> list[dict[str, Any]]:
    return [
        j
        for j in children(local)
        if (j.get("status") or {}).get("jobDeploymentStatus") in ("Complete", "Failed")
    ]


def described(local: Local) -> str:
    return local.run("describe", "raycronjob", NAME).stdout


def test_scheduled_rayjobs_complete_and_suspend_stops_new_ones(local: Local) -> None:
    applied = local.run("apply", "-f", "-", input=cron_yaml(suspend=False))
    assert f"raycronjob.ray.io/{NAME} created" in applied.stdout
    try:
        # Two ticks, each a RayJob that creates its cluster, runs the entrypoint and ends.
        done = wait_for(
            lambda: len(completed(local)) >= 2 and completed(local),
            400,
            "two scheduled RayJobs to finish",
        )
        for job in done[:2]:
            status = job["status"]
            assert (status["jobDeploymentStatus"], status["jobStatus"]) == (
                "Complete",
                "SUCCEEDED",
            ), status
            owner = job["metadata"]["ownerReferences"][0]
            assert (owner["kind"], owner["name"]) == ("RayCronJob", NAME)
        ticks = sorted(
            j["metadata"]["annotations"]["ray.io/cronjob-scheduled-timestamp"] for j in done[:2]
        )
        assert all(t.endswith(":00Z") for t in ticks)  # on the minute, as */1 says

        cron = local.get(NAME, "raycronjob")
        assert cron["status"]["lastScheduleTime"].endswith(":00Z")
        table = local.run("get", "raycronjobs").stdout
        assert table.split("\n")[0].split() == [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "LAST",
            "SCHEDULE",
            "AGE",
            "SUSPEND",
        ]
        assert NAME in table and "*/1 * * * *" in table

        # Suspend: once the controller has seen it, the next minute passes with no new RayJob.
        local.run("apply", "-f", "-", input=cron_yaml(suspend=True))
        wait_for(
            lambda: "SuspendedRayCronJob" in described(local),
            60,
            "the controller to see the suspension",
        )
        before = {j["metadata"]["name"] for j in children(local)}
        seen_at = datetime.now(UTC)
        wait_for(
            lambda: (datetime.now(UTC) - seen_at).total_seconds() > 65,
            90,
            "a schedule tick to pass while suspended",
            interval=1,
        )
        after = {j["metadata"]["name"] for j in children(local)}
        assert after == before, f"new RayJobs while suspended: {after - before}"
        assert "suspended: no new RayJobs" in described(local)
    finally:
        # Deleting the RayCronJob deletes its RayJobs (and their clusters) first.
        local.run("delete", "raycronjob", NAME, timeout=300)
    assert children(local) == []
