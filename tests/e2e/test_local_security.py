"""What a RayCluster cannot switch off on the local runtime, and what it is told.

A user's rayStartParams cannot move a listener off loopback, whatever spelling reaches
`ray start`'s options; a security setting the runtime does not give is said first by
`apply` and named by `describe`, never silently accepted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayplane.local.store import Store
from tests.e2e.conftest import Local
from tests.support import ROOT, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

HOSTILE_PARAMS = {
    "dashboard-host=0.0.0.0": "true",  # renders as a second --dashboard-host
    "dashboard-host": "0.0.0.0",
    "node-ip-address": "0.0.0.0",
    "ray-debugger-external": "true",
    "port": "6379",
    "num-cpus": "1",
}


def _cluster(name: str, head_params: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": head_params,
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "x"}]}},
            },
            **spec,
        },
    }


def _process_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ")".
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def _socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)
    # /proc prints an IPv6 address as four host-order 32-bit words.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words), int(port, 16)


def _listeners(pgid: int) -> set[tuple[str, int]]:
    """Every TCP socket in LISTEN state that a process of the group holds open."""
    inodes = _socket_inodes(_process_group(pgid))
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: TCP_LISTEN
                found.add(_address(fields[1]))
    return found


def _head(local: Local, name: str) -> dict[str, Any] | None:
    detail = local.detail(name) or {}
    nodes = (detail.get("local") or {}).get("nodes", [])
    head = next((n for n in nodes if n["kind"] == "head" and n["state"] == "ready"), None)
    return dict(head) if head else None


def test_hostile_ray_start_params_leave_every_listener_on_loopback(local: Local) -> None:
    # Stored as it is, as if validation had let a spelling through: the runtime's command
    # line alone has to keep the node on loopback.
    store = Store(local.home / "state.db")
    try:
        store.put("RayCluster", "default", "hostile", _cluster("hostile", HOSTILE_PARAMS))
    finally:
        store.close()
    try:
        head = wait_for(lambda: _head(local, "hostile"), 300, "the hostile head to be ready")
        listeners = _listeners(os.getpgid(head["pid"]))
        assert ("127.0.0.1", head["ports"]["dashboard"]) in listeners
        off = {a for a in listeners if a[0] not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")}
        assert not off, f"listening off loopback: {off}"
        text = local.run("describe", "raycluster", "hostile").stdout
        for key in HOSTILE_PARAMS.keys() - {"num-cpus"}:
            assert f"rayStartParams.{key}=" in text and "is not used locally" in text
    finally:
        local.run("delete", "raycluster", "hostile", timeout=180)


def test_apply_says_first_that_token_auth_is_switched_off_and_describe_names_it(
    local: Local, tmp_path: Path
) -> None:
    doc = _cluster("tokenless", {"dashboard-host": "0.0.0.0"}, suspend=True)
    doc["spec"]["authOptions"] = {"mode": "disabled"}  # the local default is token
    path = tmp_path / "tokenless.yaml"
    path.write_text(yaml.safe_dump(doc))
    applied = subprocess.run(
        [sys.executable, "-m", "rayplane", "apply", "--no-wait", "-f", str(path)],
        env=local.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream: the warning must come before anything else
        text=True,
        timeout=120,
        cwd=ROOT,
        check=True,
    )
    try:
        first = applied.stdout.splitlines()[0]
        assert first.startswith("WARNING RayCluster/tokenless: spec.authOptions.mode is disabled")
        assert "without a token" in applied.stdout
        assert "rayStartParams.dashboard-host='0.0.0.0' is not used locally" in applied.stdout
        assert "raycluster.ray.io/tokenless created" in applied.stdout
        text = local.run("describe", "raycluster", "tokenless").stdout
        assert "spec.authOptions.mode is disabled" in " ".join(text.split())
        assert "mode: disabled" in text
    finally:
        local.run("delete", "raycluster", "tokenless", timeout=180)
