"""Per-version Ray virtualenvs: hostile versions, atomic builds, one build at a time, wiring.

The builder is faked (it writes a tiny tree as pip would, or fails), so these run in
milliseconds; the real pip build runs in tests/e2e/test_local_rayversion.py.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import rayplane
from rayplane.api.k8s import PodTemplateSpec
from rayplane.api.raycluster import RayCluster
from rayplane.api.rayjob import RayJob
from rayplane.local import ray_envs
from rayplane.local.fake_launcher import FakeLauncher
from rayplane.local.notes import local_notes, ray_version_note
from rayplane.local.ray_envs import (
    IMAGE_PULL,
    RayEnvError,
    RayEnvs,
    check_version,
    ensure,
    env_dir,
    failure_message,
    installed_ray,
    is_ready,
    list_envs,
    remove,
    wanted_version,
)
from rayplane.local.raycluster_controller import RayClusterController, blocking_failure
from rayplane.local.rayjob_controller import RayJobController
from rayplane.local.store import Store
from rayplane.reconcile.job import CreateSubmitter
from rayplane.settings import LocalSettings, SettingsError, load_local

OLDER = "2.59.0"

HOSTILE = [
    "../../x",
    "2.9; rm -rf /",
    "2.59.0/../../etc",
    "2.59",
    "2.59.0rc1",
    " 2.59.0",
    "2.59.0\n",
    "02.59.0",
    "2.59.0 --index-url http://evil",
    "",
    "latest",
]


@pytest.mark.parametrize("version", HOSTILE)
def test_a_hostile_version_never_becomes_a_path(tmp_path: Path, version: str) -> None:
    with pytest.raises(RayEnvError) as caught:
        env_dir(tmp_path, version)
    assert "spec.rayVersion" in str(caught.value)
    assert repr(version) in str(caught.value)
    with pytest.raises(RayEnvError):
        ensure(tmp_path, version, builder=_never)
    assert not (tmp_path / "ray-envs").exists()


def test_release_numbers_pass() -> None:
    assert check_version("2.59.0") == "2.59.0"
    assert check_version("10.0.12") == "10.0.12"


def _never(target: Path, version: str, say: ray_envs.Progress) -> None:
    raise AssertionError("the builder must not run")


def fake_builder(calls: list[str], delay: float = 0.0) -> ray_envs.Builder:
    """Writes what pip would: bin/python and a console script whose shebang names target."""

    def build(target: Path, version: str, say: ray_envs.Progress) -> None:
        calls.append(version)
        say(f"Collecting ray[default]=={version}")
        (target / "bin").mkdir(parents=True)
        (target / "bin" / "python").write_text("")
        (target / "bin" / "ray").write_text(f"#!{target}/bin/python\nimport ray\n")
        time.sleep(delay)

    return build


def test_a_build_lands_whole_and_its_scripts_name_the_final_folder(tmp_path: Path) -> None:
    calls: list[str] = []
    python = ensure(tmp_path, OLDER, builder=fake_builder(calls))
    final = tmp_path / "ray-envs" / OLDER
    assert python == final / "bin" / "python"
    assert is_ready(tmp_path, OLDER)
    assert (final / "bin" / "ray").read_text().startswith(f"#!{final}/bin/python\n")
    assert not list((tmp_path / "ray-envs").glob(".build-*"))
    # The shim makes this rayplane importable in the env, nothing else of its install.
    link = final / "rayplane-shim" / "rayplane"
    assert link.resolve() == Path(rayplane.__file__).resolve().parent
    assert ensure(tmp_path, OLDER, builder=_never) == python  # cached: no second build
    assert [env.version for env in list_envs(tmp_path)] == [OLDER]


def test_a_failed_build_leaves_nothing_that_looks_usable(tmp_path: Path) -> None:
    def broken(target: Path, version: str, say: ray_envs.Progress) -> None:
        (target / "bin").mkdir(parents=True)
        raise RayEnvError("spec.rayVersion: could not install Ray '2.59.0': boom")

    with pytest.raises(RayEnvError, match="boom"):
        ensure(tmp_path, OLDER, builder=broken)
    assert not is_ready(tmp_path, OLDER)
    assert not (tmp_path / "ray-envs" / OLDER).exists()
    assert not list((tmp_path / "ray-envs").glob(".build-*"))
    assert list_envs(tmp_path) == []


def test_a_half_built_env_from_a_killed_build_is_rebuilt(tmp_path: Path) -> None:
    root = tmp_path / "ray-envs"
    (root / OLDER / "bin").mkdir(parents=True)  # no ready file: a build that was cut off
    (root / f".build-{OLDER}-1-2").mkdir()
    calls: list[str] = []
    ensure(tmp_path, OLDER, builder=fake_builder(calls))
    assert calls == [OLDER]
    assert is_ready(tmp_path, OLDER)
    assert not list(root.glob(".build-*"))


def test_two_clusters_asking_at_once_build_once(tmp_path: Path) -> None:
    calls: list[str] = []
    builder = fake_builder(calls, delay=0.3)
    got: list[Path] = []
    threads = [
        threading.Thread(target=lambda: got.append(ensure(tmp_path, OLDER, builder=builder)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert calls == [OLDER]
    assert got == [tmp_path / "ray-envs" / OLDER / "bin" / "python"] * 3


def test_remove_deletes_the_env(tmp_path: Path) -> None:
    ensure(tmp_path, OLDER, builder=fake_builder([]))
    assert remove(tmp_path, OLDER)
    assert not (tmp_path / "ray-envs" / OLDER).exists()
    assert not remove(tmp_path, OLDER)


def test_the_controller_never_waits_for_a_build(tmp_path: Path) -> None:
    envs = RayEnvs(tmp_path, builder=fake_builder([], delay=0.2))
    python, why = envs.python_for(OLDER)
    assert python is None and why.startswith(f"building the Ray {OLDER} virtualenv")
    envs._threads[OLDER].join(timeout=30)
    python, why = envs.python_for(OLDER)
    assert (python, why) == (tmp_path / "ray-envs" / OLDER / "bin" / "python", "")


def test_a_failed_build_is_the_nodes_reason_like_a_failed_pull(tmp_path: Path) -> None:
    def offline(target: Path, version: str, say: ray_envs.Progress) -> None:
        raise RayEnvError(failure_message(version, "install Ray", "ERROR: Connection refused"))

    envs = RayEnvs(tmp_path, builder=offline)
    envs.python_for(OLDER)
    envs._threads[OLDER].join(timeout=30)
    python, why = envs.python_for(OLDER)
    assert python is None
    assert why.startswith(f"{IMAGE_PULL}: spec.rayVersion")
    assert "could not be reached" in why and "RAYPLANE_RAY_VERSIONS=installed" in why
    assert envs.python_for(OLDER)[1] == why  # not retried at once: no build per pass


def test_pip_failures_name_the_cause_and_the_fix() -> None:
    missing = failure_message(
        "9.9.9", "install Ray", "ERROR: No matching distribution found for ray[default]==9.9.9"
    )
    assert "spec.rayVersion" in missing and "'9.9.9'" in missing
    assert "no ray[default]==9.9.9 wheel for Python 3." in missing
    assert "RAYPLANE_RAY_VERSIONS=installed" in missing


def test_an_unreachable_index_is_not_reported_as_a_missing_version() -> None:
    # What pip printed here with PIP_INDEX_URL on a closed port.
    output = (
        "WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError("
        "'<HTTPConnection>: Failed to establish a new connection: [Errno 111] Connection "
        "refused')': /simple/ray/\n"
        "ERROR: Could not find a version that satisfies the requirement ray[default]==2.58.0 "
        "(from versions: none)\n"
        "ERROR: No matching distribution found for ray[default]==2.58.0"
    )
    message = failure_message("2.58.0", "install Ray", output)
    assert "could not be reached" in message and "Connection refused" in message
    assert "no ray[default]==2.58.0 wheel" not in message


def test_an_index_that_offers_nothing_says_both_causes() -> None:
    # What pip printed here with PIP_INDEX_URL on a closed port and PIP_RETRIES=0.
    output = (
        "ERROR: Could not find a version that satisfies the requirement ray[default]==2.58.0 "
        "(from versions: none)\nERROR: No matching distribution found for ray[default]==2.58.0"
    )
    message = failure_message("2.58.0", "install Ray", output)
    assert "could not be reached" in message and "PIP_INDEX_URL" in message


def test_only_an_opted_in_other_version_gets_an_env() -> None:
    installed = installed_ray()
    assert wanted_version(OLDER, "installed") is None
    assert wanted_version(installed, "install") is None
    assert wanted_version(None, "install") is None
    assert wanted_version(OLDER, "install") == OLDER


def test_the_setting_comes_through_the_one_door() -> None:
    assert load_local({}).ray_versions == "installed"
    assert load_local({"RAYPLANE_RAY_VERSIONS": "Install"}).ray_versions == "install"
    with pytest.raises(SettingsError, match="RAYPLANE_RAY_VERSIONS='yes'"):
        load_local({"RAYPLANE_RAY_VERSIONS": "yes"})


def _cluster(version: str) -> dict[str, Any]:
    template = {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray"}]}}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "pinned", "namespace": "default"},
        "spec": {
            "rayVersion": version,
            "headGroupSpec": {"rayStartParams": {}, "template": template},
        },
    }


def test_opted_out_the_note_stays_and_offers_the_setting() -> None:
    cluster = RayCluster.model_validate(_cluster(OLDER))
    (note,) = [n for n in local_notes(cluster) if "rayVersion" in n]
    assert "the local runtime runs the installed one" in note
    assert "RAYPLANE_RAY_VERSIONS=install" in note and f"ray[default]=={OLDER}" in note
    (opted,) = ray_version_note(cluster.spec, "install")
    assert f"run Ray {OLDER} from a virtualenv" in opted
    (bad,) = ray_version_note(RayCluster.model_validate(_cluster("2.9; x")).spec, "install")
    assert "not a Ray release number" in bad


@pytest.fixture
def pinned_controller(tmp_path: Path) -> Any:
    store = Store(tmp_path / "home" / "state.db")
    launcher = FakeLauncher()
    settings = LocalSettings(
        home=tmp_path / "home",
        temp_root=tmp_path / "t",
        local_autoscaler=False,
        ray_versions="install",
    )
    controller = RayClusterController(settings, store, launcher)
    yield controller, store, launcher
    controller.close()
    store.close()


def _pass(controller: RayClusterController, store: Store) -> Any:
    stored = store.get("RayCluster", "default", "pinned")
    assert stored is not None
    controller.reconcile(stored)
    return store.get("RayCluster", "default", "pinned")


def test_a_pinned_cluster_starts_its_head_with_the_envs_python(pinned_controller: Any) -> None:
    controller, store, launcher = pinned_controller
    controller.starts.ray_envs.builder = fake_builder([])
    store.put("RayCluster", "default", "pinned", _cluster(OLDER))
    _pass(controller, store)
    assert launcher.launches == []  # building: the head waits, with the reason
    (node,) = store.nodes()
    assert str(node.info["why"]).startswith(f"building the Ray {OLDER} virtualenv")
    controller.starts.ray_envs._threads[OLDER].join(timeout=30)
    _pass(controller, store)
    (launch,) = launcher.launches
    env_bin = controller.settings.home / "ray-envs" / OLDER / "bin"
    assert launch.argv[:3] == (str(env_bin / "python"), "-m", "rayplane.local.ray_cli")
    assert launch.env["PATH"].split(os.pathsep)[0] == str(env_bin)  # a job's `python`


def test_a_pinned_cluster_whose_env_fails_stops_the_wait(pinned_controller: Any) -> None:
    controller, store, launcher = pinned_controller

    def missing(target: Path, version: str, say: ray_envs.Progress) -> None:
        raise RayEnvError(failure_message(version, "install Ray", "No matching distribution"))

    controller.starts.ray_envs.builder = missing
    store.put("RayCluster", "default", "pinned", _cluster(OLDER))
    _pass(controller, store)
    controller.starts.ray_envs._threads[OLDER].join(timeout=30)
    _pass(controller, store)
    stored = _pass(controller, store)
    assert launcher.launches == []
    failure = blocking_failure(stored.status)
    assert failure is not None and failure.startswith(IMAGE_PULL), stored.status
    assert "spec.rayVersion" in failure
    reasons = [e["reason"] for e in store.events(stored.uid)]
    assert IMAGE_PULL in reasons and "CreateContainerConfigError" not in reasons


def test_the_installed_version_needs_no_env(pinned_controller: Any) -> None:
    controller, store, launcher = pinned_controller
    controller.starts.ray_envs.builder = _never
    store.put("RayCluster", "default", "pinned", _cluster(installed_ray() or "0.0.0"))
    _pass(controller, store)
    (launch,) = launcher.launches
    assert "ray-envs" not in launch.argv[0]


def test_a_pinned_rayjobs_submitter_runs_the_envs_ray(tmp_path: Path) -> None:
    """K8sJobMode's `ray job submit` is the env's, as KubeRay's submitter is the image's."""
    home = tmp_path / "home"
    ensure(home, OLDER, builder=fake_builder([]))
    store = Store(home / "state.db")
    spawn = FakeLauncher()
    settings = LocalSettings(home=home, temp_root=tmp_path / "t", ray_versions="install")
    jobs = RayJobController(settings, store, launcher=spawn)
    stored = store.put(
        "RayJob", "default", "etl", {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {}}
    )
    action = CreateSubmitter(
        name="etl",
        command=["ray", "job", "submit"],
        env=[],
        backoff_limit=0,
        labels={},
        template=PodTemplateSpec.model_validate({"spec": {"containers": [{"name": "s"}]}}),
    )
    pinned = {"entrypoint": "x", "rayClusterSpec": _cluster(OLDER)["spec"]}
    job = RayJob.model_validate({"metadata": {"name": "etl"}, "spec": pinned})
    jobs._create_submitter(stored, job, action, {})
    env_bin = str(home / "ray-envs" / OLDER / "bin")
    assert spawn.envs[0]["PATH"].split(os.pathsep)[0] == env_bin
    unpinned = {"entrypoint": "x", "rayClusterSpec": _cluster(installed_ray() or "0")["spec"]}
    job = RayJob.model_validate({"metadata": {"name": "etl2"}, "spec": unpinned})
    jobs._create_submitter(stored, job, action, {})
    assert spawn.envs[1].get("PATH", "").split(os.pathsep)[0] != env_bin
    store.close()
