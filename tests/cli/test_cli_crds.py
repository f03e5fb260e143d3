"""`rayplane crds`: what `kubectl apply --server-side -f -` gets, KubeRay 1.7's shape."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from rayplane.cli.main import app


def test_crds_prints_kuberays_versions_and_status_types() -> None:
    result = CliRunner().invoke(app, ["crds"])
    assert result.exit_code == 0, result.output
    docs = {d["spec"]["names"]["kind"]: d for d in yaml.safe_load_all(result.stdout)}
    assert set(docs) >= {"RayCluster", "RayJob", "RayService"}
    for kind in ("RayCluster", "RayJob", "RayService"):
        versions = {v["name"]: v for v in docs[kind]["spec"]["versions"]}
        assert versions["v1"]["storage"] is True
        assert versions["v1alpha1"]["storage"] is False
        assert versions["v1alpha1"]["deprecated"] is True
    status = docs["RayCluster"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "status"
    ]["properties"]
    assert status["desiredCPU"]["x-kubernetes-int-or-string"] is True
