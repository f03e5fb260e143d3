"""The operator started from its command line: feature gates reach its reconcilers, not
only validation, and security settings it does not provide are said as Warning events."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from rayplane.kubernetes.cli import config_from_argv
from rayplane.kubernetes.operator_config import OperatorConfig
from rayplane.kubernetes.testing import FakeKubernetes
from tests.kubernetes.operator_harness import TOKEN, fake_api, run, running
from tests.support import example

pytestmark = pytest.mark.timeout(60)

WARNINGS = {"NetworkPolicyNotCreated", "TLSNotConfigured"}


def _config(kube: FakeKubernetes, gates: str) -> OperatorConfig:
    """What the operator's own command line builds, pointed at the fake API server."""
    ca = ["--certificate-authority", str(kube.ca_file)] if kube.ca_file else []
    return config_from_argv(
        [
            "--server", kube.url, "--token", TOKEN, *ca,
            "--enable-leader-election=false",
            "--metrics-addr", "0",
            "--health-probe-bind-address", "0",
            "--feature-gates", gates,
        ],
        environ={},
    )  # fmt: skip


def _sidecar_job() -> dict[str, Any]:
    job = example("rayjob-data-pipeline.yaml")
    job["metadata"]["namespace"] = "default"
    job["spec"]["submissionMode"] = "SidecarMode"
    return job


def _submitter(kube: FakeKubernetes) -> dict[str, Any] | None:
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
            config = _config(kube, "SidecarSubmitterRestart=true")
            async with running(config, kube.wait_for):
                kube.create(_sidecar_job())
                submitter = await kube.wait_for(lambda: _submitter(kube))
            # With the gate only the submitter restarts after a dropped log stream; without
            # it (KubeRay's default) the container has no restart policy of its own.
            assert submitter.get("restartPolicy") == "OnFailure"

    run(scenario)


def test_security_settings_the_operator_does_not_provide_get_warning_events() -> None:
    async def scenario() -> None:
        cluster = example("raycluster-basic.yaml")
        cluster["spec"]["rayVersion"] = "2.60.0"  # token auth needs Ray 2.52+
        cluster["spec"]["authOptions"] = {"mode": "token"}
        cluster["spec"]["networkPolicy"] = {"mode": "DenyAll"}
        cluster["spec"]["tlsOptions"] = {"enabled": True}
        namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
        async with fake_api() as kube:
            gates = "RayClusterNetworkPolicy=true,RayClusterMTLS=true"
            async with running(_config(kube, gates), kube.wait_for):
                kube.create(cluster)

                def warned() -> dict[str, str] | None:
                    events = kube.objects("events", namespace)
                    found = {e["reason"]: e["message"] for e in events if e["type"] == "Warning"}
                    return found if found.keys() >= WARNINGS else None

                found = await kube.wait_for(warned)
                # Token auth is provided: the Secret is generated as KubeRay generates it.
                secret = await kube.wait_for(
                    lambda: next(
                        (
                            s
                            for s in kube.objects("secrets", namespace)
                            if s["metadata"]["name"] == name
                        ),
                        None,
                    )
                )
            assert "AuthTokenSecretNotCreated" not in found
            assert secret["metadata"]["labels"] == {"ray.io/cluster": name}
            (owner,) = secret["metadata"]["ownerReferences"]
            assert (owner["kind"], owner["name"]) == ("RayCluster", name)
            token = base64.b64decode(secret["data"]["auth_token"])
            assert len(base64.b64decode(token, validate=True)) == 32
            assert "spec.networkPolicy" in found["NetworkPolicyNotCreated"]
            assert "spec.tlsOptions.enabled" in found["TLSNotConfigured"]

    run(scenario)


def test_a_bad_feature_gate_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from rayplane.kubernetes.cli import main

    assert main(["--feature-gates", "RayJobDeletionPolicy=maybe"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rayplane operator: --feature-gates") and err.count("\n") == 1
    assert "Traceback" not in err
