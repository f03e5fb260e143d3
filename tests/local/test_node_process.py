"""Local Ray nodes as processes: ports, loopback, spawn, stop.

The fast tests pin the pieces down with plain processes. The ``ray`` tests start one real
cluster (a head and a worker, started in parallel) for the whole module, because a head
takes about 8 s to start on the 2-core CI machine, and prove the promises the runtime
builds on: both nodes register, nothing listens off loopback, a job submitted through
the dashboard succeeds, and a stop leaves no process and no port behind.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from rayplane.local import loopback, ports, process, ray_cli
from tests.support import wait_for

OBJECT_STORE_BYTES = 78643200
# Timings measured by the cluster fixture, printed at the end of the module (pytest -s).
TIMINGS: dict[str, float] = {}


# ----------------------------------------------------------------------------- ports


def test_allocated_ports_are_distinct_free_and_respect_exclude() -> None:
    rng = random.Random(7)
    head = ports.allocate_node_ports(head=True, rng=rng)
    assert head.is_head
    assert head.max_worker - head.min_worker + 1 == ports.DEFAULT_WORKER_PORT_COUNT
    worker = ports.allocate_node_ports(head=False, exclude=head.all_ports(), rng=rng)
    assert not worker.is_head
    assert worker.gcs is None and worker.dashboard is None
    assert head.all_ports().isdisjoint(worker.all_ports())
    # 11 single head ports + the worker range; 6 single worker ports + the range.
    assert len(head.all_ports()) == 11 + ports.DEFAULT_WORKER_PORT_COUNT
    assert len(worker.all_ports()) == 6 + ports.DEFAULT_WORKER_PORT_COUNT
    assert all(ports.port_is_free(p) for p in head.all_ports() | worker.all_ports())


def test_busy_and_excluded_ports_are_skipped() -> None:
    with socket.socket() as busy:
        busy.bind((loopback.LOOPBACK_IP, 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        assert not ports.port_is_free(busy_port)
        assert not ports.port_is_free(busy_port, reuse_addr=True)
    # An allocator forced to a tiny pool must step around excluded ports.
    first, last = ports.find_free_range(3, rng=random.Random(1))
    picked = ports.find_free_ports(5, exclude=range(first, last + 1), rng=random.Random(1))
    assert len(set(picked)) == 5
    assert not set(picked) & set(range(first, last + 1))


def test_ports_round_trip_through_the_store_form() -> None:
    head = ports.allocate_node_ports(head=True, rng=random.Random(3))
    worker = ports.allocate_node_ports(head=False, exclude=head.all_ports())
    stored = [json.loads(json.dumps(n.as_dict())) for n in (head, worker)]
    assert [ports.NodePorts.from_dict(d) for d in stored] == [head, worker]
    assert ports.ports_in_use(stored) == head.all_ports() | worker.all_ports()
    assert set(head.env()) == {"AUTOSCALER_METRIC_PORT", "DASHBOARD_METRIC_PORT"}
    assert worker.env() == {}
    assert f"--port={head.gcs}" in head.start_args()
    assert not any(a.startswith(("--port=", "--dashboard")) for a in worker.start_args()[6:])


# -------------------------------------------------------------------------- loopback


def test_node_env_forces_loopback_and_keeps_caller_choices() -> None:
    env = loopback.node_env(
        {
            "RAY_AUTH_MODE": "token",
            "RAY_CLOUD_INSTANCE_ID": "c-head-0",
            loopback.CLUSTER_SWITCH_ENV: "1",
        },
        base={"PATH": "/bin"},
    )
    assert env[loopback.CLUSTER_SWITCH_ENV] == "0"
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["RAY_CLOUD_INSTANCE_ID"] == "c-head-0"
    assert env["RAY_USAGE_STATS_ENABLED"] == "0"
    # `python` in a job's entrypoint is the Python that runs Ray, as in a Ray image.
    assert env["PATH"] == os.path.dirname(sys.executable) + os.pathsep + "/bin"
    assert loopback.node_env({"PATH": "/opt/bin"}, base={"PATH": "/bin"})["PATH"] == "/opt/bin"
    assert loopback.node_env({}, base={})["RAY_AUTH_MODE"] == "disabled"


def test_node_ip_is_pinned_to_loopback() -> None:
    pinned = loopback.enforce_node_ip(["--head", "--node-ip-address", "127.0.0.1", "--block"])
    assert pinned == ["--head", "--block", "--node-ip-address=127.0.0.1"]
    with pytest.raises(ValueError, match=r"must use 127\.0\.0\.1"):
        loopback.enforce_node_ip(["--node-ip-address=192.0.2.2"])
    argv = loopback.ray_start_argv(["--head"])
    assert argv[1:4] == ["-m", "rayplane.local.ray_cli", "start"]


def test_cli_accepts_only_start() -> None:
    # `ray stop` kills every Ray process of the user on the host, never just one node.
    assert ray_cli.main(["stop", "--force"]) == 2
    assert ray_cli.main(["start", "--node-ip-address=10.0.0.1"]) == 2


# --------------------------------------------------------------------------- process


def _sh(tmp_path: Path, script: str) -> process.NodeProcess:
    return process.spawn(["/bin/sh", "-c", script], {}, tmp_path / "node.log")


def _marked(marker: str) -> list[int]:
    out = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(process.MARKER_ENV) == marker:
                out.append(proc.pid)
        except psutil.Error:
            continue
    return out


def _sessions(marker: str) -> dict[int, int]:
    """Session of each marked process that still exists: the loop's `sleep 0.1`
    children come and go between the listing and the question."""
    return {pid: sid for pid in _marked(marker) if (sid := _sid(pid)) is not None}


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


@pytest.mark.timeout(60)
def test_spawn_runs_in_own_group_and_logs(tmp_path: Path) -> None:
    node = _sh(tmp_path, f'echo "$RAY_AUTH_MODE ${loopback.CLUSTER_SWITCH_ENV}"; exec sleep 30')
    try:
        assert node.pgid == node.pid == os.getpgid(node.pid) != os.getpgid(0)
        assert process.is_alive(node.pid, node.create_time)
        # PID reuse: same PID, different start time is not our process.
        assert not process.is_alive(node.pid, node.create_time - 5)
        wait_for(lambda: (tmp_path / "node.log").read_text().strip(), 10, "log output")
        assert (tmp_path / "node.log").read_text().split() == ["disabled", "0"]
    finally:
        result = process.stop_group(node.pgid, node.pid, node.create_time, 5, marker=node.marker)
    assert result.graceful  # sleep dies of SIGTERM
    assert not process.is_alive(node.pid, node.create_time)


@pytest.mark.timeout(60)
def test_stop_kills_escaped_sessions_and_stubborn_processes(tmp_path: Path) -> None:
    # A root that ignores SIGTERM, with a child that left the session (as Ray's job
    # supervisor does for drivers) and a grandchild orphaned to init.
    script = (
        "trap '' TERM; "
        "setsid sleep 300 & "
        "(sleep 300 &) ; "
        "echo started; while true; do sleep 0.1; done"
    )
    node = _sh(tmp_path, script)
    wait_for(lambda: "started" in (tmp_path / "node.log").read_text(), 10, "start")
    wait_for(lambda: len(_marked(node.marker)) >= 3, 10, "children")
    escaped = [pid for pid, sid in _sessions(node.marker).items() if sid != node.pid]
    assert escaped, "the setsid child should be in another session"
    result = process.stop_group(node.pgid, node.pid, node.create_time, 0.5, marker=node.marker)
    assert not result.graceful
    assert set(escaped) <= set(result.killed)
    wait_for(lambda: not _marked(node.marker), 10, "every marked process to be gone")
    # Idempotent: stopping a stopped node is a no-op.
    again = process.stop_group(node.pgid, node.pid, node.create_time, 1, marker=node.marker)
    assert again.killed == () and not again.graceful


def test_listening_addresses_normalises_ipv4_mapped(tmp_path: Path) -> None:
    code = (
        "import socket,time\n"
        "s=socket.socket(socket.AF_INET6); s.bind(('::ffff:127.0.0.1',0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True); time.sleep(30)\n"
    )
    node = process.spawn([sys.executable, "-c", code], {}, tmp_path / "l.log")
    try:
        port = int(wait_for(lambda: (tmp_path / "l.log").read_text().strip(), 15, "port"))
        assert process.listening_addresses(node.pid, node.create_time) == {("127.0.0.1", port)}
    finally:
        process.stop_group(node.pgid, node.pid, node.create_time, 5, marker=node.marker)


# -------------------------------------------------------------------- a real cluster


@dataclass
class Node:
    proc: process.NodeProcess
    ports: ports.NodePorts
    log: Path


@dataclass
class Cluster:
    head: Node
    worker: Node
    base: Path

    @property
    def dashboard(self) -> str:
        return f"http://{loopback.LOOPBACK_IP}:{self.head.ports.dashboard}"

    @property
    def gcs(self) -> str:
        return f"{loopback.LOOPBACK_IP}:{self.head.ports.gcs}"


def _alive_nodes(dashboard: str) -> list[dict[str, Any]] | None:
    try:
        body = httpx.get(f"{dashboard}/nodes?view=summary", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None
    return [n["raylet"] for n in body["data"]["summary"] if n["raylet"]["state"] == "ALIVE"]


def _start_node(base: Path, name: str, args: list[str], node_ports: ports.NodePorts) -> Node:
    env = {
        # What the local runtime injects, as KubeRay does on Kubernetes.
        "RAY_CLOUD_INSTANCE_ID": f"test-{name}",
        "RAY_NODE_TYPE_NAME": name,
        # A test wants a quick stop; a graceful stop keeps the default (30 s).
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "5",
        **node_ports.env(),
    }
    argv = loopback.ray_start_argv(
        [
            "--block",
            "--num-cpus=1",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            f"--temp-dir={base / name}",
            *node_ports.start_args(),
            *args,
        ]
    )
    log = base / f"{name}.log"
    return Node(process.spawn(argv, env, log), node_ports, log)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Unix sockets live under --temp-dir and Linux caps their path at 107 bytes.
    base = Path(tempfile.mkdtemp(prefix="rpn", dir="/tmp"))
    head_ports = ports.allocate_node_ports(head=True)
    worker_ports = ports.allocate_node_ports(head=False, exclude=head_ports.all_ports())
    nodes: list[Node] = []
    try:
        t0 = time.monotonic()
        head = _start_node(base, "head", ["--head"], head_ports)
        nodes.append(head)
        # The worker is started at once: `ray start --address` retries until the GCS is up.
        worker = _start_node(
            base, "worker", [f"--address={loopback.LOOPBACK_IP}:{head_ports.gcs}"], worker_ports
        )
        nodes.append(worker)
        c = Cluster(head, worker, base)
        wait_for(lambda: _alive_nodes(c.dashboard), 120, "the head in the GCS")
        TIMINGS["head up (dashboard answers)"] = time.monotonic() - t0
        wait_for(
            lambda: len(_alive_nodes(c.dashboard) or []) == 2 or None, 120, "the worker to join"
        )
        TIMINGS["head+worker both alive"] = time.monotonic() - t0
        yield c
    except BaseException:
        for n in nodes:
            sys.stderr.write(f"--- {n.log}\n{n.log.read_text()[-3000:]}\n")
        raise
    finally:
        for n in nodes:
            p = n.proc
            process.stop_group(p.pgid, p.pid, p.create_time, 5, marker=p.marker)
        print("\nnode timings:", {k: round(v, 2) for k, v in TIMINGS.items()})
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_both_nodes_alive_in_gcs_on_loopback(cluster: Cluster) -> None:
    raylets = _alive_nodes(cluster.dashboard) or []
    assert len(raylets) == 2
    assert {r["nodeManagerAddress"] for r in raylets} == {loopback.LOOPBACK_IP}
    assert sorted(r["isHeadNode"] for r in raylets) == [False, True]
    # A driver on this host reaches the loopback GCS, given the loopback environment.
    code = (
        f"import json, ray; ray.init(address={cluster.gcs!r}); "
        "print(json.dumps([[n['Alive'], n['NodeManagerAddress']] for n in ray.nodes()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=loopback.driver_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[True, "127.0.0.1"]] * 2


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_job_submitted_through_dashboard_succeeds(cluster: Cluster) -> None:
    driver = (
        "import ray\n"
        "ray.init()\n"
        "f = ray.remote(lambda: ray.util.get_node_ip_address())\n"
        "refs = [f.options(scheduling_strategy='SPREAD').remote() for _ in range(4)]\n"
        "print('ips', set(ray.get(refs)))\n"
    )
    entrypoint = f"python -c {shlex.quote(driver)}"
    with httpx.Client(base_url=cluster.dashboard, timeout=60) as client:
        t0 = time.monotonic()
        resp = client.post("/api/jobs/", json={"entrypoint": entrypoint})
        assert resp.status_code == 200, resp.text
        job_id = resp.json()["submission_id"]

        def finished() -> dict[str, object] | None:
            info: dict[str, object] = client.get(f"/api/jobs/{job_id}").json()
            return info if info["status"] in ("SUCCEEDED", "FAILED", "STOPPED") else None

        info = wait_for(finished, 180, "the job to finish")
        TIMINGS["job submit -> SUCCEEDED"] = time.monotonic() - t0
        logs = client.get(f"/api/jobs/{job_id}/logs").json()["logs"]
        assert info["status"] == "SUCCEEDED", logs
        assert "ips {'127.0.0.1'}" in logs
        # A long job, left running: its driver runs in a session of its own, so only the
        # node's marker ties it to the head. The stop test proves it is killed.
        resp = client.post("/api/jobs/", json={"entrypoint": "sleep 600"})
        assert resp.status_code == 200, resp.text
        long_id = resp.json()["submission_id"]
        wait_for(
            lambda: client.get(f"/api/jobs/{long_id}").json()["status"] == "RUNNING" or None,
            120,
            "the long job to run",
        )


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_every_listener_is_on_loopback_and_pinned(cluster: Cluster) -> None:
    for node in (cluster.head, cluster.worker):
        p = node.proc
        addresses = process.listening_addresses(p.pid, p.create_time, marker=p.marker)
        assert addresses, node.log
        off_loopback = {a for a in addresses if a[0] != loopback.LOOPBACK_IP}
        assert not off_loopback, f"{node.log.name} listens off loopback: {off_loopback}"
        listened = {port for _, port in addresses}
        singles = node.ports.all_ports() - set(
            range(node.ports.min_worker, node.ports.max_worker + 1)
        )
        assert singles <= listened, f"not listening: {singles - listened}"
        assert listened <= node.ports.all_ports(), f"unpinned: {listened - node.ports.all_ports()}"


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_stop_leaves_no_process_and_no_port(cluster: Cluster) -> None:
    snapshots = {}
    for node in (cluster.worker, cluster.head):
        p = node.proc
        snapshots[node.log.name] = process.node_processes(
            p.pid, p.create_time, pgid=p.pgid, marker=p.marker
        )
    head_sid = cluster.head.proc.pid
    sids = {_sid(q.pid) for q in snapshots["head.log"]} - {None}
    assert any(sid != head_sid for sid in sids), (
        "expected the running job's driver in a session of its own"
    )
    for node in (cluster.worker, cluster.head):
        p = node.proc
        result = process.stop_group(p.pgid, p.pid, p.create_time, 60, marker=p.marker)
        TIMINGS[f"stop {node.log.stem} (SIGTERM, drain timeout 5 s)"] = result.elapsed_s
        assert not process.is_alive(p.pid, p.create_time)
        assert _marked(p.marker) == []
        left = [q.pid for q in snapshots[node.log.name] if q.is_running()]
        left = [pid for pid in left if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        assert left == [], f"{node.log.name}: left alive {left}"
    everything = cluster.head.ports.all_ports() | cluster.worker.ports.all_ports()
    listening = {
        c.laddr.port
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr
    }
    assert not everything & listening
    assert all(ports.port_is_free(port, reuse_addr=True) for port in everything)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["/usr/bin:/bin", ""])
def test_python_in_a_node_is_the_python_that_runs_ray(tmp_path: Path, path: str) -> None:
    """A job's `python x.py` must find Ray, as in a Ray image, even when the controller's
    PATH (a notebook kernel's, a venv not activated) finds another python first."""
    log = tmp_path / "node.log"
    node = process.spawn(
        ["/bin/sh", "-c", 'command -v python; echo "$PATH"'], {}, log, base_env={"PATH": path}
    )
    wait_for(lambda: len(log.read_text().splitlines()) == 2, 10, "the node's output")
    found, seen = log.read_text().splitlines()
    process.stop_group(node.pgid, node.pid, node.create_time, 5, marker=node.marker)
    assert Path(found).parent == Path(sys.executable).parent
    assert seen == os.path.dirname(sys.executable) + (os.pathsep + path if path else "")


def test_a_path_the_user_sets_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    node = process.spawn(["/bin/sh", "-c", 'echo "$PATH"'], {"PATH": "/opt/x:/bin"}, log)
    wait_for(lambda: log.read_text().strip(), 10, "the node's output")
    process.stop_group(node.pgid, node.pid, node.create_time, 5, marker=node.marker)
    assert log.read_text().strip() == "/opt/x:/bin"
