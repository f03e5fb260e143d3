"""The seed's Ray Serve HA experiment (seeds/002), locally, with a real Redis.

A RayService with GCS fault tolerance serves a bounded load while its head's process
group is SIGKILLed: no request fails, the head comes back with the same storage
namespace, and a detached actor made before the crash still answers. The same service
then upgrades its cluster under load without a failed request, updates a Serve-only
change in place, and deletes without leaving Redis keys or processes. The contrast, the
same crash on the same shape of cluster without FT losing the actor, is in
test_gcs_fault_tolerance.py beside the rocksdb backend.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import psutil
import pytest
import yaml

from tests.e2e.conftest import Local, counter_script, driver
from tests.e2e.load import Load
from tests.support import ROOT, free_port, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(1200)]

ACTOR = counter_script(0.1)


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server, "redis-server is missing: scripts/install-test-services installs it"
        self.proc = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.keys("*") is not None, 20, "redis to answer")

    def keys(self, pattern: str) -> list[str] | None:
        try:
            out = subprocess.run(
                ["redis-cli", "-p", str(self.port), "--scan", "--pattern", pattern],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except subprocess.TimeoutExpired:
            return None
        return out.stdout.split() if out.returncode == 0 else None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    server = Redis()
    server.start()
    yield server
    server.stop()


def service_yaml(name: str, redis_port: int | None, greeting: str = "v1", replicas: int = 2) -> str:
    doc = yaml.safe_load((ROOT / "examples" / "rayservice-text.yaml").read_text())
    doc["metadata"]["name"] = name
    head = doc["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    if redis_port is None:
        del doc["metadata"]["annotations"]
        head["env"] = []
    else:
        head["env"] = [{"name": "RAY_REDIS_ADDRESS", "value": f"127.0.0.1:{redis_port}"}]
    for container in (
        head,
        doc["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0],
    ):
        container.setdefault("env", []).append({"name": "GREETING", "value": greeting})
    serve = yaml.safe_load(doc["spec"]["serveConfigV2"])
    serve["applications"][0]["deployments"][0]["num_replicas"] = replicas
    doc["spec"]["serveConfigV2"] = yaml.safe_dump(serve)
    return yaml.safe_dump(doc)


def detail(local: Local, name: str) -> dict[str, object]:
    from rayplane.local.client import ControllerClient
    from rayplane.settings import load_local

    os.environ["RAYPLANE_HOME"] = str(local.home)
    client = ControllerClient(load_local())
    try:
        found = client.get("RayService", "default", name)
    finally:
        client.close()
    assert found is not None
    return found


def head_of(local: Local, name: str) -> dict[str, object]:
    head = current_head(local, name)
    assert head is not None, f"{name} has no head node"
    return head


def current_head(local: Local, name: str) -> dict[str, object] | None:
    nodes = detail(local, name)["local"]["nodes"]  # type: ignore[index]
    return next((n for n in nodes if n["kind"] == "head"), None)  # type: ignore[union-attr]


def replaced_head(local: Local, name: str, old: str) -> dict[str, object] | None:
    """The new head once it is ready (there may be no head at all in between)."""
    head = current_head(local, name)
    return head if head and head["name"] != old and head["state"] == "ready" else None


def active_cluster(local: Local, name: str) -> str:
    status = local.get(name, "rayservice")["status"]
    return str(status["activeServiceStatus"]["rayClusterName"])


def gcs_address(local: Local, cluster: str) -> str:
    return f"127.0.0.1:{local.get(cluster)['status']['endpoints']['gcs-server']}"


@pytest.fixture(scope="module")
def ft_service(local: Local, redis: Redis) -> Iterator[str]:
    result = local.run("apply", "-f", "-", "--timeout", "400", input=service_yaml("ha", redis.port))
    assert "Endpoint: http://127.0.0.1:" in result.stdout
    yield result.stdout.split("Endpoint: ")[1].split()[0]
    # Delete while Redis still runs (the redis fixture ends before the session does).
    local.run("delete", "rayservice", "ha", check=False, timeout=300)


def test_head_crash_under_load_drops_no_request(
    local: Local, redis: Redis, ft_service: str
) -> None:
    cluster = active_cluster(local, "ha")
    assert driver(gcs_address(local, cluster), ACTOR).strip().endswith("1")
    head = head_of(local, "ha")
    namespace = psutil.Process(int(head["pid"])).environ()["RAY_external_storage_namespace"]
    assert redis.keys(f"RAY{namespace}@*"), "GCS state is not in Redis"
    load = Load(ft_service, rate=20, seconds=60).start()
    time.sleep(10)
    os.killpg(int(head["pid"]), signal.SIGKILL)
    result = load.wait()
    assert result.total == 1200
    assert result.failures == [], result.failures[:5]
    new_head = wait_for(
        lambda: replaced_head(local, "ha", str(head["name"])),
        180,
        "the head to come back",
    )
    assert (
        psutil.Process(int(new_head["pid"])).environ()["RAY_external_storage_namespace"]
        == namespace
    )
    # The detached actor made before the crash kept its state (1 -> 2).
    assert driver(gcs_address(local, cluster), ACTOR).strip().endswith("2")


def test_upgrade_under_load_moves_traffic_without_failures(
    local: Local, redis: Redis, ft_service: str
) -> None:
    before = active_cluster(local, "ha")
    # Load for the whole upgrade: pending cluster up, promotion, old cluster deleted.
    load = Load(ft_service, rate=20, seconds=600).start()
    try:
        local.run(
            "apply", "-f", "-", "--no-wait", input=service_yaml("ha", redis.port, greeting="v2")
        )
        after = wait_for(
            lambda: (lambda a: a if a != before else None)(active_cluster(local, "ha")),
            420,
            "the new cluster to be promoted",
        )
        wait_for(
            lambda: local.run("get", "raycluster", before, check=False).returncode == 1,
            120,
            "the old cluster to be deleted after rayClusterDeletionDelaySeconds",
        )
    finally:
        result = load.stop()
    assert result.failures == [], result.failures[:5]
    greetings = [b["greeting"] for b in result.bodies]
    assert greetings[0] == "v1" and greetings[-1] == "v2"  # old cluster first, then the new
    assert greetings.count("v2") > 20
    final = Load(ft_service, rate=5, seconds=2).start().wait()
    assert {b["greeting"] for b in final.bodies} == {"v2"}
    assert active_cluster(local, "ha") == after


def test_serve_config_change_updates_in_place(local: Local, redis: Redis, ft_service: str) -> None:
    cluster = active_cluster(local, "ha")
    local.run(
        "apply",
        "-f",
        "-",
        "--no-wait",
        input=service_yaml("ha", redis.port, greeting="v2", replicas=1),
    )

    def one_replica() -> str | None:
        # The app RUNNING again in status, and describe's Serve table showing the
        # deployment at 1 running of a target of 1.
        apps = local.get("ha", "rayservice")["status"]["activeServiceStatus"]
        if '"status": "RUNNING"' not in json.dumps(apps["applicationStatuses"]):
            return None
        text = local.run("describe", "rayservice", "ha").stdout
        serve = text[text.index("active cluster:") :]
        return text if " 1/1 " in serve and "RUNNING 1" in serve else None

    text = wait_for(one_replica, 120, "describe to show one running replica of one")
    assert f"active cluster: {cluster}" in text
    time.sleep(3)
    assert active_cluster(local, "ha") == cluster
    status = local.get("ha", "rayservice")["status"]
    assert not status.get("pendingServiceStatus", {}).get("rayClusterName")


def test_delete_leaves_no_redis_keys_and_no_process(
    local: Local, redis: Redis, ft_service: str
) -> None:
    head = head_of(local, "ha")
    namespace = psutil.Process(int(head["pid"])).environ()["RAY_external_storage_namespace"]
    pids = [int(n["pid"]) for n in detail(local, "ha")["local"]["nodes"]]  # type: ignore[index]
    result = local.run("delete", "rayservice", "ha", timeout=300)
    assert "cleaned Redis" in result.stderr
    assert redis.keys(f"RAY{namespace}@*") == []
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)


def test_delete_with_redis_down_finishes_and_says_so(local: Local) -> None:
    down = Redis()
    down.start()
    cluster = f"""
apiVersion: ray.io/v1
kind: RayCluster
metadata: {{name: ft-down, annotations: {{ray.io/ft-enabled: "true",
  ray.io/gcs-ft-deletion-timeout: "10"}}}}
spec:
  headGroupSpec:
    rayStartParams: {{}}
    template:
      spec:
        containers:
        - name: ray-head
          image: rayproject/ray:2.60.0
          env: [{{name: RAY_REDIS_ADDRESS, value: "127.0.0.1:{down.port}"}}]
"""
    local.run("apply", "-f", "-", "--timeout", "300", input=cluster)
    down.stop()
    start = time.monotonic()
    result = local.run("delete", "raycluster", "ft-down", timeout=200)
    assert time.monotonic() - start < 10 + 60
    assert "was not cleaned" in result.stderr
