"""kube-up's promises that need no running control plane: it never takes over a folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rayplane.kubernetes.testing.controlplane import ControlPlane


def test_kube_up_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "home"
    (precious / "etcd").mkdir(parents=True)
    (precious / "etcd" / "keep.txt").write_text("not kube-up's")
    answer = subprocess.run(
        [
            sys.executable,
            "-m",
            "rayplane.kubernetes.testing.controlplane",
            "up",
            f"--dir={precious}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert answer.returncode == 1
    assert "was not made by kube-up" in answer.stderr
    assert (precious / "etcd" / "keep.txt").read_text() == "not kube-up's"
    assert sorted(p.name for p in precious.iterdir()) == ["etcd"]


def test_down_without_up_stops_nothing(tmp_path: Path) -> None:
    assert ControlPlane(tmp_path / "never-up").down() == []
