"""`apply` from Python: what is stored, what is refused (and then nothing is), and names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import rayplane
from rayplane.sdk.backend import BackendError
from rayplane.sdk.runtime import Runtime
from tests.sdk.conftest import raycluster, rayjob
from tests.sdk.fake import FakeBackend

SOURCE_DIR = "rayplane.io/source-dir"


def test_apply_says_created_then_unchanged_then_configured(
    fake: FakeBackend, runtime: Runtime
) -> None:
    cluster = rayplane.Cluster.from_dict(raycluster(), runtime)
    assert cluster.apply(wait=False).verb == "created"
    assert cluster.object["metadata"]["uid"] == "uid-1"  # the stored object, read back
    assert rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False).verb == "unchanged"
    changed = raycluster()
    changed["spec"]["headGroupSpec"]["rayStartParams"] = {"num-cpus": "0"}
    assert rayplane.Cluster.from_dict(changed, runtime).apply(wait=False).verb == "configured"
    assert list(fake.objects) == [("RayCluster", "default", "c1")]


def test_an_invalid_document_is_refused_with_its_field_path_and_nothing_is_stored(
    fake: FakeBackend, runtime: Runtime, tmp_path: Path
) -> None:
    bad = raycluster()
    bad["spec"]["headGroupSpec"]["rayStartParams"] = {"--dashboard-host": "0.0.0.0"}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump_all([secret, bad]))
    with pytest.raises(rayplane.ApplyError) as caught:
        rayplane.Cluster.from_yaml(path, runtime).apply()
    text = str(caught.value)
    assert "nothing was applied: RayCluster/c1 is invalid" in text
    assert "spec.headGroupSpec.rayStartParams[--dashboard-host]" in text
    assert [f.path for f in caught.value.findings] == [
        "spec.headGroupSpec.rayStartParams[--dashboard-host]"
    ]
    assert fake.objects == {}  # not even the valid Secret that comes first


def test_from_yaml_applies_the_files_secrets_first(
    fake: FakeBackend, runtime: Runtime, tmp_path: Path
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"a": "b"},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump_all([raycluster(), secret]))
    rayplane.Cluster.from_yaml(path, runtime).apply(wait=False)
    assert list(fake.objects) == [("Secret", "default", "s"), ("RayCluster", "default", "c1")]


def test_from_yaml_needs_exactly_one_object_of_its_kind(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump_all([raycluster("a"), raycluster("b")]))
    with pytest.raises(rayplane.ApplyError, match="2 RayCluster documents"):
        rayplane.Cluster.from_yaml(path, runtime)


def test_a_refusal_by_the_runtime_names_its_findings(fake: FakeBackend, runtime: Runtime) -> None:
    fake.refuse[("RayCluster", "default", "c1")] = BackendError(
        "422 invalid", 422, [{"path": "spec.suspend", "message": "cannot change"}]
    )
    with pytest.raises(rayplane.ApplyError) as caught:
        rayplane.Cluster.from_dict(raycluster(), runtime).apply()
    assert "RayCluster/c1: 422 invalid" in str(caught.value)
    assert "spec.suspend: cannot change" in str(caught.value)


def test_generate_name_gives_a_new_name_that_later_applies_keep(
    fake: FakeBackend, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    obj = rayjob()
    obj["metadata"] = {"generateName": "job-"}
    monkeypatch.chdir(tmp_path)
    job = rayplane.RayJob.from_dict(obj, runtime).apply(wait=False)
    assert job.name.startswith("job-") and len(job.name) == len("job-") + 5
    stored = fake.objects[("RayJob", "default", job.name)]
    # built in Python: its relative working_dir means the current directory
    assert stored["metadata"]["annotations"][SOURCE_DIR] == str(tmp_path)
    assert job.apply(wait=False).verb == "unchanged" and len(fake.objects) == 1


def test_a_rayjob_from_a_file_keeps_the_files_directory(
    fake: FakeBackend, runtime: Runtime, tmp_path: Path
) -> None:
    (tmp_path / "jobs").mkdir()
    path = tmp_path / "jobs" / "job.yaml"
    path.write_text(yaml.safe_dump(rayjob()))
    rayplane.RayJob.from_yaml(path, runtime).apply(wait=False)
    annotations = fake.objects[("RayJob", "default", "j1")]["metadata"]["annotations"]
    assert annotations[SOURCE_DIR] == str(tmp_path / "jobs")


def test_a_handle_of_one_kind_refuses_another_kind(runtime: Runtime) -> None:
    with pytest.raises(rayplane.ApplyError, match="kind: 'RayJob' given to Cluster"):
        rayplane.Cluster.from_dict(rayjob(), runtime)


def test_get_reads_the_stored_object_or_says_it_is_not_there(
    fake: FakeBackend, runtime: Runtime
) -> None:
    rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False)
    got = rayplane.Cluster.get("c1", runtime=runtime)
    assert got.object["metadata"]["uid"] == "uid-1"
    assert repr(got) == "<Cluster default/c1 (local)>"
    with pytest.raises(rayplane.NotFoundError, match='RayCluster "nope" not found'):
        rayplane.Cluster.get("nope", runtime=runtime)


def test_to_yaml_is_the_full_object_without_the_runtimes_own_detail(runtime: Runtime) -> None:
    cluster = rayplane.Cluster.from_dict(raycluster(), runtime)
    cluster.object["local"] = {"nodes": []}
    shown = yaml.safe_load(cluster.to_yaml())
    assert shown["apiVersion"] == "ray.io/v1" and shown["kind"] == "RayCluster"
    assert shown["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["name"] == "ray-head"
    assert "local" not in shown


def test_local_home_reaches_the_settings_and_starts_nothing(tmp_path: Path) -> None:
    runtime = rayplane.local(home=tmp_path / "home")
    assert runtime.name == "local"
    assert runtime.backend.settings.home == tmp_path / "home"  # type: ignore[attr-defined]
    assert not (tmp_path / "home").exists()  # nothing runs until something is applied


def test_a_handle_read_back_applies_again_without_what_the_runtime_added(
    fake: FakeBackend, runtime: Runtime
) -> None:
    rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False)
    stored = fake.objects[("RayCluster", "default", "c1")]
    stored["status"] = {"state": "ready"}
    stored["local"] = {"nodes": []}  # the local runtime's detail, not a ray.io field
    got = rayplane.Cluster.get("c1", runtime=runtime)
    assert got.apply(wait=False).verb == "unchanged"
