"""KubeRay 1.7's rules for networkPolicy and historyServerOptions (gates on), now typed.

Each test breaks one rule of validation.go (validateNetworkPolicy, validateCollectorOptions)
and checks the error is at the field to change; the controls are configurations KubeRay
accepts.
"""

from __future__ import annotations

from typing import Any

import pytest

from rayplane.api.validation import FeatureGates, validate

GATES = FeatureGates(RayClusterNetworkPolicy=True, RayClusterHistoryServer=True)
RULE = [{"ports": [{"port": 8265, "protocol": "TCP"}]}]


def _errors(doc: dict[str, Any]) -> dict[str, str]:
    return {f.path: f.message for f in validate(doc, GATES).errors}


def _collector(*env: tuple[str, str], image: str = "quay.io/kuberay/collector:v1.7.0") -> Any:
    return {"collectorOptions": {"image": image, "env": [{"name": n, "value": v} for n, v in env]}}


# -- networkPolicy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        {},
        {"mode": "DenyAll", "head": {"ingressRules": RULE, "egressRules": RULE}},
        {"mode": "DenyAllIngress", "worker": {"ingressRules": RULE}},
        {"mode": "DenyAllEgress", "workerGroups": [{"groupName": "workers", "egressRules": RULE}]},
    ],
)
def test_network_policy_kuberay_accepts(raycluster: dict[str, Any], policy: Any) -> None:
    raycluster["spec"]["networkPolicy"] = policy
    assert _errors(raycluster) == {}


def test_rules_for_an_unrestricted_direction_are_refused(raycluster: dict[str, Any]) -> None:
    raycluster["spec"]["networkPolicy"] = {
        "mode": "DenyAllEgress",
        "head": {"ingressRules": RULE},
        "workerGroups": [{"groupName": "workers", "ingressRules": RULE}],
    }
    errors = _errors(raycluster)
    assert "ingress is not restricted" in errors["spec.networkPolicy.head.ingressRules"]
    assert "spec.networkPolicy.workerGroups[0].ingressRules" in errors
    raycluster["spec"]["networkPolicy"] = {
        "mode": "DenyAllIngress",
        "worker": {"egressRules": RULE},
    }
    assert (
        "egress is not restricted" in _errors(raycluster)["spec.networkPolicy.worker.egressRules"]
    )


def test_worker_group_rules_must_name_a_group(raycluster: dict[str, Any]) -> None:
    raycluster["spec"]["networkPolicy"] = {"workerGroups": [{"groupName": "gpu"}]}
    finding = [
        f
        for f in validate(raycluster, GATES).errors
        if f.path == "spec.networkPolicy.workerGroups[0].groupName"
    ]
    assert finding and finding[0].allowed == "workers"


def test_group_names_must_be_dns_labels_with_a_policy(raycluster: dict[str, Any]) -> None:
    raycluster["spec"]["workerGroupSpecs"][0]["groupName"] = "GPU_Workers"
    assert _errors(raycluster) == {}  # KubeRay does not check the name without a policy
    raycluster["spec"]["networkPolicy"] = {"mode": "DenyAll"}
    assert "NetworkPolicy" in _errors(raycluster)["spec.workerGroupSpecs[0].groupName"]


def test_unknown_mode_is_refused(raycluster: dict[str, Any]) -> None:
    raycluster["spec"]["networkPolicy"] = {"mode": "AllowAll"}
    assert "spec.networkPolicy.mode" in _errors(raycluster)


# -- historyServerOptions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        [("STORAGE_BACKEND", "S3"), ("S3_REGION", "us-west-2")],
        [("STORAGE_BACKEND", "gcs"), ("GCS_BUCKET", "logs")],
        [("STORAGE_BACKEND", "AZUREBLOB"), ("AZURE_STORAGE_ACCOUNT_URL", "https://a")],
        [
            ("STORAGE_BACKEND", "ALIYUNOSS"),
            ("OSS_BUCKET", "b"),
            ("OSS_ENDPOINT", "e"),
            ("OSS_REGION", "r"),
        ],
        [("STORAGE_BACKEND", "MINIO")],  # KubeRay checks the backends it knows only
    ],
)
def test_history_server_kuberay_accepts(raycluster: dict[str, Any], env: Any) -> None:
    raycluster["spec"]["historyServerOptions"] = _collector(*env)
    assert _errors(raycluster) == {}


def test_collector_needs_options_image_and_backend(raycluster: dict[str, Any]) -> None:
    raycluster["spec"]["historyServerOptions"] = {}
    assert "collector" in _errors(raycluster)["spec.historyServerOptions.collectorOptions"]
    raycluster["spec"]["historyServerOptions"] = _collector(image="")
    errors = _errors(raycluster)
    assert "spec.historyServerOptions.collectorOptions.image" in errors
    assert "STORAGE_BACKEND" in errors["spec.historyServerOptions.collectorOptions.env"]


def test_backend_needs_its_variables(raycluster: dict[str, Any]) -> None:
    raycluster["spec"]["historyServerOptions"] = _collector(
        ("STORAGE_BACKEND", "AZUREBLOB"), ("AZURE_STORAGE_AUTH_MODE", "connection_string")
    )
    message = _errors(raycluster)["spec.historyServerOptions.collectorOptions.env"]
    assert "AZURE_STORAGE_CONNECTION_STRING" in message
    raycluster["spec"]["historyServerOptions"] = _collector(("STORAGE_BACKEND", "S3"))
    assert "S3_REGION" in _errors(raycluster)["spec.historyServerOptions.collectorOptions.env"]


def test_operator_owned_names_are_refused(raycluster: dict[str, Any]) -> None:
    raycluster["spec"]["historyServerOptions"] = _collector(
        ("STORAGE_BACKEND", "S3"), ("S3_REGION", "r"), ("POD_IP", "1.2.3.4")
    )
    raycluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"].append(
        {"name": "ray-history-collector", "image": "mine"}
    )
    errors = _errors(raycluster)
    assert "spec.historyServerOptions.collectorOptions.env[2].name" in errors
    assert "spec.headGroupSpec.template.spec.containers[1].name" in errors


def test_rules_wait_for_the_gate(raycluster: dict[str, Any]) -> None:
    raycluster["spec"]["historyServerOptions"] = {}
    errors = {f.path: f.message for f in validate(raycluster).errors}
    assert list(errors) == ["spec.historyServerOptions"]
    assert "RayClusterHistoryServer" in errors["spec.historyServerOptions"]
