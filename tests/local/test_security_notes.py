"""A security setting the local runtime does not give is named, never silently accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rayplane.api.validation import FeatureGates
from rayplane.local.controller import Controller
from rayplane.settings import LocalSettings
from tests.support import EXAMPLES


def _spec(**extra: Any) -> dict[str, Any]:
    return {
        "rayVersion": "2.60.0",
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{}]}}},
        **extra,
    }


SECURED = _spec(
    authOptions={"mode": "token"}, tlsOptions={"enabled": True}, networkPolicy={"mode": "DenyAll"}
)


def _notes(ctl: Controller, kind: str, body: dict[str, Any]) -> list[str]:
    doc = {"apiVersion": "ray.io/v1", "kind": kind, "metadata": {"name": "s"}, "spec": body}
    path = f"/resources/{kind}/default/s"
    code, answer = ctl.handle("PUT", path, {}, doc)
    assert code == 200, answer
    code, detail = ctl.handle("GET", path, {}, None)
    assert code == 200
    return list(detail["local"]["notes"])


def test_describe_names_each_security_field_of_a_cluster_and_what_is_missing(
    tmp_path: Path,
) -> None:
    gates = "RayClusterNetworkPolicy=true,RayClusterMTLS=true"
    ctl = Controller(
        LocalSettings(home=tmp_path / "h", temp_root=tmp_path / "t"), FeatureGates.parse(gates)
    )
    try:
        notes = _notes(ctl, "RayCluster", SECURED)
        # First, before the Pod-only and capacity notes. Token auth is given locally, so
        # it has no note; the two settings that are not given have theirs.
        assert notes[0].startswith("spec.tlsOptions.enabled is true, but")
        assert notes[1].startswith("spec.networkPolicy is set, but")
        assert not any("authOptions" in note for note in notes)
        opted_out = _spec(authOptions={"mode": "disabled"})
        first = _notes(ctl, "RayCluster", opted_out)[0]
        assert first.startswith("spec.authOptions.mode is disabled")
        assert "answer every local user and process without a token" in first
        job = {"entrypoint": "python x.py", "rayClusterSpec": opted_out}
        assert _notes(ctl, "RayJob", job)[0].startswith(
            "spec.rayClusterSpec.authOptions.mode is disabled"
        )
        service = {"rayClusterConfig": opted_out}
        assert _notes(ctl, "RayService", service)[0].startswith(
            "spec.rayClusterConfig.authOptions.mode is disabled"
        )
    finally:
        ctl.clusters.close()
        ctl.services.close()
        ctl.store.close()


def test_the_seed_examples_dashboard_host_is_reported_as_not_used(tmp_path: Path) -> None:
    ctl = Controller(LocalSettings(home=tmp_path / "h", temp_root=tmp_path / "t"))
    try:
        doc = yaml.safe_load((EXAMPLES / "raycluster-basic.yaml").read_text())
        code, _ = ctl.handle("PUT", "/resources/RayCluster/raydata/raycluster-basic", {}, doc)
        assert code == 200
        detail = ctl.handle("GET", "/resources/RayCluster/raydata/raycluster-basic", {}, None)[1]
        notes = detail["local"]["notes"]
        assert any(
            "spec.headGroupSpec.rayStartParams.dashboard-host='0.0.0.0' is not used locally" in note
            for note in notes
        )
        assert not any("authOptions" in note for note in notes)
    finally:
        ctl.clusters.close()
        ctl.services.close()
        ctl.store.close()
