"""The install manifests: rendered by `kubectl kustomize`, valid, least privilege."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kubernetes import schema_errors

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# KubeRay's ClusterRole (ray-operator/config/rbac/role.yaml): (group, resource) -> verbs.
_ALL = {"create", "delete", "get", "list", "patch", "update", "watch"}
KUBERAY_ROLE: dict[tuple[str, str], set[str]] = {
    ("", "events"): _ALL,
    ("", "pods/status"): _ALL,
    ("", "services"): _ALL,
    ("", "pods"): _ALL | {"deletecollection"},
    ("", "pods/proxy"): {"get", "patch", "update"},
    ("", "services/status"): {"get", "patch", "update"},
    ("", "pods/resize"): {"patch"},
    ("", "secrets"): {"create", "get", "list", "watch"},
    ("", "serviceaccounts"): {"create", "delete", "get", "list", "watch"},
    ("", "services/proxy"): {"create", "get", "patch", "update"},
    ("batch", "jobs"): _ALL,
    ("coordination.k8s.io", "leases"): {"create", "get", "list", "update"},
    ("discovery.k8s.io", "endpointslices"): {"get", "list", "watch"},
    ("networking.k8s.io", "ingresses"): _ALL,
    **{
        ("gateway.networking.k8s.io", r): {"create", "delete", "get", "list", "update", "watch"}
        for r in ("gateways", "httproutes")
    },
    ("rbac.authorization.k8s.io", "rolebindings"): {"create", "delete", "get", "list", "watch"},
    ("rbac.authorization.k8s.io", "roles"): {"create", "delete", "get", "list", "update", "watch"},
    **{("ray.io", r): _ALL for r in ("rayclusters", "raycronjobs", "rayjobs", "rayservices")},
    **{
        ("ray.io", f"{r}/finalizers"): {"update"}
        for r in ("rayclusters", "raycronjobs", "rayjobs", "rayservices")
    },
    **{
        ("ray.io", f"{r}/status"): {"get", "patch", "update"}
        for r in ("rayclusters", "raycronjobs", "rayjobs", "rayservices")
    },
}

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


def _render(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@needs_kubectl
@pytest.mark.parametrize("root", ["", "overlays/eks"])
def test_kustomize_renders_valid_objects(root: str) -> None:
    objects = _render(DEPLOY / root)
    kinds = sorted({o["kind"] for o in objects})
    assert {"ClusterRole", "Deployment", "ServiceAccount", "Role"} <= set(kinds)
    builtin = [
        o
        for o in objects
        if o["kind"] not in ("CustomResourceDefinition", "Certificate", "Issuer")
        and not o["apiVersion"].startswith("monitoring.coreos.com/")
    ]
    problems = {f"{o['kind']}/{o['metadata']['name']}": schema_errors(o) for o in builtin}
    assert not {k: v for k, v in problems.items() if v}
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "rayplane-system"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("ghcr.io/rayplane/rayplane-operator:")
    assert "--enable-leader-election=true" in container["args"]
    if root == "":
        # KubeRay installs all four, RayCronJob (alpha) included, whatever the gates say.
        assert sum(o["kind"] == "CustomResourceDefinition" for o in objects) == 4
    else:
        assert "--webhook-port=9443" in container["args"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp/k8s-webhook-server/serving-certs" in mounts
        webhook = next(o for o in objects if o["kind"] == "ValidatingWebhookConfiguration")
        paths = {w["clientConfig"]["service"]["path"] for w in webhook["webhooks"]}
        assert paths == {
            "/validate-ray-io-v1-raycluster",
            "/validate-ray-io-v1-rayjob",
            "/validate-ray-io-v1-rayservice",
        }
        assert any(o["kind"] == "ServiceMonitor" for o in objects)


@needs_kubectl
def test_rbac_is_no_more_than_kuberays_cluster_role() -> None:
    objects = _render(DEPLOY / "overlays" / "eks")
    roles = [o for o in objects if o["kind"] in ("ClusterRole", "Role")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    allowed = KUBERAY_ROLE.get((group, resource))
                    assert allowed is not None, f"{group}/{resource} is not in KubeRay's role"
                    extra = set(rule["verbs"]) - allowed
                    assert not extra, f"{group}/{resource}: {extra} beyond KubeRay's role"


def test_grafana_dashboard_uses_kuberay_metric_names() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "rayplane-operator.json").read_text())
    text = json.dumps(dashboard)
    for name in (
        "kuberay_cluster_info",
        "kuberay_cluster_condition_provisioned",
        "kuberay_cluster_provisioned_duration_seconds",
        "kuberay_job_info",
        "kuberay_job_deployment_status",
        "kuberay_job_execution_duration_seconds",
        "kuberay_service_info",
        "kuberay_service_condition_ready",
        "kuberay_service_condition_upgrade_in_progress",
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_time_seconds",
    ):
        assert name in text, name
