"""GCS fault tolerance, with and without: the same head crash on the same cluster shape.

With `gcsFaultToleranceOptions.backend: rocksdb` (KubeRay's alpha gate
GCSFaultToleranceEmbeddedStorage) the GCS keeps its tables on disk, locally under
$RAYPLANE_HOME/gcs/<uid> (the twin of KubeRay's PVC): a SIGKILLed head comes back on the
same storage, a detached actor on a worker keeps its state, and deleting the cluster
removes the storage. Without FT the new head starts a fresh GCS and the actor is gone:
that difference is what FT buys (the Redis backend's run is test_rayservice_ft.py).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import Local, counter_script, driver
from tests.support import wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

CLUSTER = """
apiVersion: ray.io/v1
kind: RayCluster
metadata: {{name: {name}}}
spec:
{ft}  headGroupSpec:
    rayStartParams: {{num-cpus: "0"}}
    template:
      spec:
        containers: [{{name: ray-head, image: rayproject/ray:2.60.0}}]
  workerGroupSpecs:
  - groupName: w
    replicas: 1
    minReplicas: 1
    maxReplicas: 1
    rayStartParams: {{num-cpus: "1"}}
    template:
      spec:
        containers: [{{name: ray-worker, image: rayproject/ray:2.60.0}}]
"""
ROCKSDB = "  gcsFaultToleranceOptions: {backend: rocksdb}\n"

# The head offers no CPU, so the actor lives on the worker, which survives the head crash.
COUNTER = counter_script(0.5)
# After the crash: the same actor's next count, or "missing" if the GCS forgot it (this
# needs no CPU, so it does not wait for a worker that a fresh GCS may have lost too).
AGAIN = """
try:
    c = ray.get_actor("counter", namespace="ft")
except ValueError:
    print("missing")
else:
    print(ray.get(c.incr.remote()))
"""


def _head(local: Local, name: str) -> dict[str, object] | None:
    nodes = (local.detail(name) or {}).get("local", {}).get("nodes", [])
    return next((n for n in nodes if n["kind"] == "head"), None)


def _crash_head(local: Local, name: str) -> str:
    """SIGKILL the head's process group, wait for its replacement; what AGAIN says then."""
    found = local.detail(name) or {}
    gcs = f"127.0.0.1:{found['status']['endpoints']['gcs-server']}"
    assert driver(gcs, COUNTER).strip().endswith("1")
    head = _head(local, name)
    assert head is not None
    os.killpg(int(str(head["pid"])), signal.SIGKILL)
    wait_for(
        lambda: (
            lambda h: h if h and h["name"] != head["name"] and h["state"] == "ready" else None
        )(_head(local, name)),
        180,
        "the head to come back",
    )
    # Same GCS address: head ports are stable across restarts.
    return driver(gcs, AGAIN).strip().splitlines()[-1]


def test_rocksdb_keeps_the_actor_through_a_head_crash_and_delete_removes_it(
    local: Local,
) -> None:
    local.run(
        "apply", "-f", "-", "--timeout", "300", input=CLUSTER.format(name="rocks", ft=ROCKSDB)
    )
    storage: Path | None = None
    try:
        uid = (local.detail("rocks") or {})["metadata"]["uid"]
        storage = local.home / "gcs" / uid
        head = _head(local, "rocks")
        assert head is not None
        env = psutil.Process(int(str(head["pid"]))).environ()
        assert env["RAY_gcs_storage"] == "rocksdb"
        assert env["RAY_gcs_storage_path"] == str(storage)
        assert _crash_head(local, "rocks") == "2"  # the actor kept its count
        assert any(storage.iterdir()), "the GCS wrote nothing to its storage"
    finally:
        local.run("delete", "raycluster", "rocks", timeout=240)
    assert storage is not None and not storage.exists()


def test_without_ft_the_same_crash_loses_the_actor(local: Local) -> None:
    local.run("apply", "-f", "-", "--timeout", "300", input=CLUSTER.format(name="no-ft", ft=""))
    try:
        assert _crash_head(local, "no-ft") == "missing"  # a fresh GCS forgot the actor
    finally:
        local.run("delete", "raycluster", "no-ft", timeout=240)
