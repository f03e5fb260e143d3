"""Secrets and ConfigMaps through the CLI: validate, apply order, get, describe, delete.

The last test runs the real local controller (a Python process; no Ray node is started,
since only a Secret and a ConfigMap are applied).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rayplane.api.loading import parse_text
from rayplane.cli.apply_cmd import apply_order, read_resources
from rayplane.cli.delete_cmd import delete_order
from rayplane.cli.main import app
from rayplane.cli.readiness import cluster_outcome

SECRET = """apiVersion: v1
kind: Secret
metadata: {name: redis-password-secret}
stringData: {password: "5241590000000000"}
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata: {name: app-settings}
data: {LOG_LEVEL: debug, port: "6379"}
"""


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_the_redis_secret_example_validates(cli: CliRunner, examples: Path) -> None:
    result = cli.invoke(app, ["validate", "-f", str(examples / "raycluster-redis-secret.yaml")])
    assert result.exit_code == 0, result.output
    assert "valid RayCluster/raycluster-redis-secret" in result.stdout
    assert "valid Secret/redis-password-secret" in result.stdout


def test_every_example_with_config_objects_validates(cli: CliRunner, examples: Path) -> None:
    """Examples that carry a Secret or ConfigMap must pass as a whole (apply needs that)."""
    carrying = [
        p
        for p in sorted(examples.glob("*.yaml"))
        if "\nkind: Secret" in p.read_text() or "\nkind: ConfigMap" in p.read_text()
    ]
    assert carrying, "the redis-secret example should be among them"
    for path in carrying:
        result = cli.invoke(app, ["validate", "-f", str(path)])
        assert result.exit_code == 0, (path, result.output)


def test_validate_reports_a_bad_secret_with_path_and_fix(cli: CliRunner) -> None:
    text = SECRET.replace('stringData: {password: "5241590000000000"}', "data: {password: pw!}")
    result = cli.invoke(app, ["validate", "-f", "-"], input=text)
    assert result.exit_code == 1
    assert "invalid Secret/redis-password-secret" in result.stderr
    assert "data.password: is not valid base64" in result.stderr
    assert "put the plain value under stringData" in result.stderr
    assert "pw!" not in result.output


def test_an_invalid_secret_means_nothing_in_the_file_is_applied(
    tmp_path: Path, examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    cluster = (examples / "raycluster-redis-secret.yaml").read_text().split("\n---\n")[0]
    path.write_text(cluster + "\n---\n" + SECRET.replace("v1\nkind", "v2\nkind"))
    with pytest.raises(typer.Exit) as caught:
        read_resources([str(path)])
    assert caught.value.exit_code == 1
    err = capsys.readouterr().err
    assert "nothing was applied: 1 invalid resource" in err
    assert "apiVersion" in err


def test_other_kinds_are_still_skipped_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(SECRET + "---\napiVersion: v1\nkind: Service\nmetadata: {name: redis}\n")
    kept = read_resources([str(path)])
    assert [d.kind for d in kept] == ["Secret"]
    assert "Service redis" in capsys.readouterr().err


def test_apply_sends_secrets_and_configmaps_before_ray_resources(examples: Path) -> None:
    text = (examples / "raycluster-redis-secret.yaml").read_text() + "---\n" + CONFIGMAP
    docs = parse_text(text, "x.yaml")
    assert [d.kind for d in docs] == ["RayCluster", "Secret", "ConfigMap"]
    assert [d.kind for d in apply_order(docs)] == ["Secret", "ConfigMap", "RayCluster"]


def test_delete_removes_ray_resources_before_their_secrets() -> None:
    targets = [("Secret", "default", "s"), ("RayCluster", "default", "c"), ("ConfigMap", "d", "m")]
    assert delete_order(targets) == [
        ("RayCluster", "default", "c"),
        ("Secret", "default", "s"),
        ("ConfigMap", "d", "m"),
    ]


def test_apply_stops_waiting_at_a_missing_secret() -> None:
    message = (
        'CreateContainerConfigError: secret "redis-password-secret" not found in namespace '
        '"default" (env REDIS_PASSWORD of the head); apply a kind: Secret with that name'
    )
    detail = {
        "status": {
            "state": None,
            "conditions": [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreateHeadPod",
                    "message": message,
                }
            ],
        },
        "local": {"nodes": []},
    }
    outcome = cluster_outcome(detail)
    assert outcome.done and outcome.failed
    assert outcome.message == message
    # Without that condition it is just waiting.
    detail["status"]["conditions"] = []
    assert not cluster_outcome(detail).done


def test_apply_get_describe_delete_against_the_controller(
    cli: CliRunner, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(SECRET + "---\n" + CONFIGMAP)

    applied = cli.invoke(app, ["apply", "-f", str(path)])
    assert applied.exit_code == 0, applied.output
    assert "secret/redis-password-secret created" in applied.stdout
    assert "configmap/app-settings created" in applied.stdout
    again = cli.invoke(app, ["apply", "-f", str(path)])
    assert "secret/redis-password-secret unchanged" in again.stdout
    path.write_text(SECRET.replace("5241590000000000", "other") + "---\n" + CONFIGMAP)
    changed = cli.invoke(app, ["apply", "-f", str(path)])
    assert "secret/redis-password-secret configured" in changed.stdout

    listed = cli.invoke(app, ["get", "secrets"])
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert row.split()[:3] == ["redis-password-secret", "Opaque", "1"]
    cms = cli.invoke(app, ["get", "cm"])
    assert cms.stdout.splitlines()[0].split() == ["NAME", "DATA", "AGE"]
    assert cms.stdout.splitlines()[1].split()[:2] == ["app-settings", "2"]
    as_yaml = cli.invoke(app, ["get", "secret", "redis-password-secret", "-o", "yaml"])
    assert "password: b3RoZXI=" in as_yaml.stdout  # base64 data, as kubectl shows it

    described = cli.invoke(app, ["describe", "secret", "redis-password-secret"])
    assert described.exit_code == 0, described.output
    assert "password:  5 bytes" in described.stdout
    assert "other" not in described.stdout and "b3RoZXI" not in described.stdout

    deleted = cli.invoke(app, ["delete", "secret", "redis-password-secret"])
    assert deleted.exit_code == 0, deleted.output
    assert 'secret "redis-password-secret" deleted' in deleted.stdout
    gone = cli.invoke(app, ["get", "secret", "redis-password-secret"])
    assert gone.exit_code == 1
    by_file = cli.invoke(app, ["delete", "-f", str(path)])
    assert 'configmap "app-settings" deleted' in by_file.stdout
    assert cli.invoke(app, ["get", "configmaps"]).stdout == ""


ROCKSDB_CLUSTER = """
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: rocks}
spec:
  gcsFaultToleranceOptions: {backend: rocksdb}
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers: [{name: ray-head, image: rayproject/ray:2.60.0}]
"""


def test_local_feature_gates_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rocks.yaml"
    path.write_text(ROCKSDB_CLUSTER)
    monkeypatch.delenv("RAYPLANE_FEATURE_GATES", raising=False)
    result = CliRunner().invoke(app, ["apply", "-f", str(path)])
    assert result.exit_code == 1
    assert "spec.gcsFaultToleranceOptions.backend" in result.stderr
    assert "RAYPLANE_FEATURE_GATES=GCSFaultToleranceEmbeddedStorage=true" in result.stderr
    monkeypatch.setenv("RAYPLANE_FEATURE_GATES", "GCSFaultToleranceEmbeddedStorage=true")
    assert [d.kind for d in read_resources([str(path)])] == ["RayCluster"]
    monkeypatch.setenv("RAYPLANE_FEATURE_GATES", "NoSuchGate=true")
    result = CliRunner().invoke(app, ["apply", "-f", str(path)])
    assert result.exit_code == 2 and "unknown feature gate 'NoSuchGate'" in result.stderr
