"""GCS fault tolerance without Redis: KubeRay's rocksdb backend on the local runtime.

`gcsFaultToleranceOptions.backend: rocksdb` (alpha gate GCSFaultToleranceEmbeddedStorage)
keeps the GCS tables on disk: locally under $RAYPLANE_HOME/gcs/<uid>, the twin of KubeRay's
PVC. A SIGKILLed head comes back on the same storage, so a detached actor on a worker
keeps its state, and deleting the cluster removes the storage.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from tests.e2e.conftest import Local, driver, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

CLUSTER = """
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: rocks}
spec:
  gcsFaultToleranceOptions: {backend: rocksdb}
  headGroupSpec:
    rayStartParams: {num-cpus: "0"}
    template:
      spec:
        containers: [{name: ray-head, image: rayproject/ray:2.60.0}]
  workerGroupSpecs:
  - groupName: w
    replicas: 1
    minReplicas: 1
    maxReplicas: 1
    rayStartParams: {num-cpus: "1"}
    template:
      spec:
        containers: [{name: ray-worker, image: rayproject/ray:2.60.0}]
"""

# The head offers no CPU, so the actor lives on the worker, which survives the head crash.
COUNTER = """
@ray.remote(num_cpus=0.5)
class Counter:
    def __init__(self): self.n = 0
    def incr(self): self.n += 1; return self.n
try:
    c = ray.get_actor("counter", namespace="rocks")
except ValueError:
    c = Counter.options(name="counter", namespace="rocks", lifetime="detached").remote()
print(ray.get(c.incr.remote()))
"""


def _head(local: Local) -> dict[str, object] | None:
    nodes = (local.detail("rocks") or {}).get("local", {}).get("nodes", [])
    return next((n for n in nodes if n["kind"] == "head"), None)


def test_head_crash_keeps_state_on_rocksdb_and_delete_removes_it(local: Local) -> None:
    local.run("apply", "-f", "-", "--timeout", "300", input=CLUSTER)
    try:
        found = local.detail("rocks") or {}
        uid = found["metadata"]["uid"]
        storage = local.home / "gcs" / uid
        gcs = f"127.0.0.1:{found['status']['endpoints']['gcs-server']}"
        assert driver(gcs, COUNTER).strip().endswith("1")
        head = _head(local)
        assert head is not None
        env = psutil.Process(int(str(head["pid"]))).environ()
        assert env["RAY_gcs_storage"] == "rocksdb"
        assert env["RAY_gcs_storage_path"] == str(storage)
        assert any(storage.iterdir()), "the GCS wrote nothing to its storage"

        os.killpg(int(str(head["pid"])), signal.SIGKILL)
        wait_for(
            lambda: (
                lambda h: h if h and h["name"] != head["name"] and h["state"] == "ready" else None
            )(_head(local)),
            180,
            "the head to come back",
        )
        # Same GCS address (stable head ports), same storage: the actor kept its count.
        assert driver(gcs, COUNTER).strip().endswith("2")
    finally:
        local.run("delete", "raycluster", "rocks", timeout=240)
    assert not storage.exists()
