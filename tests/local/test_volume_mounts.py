"""A node's volumes under the home and its bwrap view: what a process inside sees.

The bwrap tests run a real ``bwrap`` (skipped where it is not installed); the one marked
unprivileged runs it as ``nobody`` through ``setpriv``, as a user without root would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest

from rayplane.local import mounts, sandbox
from rayplane.local.mounts import Bind, View, host_path, prepare, refresh, write_atomic
from rayplane.reconcile.volumes import File, PodInfo, VolumeError, plan_volumes

WHERE = "headGroupSpec.template.spec"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")


def plan_of(mounts_: list[dict[str, Any]], volumes: list[dict[str, Any]]) -> Any:
    spec = {"containers": [{"name": "ray-head", "volumeMounts": mounts_}], "volumes": volumes}
    return plan_volumes(spec, WHERE)


def test_updates_swap_the_data_link_in_one_rename(tmp_path: Path) -> None:
    folder = tmp_path / "v"
    assert write_atomic(folder, [File("a.py", b"one")])
    first = os.readlink(folder / "..data")
    assert (folder / "a.py").read_bytes() == b"one"
    assert not write_atomic(folder, [File("a.py", b"one")])  # unchanged: nothing written
    assert write_atomic(folder, [File("b.py", b"two")])
    assert os.readlink(folder / "..data") != first
    assert not (folder / first).exists()  # the old version is gone
    assert not (folder / "a.py").exists()  # a key removed from the object goes
    assert (folder / "b.py").read_bytes() == b"two"
    assert (folder / "b.py").is_symlink()


def test_a_host_path_over_the_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "state.db").parent.mkdir(parents=True)
    (home / "state.db").write_text("secrets")
    for path in (str(home), str(home / "state.db"), str(tmp_path)):
        with pytest.raises(VolumeError, match="overlaps the rayplane home"):
            host_path(home, {"path": path}, "v")
    with pytest.raises(VolumeError, match="is not a directory"):
        host_path(home, {"path": "/etc/hostname", "type": "Directory"}, "v")
    with pytest.raises(VolumeError, match=r"does not exist.*writes nothing outside"):
        host_path(home, {"path": str(tmp_path / "nope"), "type": "DirectoryOrCreate"}, "v")
    assert not (tmp_path / "nope").exists()


def test_prepare_makes_folders_under_the_home_and_claims_outlive_the_node(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan = plan_of(
        [
            {"name": "code", "mountPath": "/home/ray/samples"},
            {"name": "data", "mountPath": "/data"},
            {"name": "s", "mountPath": "/etc/s", "subPath": "token"},
        ],
        [
            {"name": "code", "configMap": {"name": "code"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "db"}},
            {"name": "s", "secret": {"secretName": "s", "defaultMode": 0o400}},
        ],
    )
    objects: Mapping[tuple[str, str], Mapping[str, bytes]] = {
        ("ConfigMap", "code"): {"x.py": b"print(1)"},
        ("Secret", "s"): {"token": b"t"},
    }

    def lookup(kind: str, name: str) -> Mapping[str, bytes] | None:
        return objects.get((kind, name))

    got = prepare(
        home, "default", "c", "c-head-1", plan, lookup, PodInfo("c-head-1", "default"), WHERE
    )
    assert [b.target for b in got.binds] == ["/home/ray", "/home/ray/samples", "/data", "/etc/s"]
    for bind in got.binds:
        assert Path(bind.source).resolve().is_relative_to(home.resolve())
    token = Path(got.binds[3].source)
    assert token.read_bytes() == b"t" and oct(token.stat().st_mode & 0o777) == "0o400"
    claim = Path(got.binds[2].source)
    (claim / "rocksdb").write_text("gcs")
    mounts.remove_node(home, "default", "c", "c-head-1")
    assert (claim / "rocksdb").exists()  # the claim outlives the node
    assert not Path(got.binds[0].source).exists()
    objects = {("ConfigMap", "code"): {"x.py": b"print(2)"}, ("Secret", "s"): {"token": b"t"}}
    got = prepare(
        home, "default", "c", "c-head-2", plan, lookup, PodInfo("c-head-2", "default"), WHERE
    )
    objects = {("ConfigMap", "code"): {"x.py": b"print(3)"}, ("Secret", "s"): {"token": b"t"}}
    changed = refresh(home, "default", "c", "c-head-2", plan, lookup, PodInfo("c-head-2", "d"))
    assert changed == ["code"]
    assert (Path(got.binds[1].source) / "x.py").read_bytes() == b"print(3)"
    mounts.remove_cluster(home, "default", "c")
    assert not claim.exists()  # removed with its owner


def test_missing_mount_points_are_made_in_a_tmpfs_not_on_the_host() -> None:
    synth = sandbox.synthetic_dirs(
        ["/home/ray", "/home/ray/samples", "/opt/x/y"],
        exists=lambda p: p in ("/", "/home", "/opt"),
    )
    assert synth == {"/home", "/opt"}  # /home/ray/samples is made in /home/ray's bind
    assert sandbox.synthetic_dirs(["/data"], exists=lambda p: p == "/") == {"/"}


def _run(view: View, script: str, *, user: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = sandbox.command(["/bin/sh", "-c", script], view)
    if user:
        argv = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@needs_bwrap
def test_inside_the_view_the_volumes_are_at_their_paths_and_the_host_is_untouched(
    tmp_path: Path,
) -> None:
    assert sandbox.unavailable() == ""
    src = tmp_path / "code"
    write_atomic(src, [File("sample_code.py", b"print('ok')")])
    work = tmp_path / "work"
    work.mkdir()
    target = f"/rayplane-test-{os.getpid()}/samples"
    view = View(
        (
            Bind(str(work), "/home/ray"),
            Bind(str(src), target, read_only=True),
            Bind("", "/scratch-t", size=2**20),
        ),
        "/home/ray",
    )
    proc = _run(
        view,
        f"pwd; cat {target}/sample_code.py; touch {target}/x; touch /home/ray/w; df /scratch-t",
    )
    assert "/home/ray\nprint('ok')" in proc.stdout, proc.stderr
    assert "Read-only file system" in proc.stderr
    assert (work / "w").exists()  # the working dir is the node's folder under the home
    assert not Path(target).parent.exists()
    assert not Path("/scratch-t").exists()


@needs_bwrap
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody"
)
def test_an_unprivileged_user_gets_the_same_view() -> None:
    # pytest's own temp root is root-only; nobody must be able to reach the folders.
    tmp_path = Path(tempfile.mkdtemp(prefix="rayplane-volumes-"))
    tmp_path.chmod(0o755)
    try:
        _unprivileged(tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def _unprivileged(tmp_path: Path) -> None:
    src = tmp_path / "code"
    write_atomic(src, [File("sample_code.py", b"print('ok')")])
    for path in (src, *src.iterdir()):
        if not path.is_symlink():
            path.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    shutil.chown(work, "nobody")
    view = View(
        (Bind(str(work), "/home/ray"), Bind(str(src), "/home/ray/samples", True)), "/home/ray"
    )
    proc = _run(
        view, "id -un; cat /home/ray/samples/sample_code.py; touch /home/ray/w", user="nobody"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["nobody", "print('ok')"]
    assert (work / "w").exists()


def test_a_sub_path_through_a_symlink_planted_in_a_claim_is_not_mounted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan = plan_of(
        [{"name": "data", "mountPath": "/data", "subPath": "escape"}],
        [{"name": "data", "persistentVolumeClaim": {"claimName": "db"}}],
    )
    claim = mounts.make_dir(home, "volumes", "default", "c", "claims", "db")
    (claim / "escape").symlink_to("/etc")  # what a process in the node could leave there
    got = prepare(home, "default", "c", "h", plan, lambda k, n: None, PodInfo("h", "d"), WHERE)
    assert [b.target for b in got.binds] == ["/home/ray"]
    assert "/data" in got.missing[0] and "leaves its volume" in got.missing[0]


@needs_bwrap
def test_a_node_in_a_view_gets_the_drain_signal_and_leaves_nothing(tmp_path: Path) -> None:
    from rayplane.local.node_launcher import ProcessLauncher

    (tmp_path / "w").mkdir()
    launcher = ProcessLauncher()
    script = "trap 'echo drained; exit 0' TERM; sleep 300 & while true; do sleep 0.1; done"
    view = View((Bind(str(tmp_path / "w"), "/home/ray"),), "/home/ray")
    started = launcher.start(["/bin/sh", "-c", script], {}, tmp_path / "log", view=view)
    try:
        tree = [started.pid] + [p.pid for p in psutil.Process(started.pid).children(recursive=True)]
        launcher.stop(started.pid, started.create_time, 10, marker=started.marker)
        assert "drained" in (tmp_path / "log").read_text()  # SIGTERM reached sh, not just bwrap
        assert not [
            pid
            for pid in tree
            if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        ]
    finally:
        launcher.close()


def test_the_home_stays_visible_under_a_mount_over_its_parent(tmp_path: Path) -> None:
    # Inside the rayproject/ray image the home is /home/ray/.rayplane; here the same shape
    # with a workingDir over the home's parent and a mountPath over the temp root.
    home = tmp_path / "ray" / ".rayplane"
    temp = tmp_path / "t"
    spec = {
        "containers": [
            {
                "name": "ray-head",
                "workingDir": str(tmp_path / "ray"),
                "volumeMounts": [{"name": "scratch", "mountPath": str(tmp_path)}],
            }
        ],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
    }
    plan = plan_volumes(spec, WHERE)
    got = prepare(
        home, "default", "c", "h", plan, lambda k, n: None, PodInfo("h", "d"), WHERE, keep=(temp,)
    )
    targets = [b.target for b in got.binds]
    assert targets[-2:] == [str(home.resolve()), str(temp.resolve())]
    plain = plan_volumes({"containers": [{"name": "ray-head"}]}, WHERE)
    got = prepare(
        home, "default", "c", "h2", plain, lambda k, n: None, PodInfo("h", "d"), WHERE, keep=(temp,)
    )
    assert [b.target for b in got.binds] == ["/home/ray"]  # nothing extra when not hidden
