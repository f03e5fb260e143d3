"""Pod volumes on the local runtime with real Ray (issue 17).

KubeRay's flagship ``ray-job.sample.yaml`` mounts its code from a ConfigMap at
``/home/ray/samples``; it runs here unchanged. A second cluster shows what a user of
volumes notices: the ConfigMap's file in the head, in a task on a worker and in the job
driver; a Secret file with mode 0400; an update of the ConfigMap reaching the mounted file;
a PVC folder that survives a SIGKILLed head and goes with the cluster.

These run as root here (CI does too); the same bwrap view as an unprivileged user is shown
by tests/local/test_volume_mounts.py::test_an_unprivileged_user_gets_the_same_view.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.e2e.conftest import Local
from tests.support import ROOT, wait_for

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(900),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed"),
]

SAMPLE = ROOT / "tests" / "e2e" / "data" / "ray-job.sample.yaml"


def test_kuberay_ray_job_sample_runs_unchanged(local: Local) -> None:
    result = local.run("apply", "-f", str(SAMPLE), "--timeout", "840", timeout=870)
    assert "rayjob.ray.io/rayjob-sample created" in result.stdout
    try:
        status = local.get("rayjob-sample", "rayjob")["status"]
        assert status["jobStatus"] == "SUCCEEDED", status
        logs = local.run("logs", "rayjob/rayjob-sample").stdout
        assert "test_counter got 5" in logs
        assert "can't open file" not in logs
    finally:
        local.run("delete", "rayjob", "rayjob-sample", "--timeout", "600", timeout=630)
    assert not (local.home / "volumes" / "default" / "rayjob-sample").exists()


CLUSTER = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: vol-code}}
data:
  hello.txt: "{hello}"
---
apiVersion: v1
kind: Secret
metadata: {{name: vol-creds}}
stringData: {{token: s3cret}}
---
apiVersion: ray.io/v1
kind: RayCluster
metadata: {{name: vols}}
spec:
  gcsFaultToleranceOptions: {{backend: rocksdb}}
  headGroupSpec:
    rayStartParams: {{num-cpus: "0"}}
    template:
      spec:
        containers:
        - name: ray-head
          image: rayproject/ray:2.60.0
          volumeMounts:
          - {{name: code, mountPath: /home/ray/samples}}
          - {{name: creds, mountPath: /etc/creds, readOnly: true}}
          - {{name: data, mountPath: /data}}
        volumes:
        - {{name: code, configMap: {{name: vol-code}}}}
        - {{name: creds, secret: {{secretName: vol-creds, defaultMode: 0400}}}}
        - {{name: data, persistentVolumeClaim: {{claimName: vols-data}}}}
  workerGroupSpecs:
  - groupName: w
    replicas: 1
    minReplicas: 1
    maxReplicas: 1
    rayStartParams: {{num-cpus: "1"}}
    template:
      spec:
        containers:
        - name: ray-worker
          image: rayproject/ray:2.60.0
          volumeMounts: [{{name: code, mountPath: /home/ray/samples}}]
        volumes: [{{name: code, configMap: {{name: vol-code}}}}]
"""

DRIVER = """
import os, stat, ray
ray.init()
@ray.remote(num_cpus=1)
def read():
    return ray.get_runtime_context().get_node_id(), open("/home/ray/samples/hello.txt").read()
node, text = ray.get(read.remote())
print("driver:", open("/home/ray/samples/hello.txt").read())
here = ray.get_runtime_context().get_node_id()
print("task:", text, "on the head" if node == here else "on a worker")
mode = oct(stat.S_IMODE(os.stat("/etc/creds/token").st_mode))
print("secret:", mode, open("/etc/creds/token").read())
print("cwd:", os.getcwd())
"""


def _job(local: Local, code: str) -> str:
    return local.run("job", "submit", "--cluster", "vols", "--", "python", "-c", code).stdout


def _head(local: Local) -> dict[str, object] | None:
    nodes = (local.detail("vols") or {}).get("local", {}).get("nodes", [])
    return next((n for n in nodes if n["kind"] == "head"), None)


def test_volumes_in_head_worker_and_driver_updates_and_a_claim_that_outlives_the_head(
    local: Local,
) -> None:
    local.run("apply", "-f", "-", "--timeout", "300", input=CLUSTER.format(hello="v1"))
    claim = local.home / "volumes" / "default" / "vols" / "claims" / "vols-data"
    try:
        out = _job(local, DRIVER)
        assert "driver: v1" in out
        assert "task: v1 on a worker" in out
        assert "secret: 0o400 s3cret" in out
        assert "cwd: /home/ray" in out
        # No mount point was made on the host.
        assert not Path("/home/ray/samples").exists() and not Path("/etc/creds").exists()
        described = local.run("describe", "raycluster", "vols").stdout
        assert "code (configMap vol-code:" in described and "-> /home/ray/samples (ro)" in described
        assert "-> /etc/creds (ro)" in described and "-> /data (rw)" in described

        # An update of the ConfigMap reaches the mounted file, as the kubelet's sync does.
        local.run("apply", "-f", "-", input=CLUSTER.format(hello="v2").split("---")[0])
        wait_for(lambda: "driver: v2" in _job(local, DRIVER), 120, "the mounted file to show v2")

        # The claim's folder survives the head's SIGKILL (GCS FT's rocksdb case).
        _job(local, "open('/data/marker', 'w').write('kept')")
        head = _head(local)
        assert head is not None
        os.killpg(int(str(head["pid"])), signal.SIGKILL)
        wait_for(
            lambda: (lambda h: h and h["name"] != head["name"] and h["state"] == "ready")(
                _head(local)
            ),
            420,  # a safety net: a loaded 2-core machine restarts a head slowly
            "the head to come back",
        )
        assert "kept" in _job(local, "print(open('/data/marker').read())")
        assert (claim / "marker").read_text() == "kept"
    finally:
        local.run("delete", "raycluster", "vols", timeout=240)
        local.run("delete", "configmap", "vol-code", check=False)
        local.run("delete", "secret", "vol-creds", check=False)
    assert not claim.exists()  # removed with its owner
