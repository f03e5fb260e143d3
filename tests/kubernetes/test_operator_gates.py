"""Feature gates given to the operator's command line reach its reconcilers, not only
validation: the gated behaviour shows in what the operator creates."""

from __future__ import annotations

from typing import Any

import pytest

from rayplane.kubernetes.cli import config_from_args, parser
from tests.kubernetes.operator_harness import TOKEN, example, fake_api, run, running

pytestmark = pytest.mark.timeout(60)

JOB = "log-pipeline"


def _sidecar_job() -> dict[str, Any]:
    job = example("rayjob-data-pipeline.yaml")
    job["metadata"]["namespace"] = "default"
    job["spec"]["submissionMode"] = "SidecarMode"
    return job


def _submitter(kube: Any) -> dict[str, Any] | None:
    """The ray-job-submitter container of the RayCluster the RayJob made, once made."""
    for cluster in kube.objects("rayclusters", "default"):
        containers = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"]
        found = [c for c in containers if c["name"] == "ray-job-submitter"]
        if found:
            return dict(found[0])
    return None


def test_sidecar_submitter_restart_gate_from_the_command_line_reaches_the_rayjob() -> None:
    async def scenario() -> None:
        async with fake_api() as kube:
            ca = ["--certificate-authority", str(kube.ca_file)] if kube.ca_file else []
            args = parser().parse_args(
                [
                    "--server", kube.url, "--token", TOKEN, *ca,
                    "--enable-leader-election=false",
                    "--metrics-addr", "0",
                    "--health-probe-bind-address", "0",
                    "--feature-gates", "SidecarSubmitterRestart=true",
                ]
            )  # fmt: skip
            async with running(config_from_args(args), kube.wait_for):
                kube.create(_sidecar_job())
                submitter = await kube.wait_for(lambda: _submitter(kube))
            # With the gate only the submitter restarts after a dropped log stream; without
            # it (KubeRay's default) the container has no restart policy of its own.
            assert submitter.get("restartPolicy") == "OnFailure"

    run(scenario)
