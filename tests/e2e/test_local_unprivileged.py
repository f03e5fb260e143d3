"""The local runtime as a user without root: a RayJob whose head mounts a ConfigMap and a
Secret runs as ``nobody``, and the driver and a Ray task both see the mounted file.

Pod volumes come from bubblewrap in a user namespace, which needs no privilege where the
kernel allows it; as root every other test would pass even if that were not so. The test
drops to ``nobody`` with ``setpriv`` and gives it a virtualenv of its own, made with the
distribution's python (the test's interpreter may live under root's home, which nobody
cannot enter), with rayplane installed from this checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("bwrap") is None,
        reason="needs root (to drop to nobody), setpriv and bwrap",
    ),
]

SYSTEM_PYTHON = Path("/usr/bin/python3")

JOB = """
apiVersion: v1
kind: ConfigMap
metadata: {name: nob-code}
data:
  hello.py: |
    import os, stat, ray
    ray.init()
    print("driver sees:", open("/home/ray/samples/hello.py").readline().strip())
    mode = stat.S_IMODE(os.stat("/etc/creds/token").st_mode)
    print("secret mode:", oct(mode), "owner:", os.stat("/etc/creds/token").st_uid == os.getuid())
    @ray.remote
    def look():
        return open("/home/ray/samples/hello.py").readline().strip()
    print("task sees:", ray.get(look.remote()))
    print("cwd:", os.getcwd())
---
apiVersion: v1
kind: Secret
metadata: {name: nob-creds}
stringData: {token: s3cret}
---
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: nob-job}
spec:
  entrypoint: python /home/ray/samples/hello.py
  shutdownAfterJobFinishes: true
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers:
          - name: ray-head
            image: rayproject/ray:2.60.0
            resources: {limits: {cpu: "1", memory: 1Gi}}
            volumeMounts:
            - {name: code, mountPath: /home/ray/samples}
            - {name: creds, mountPath: /etc/creds, readOnly: true}
          volumes:
          - {name: code, configMap: {name: nob-code}}
          - {name: creds, secret: {secretName: nob-creds, defaultMode: 0400}}
"""


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A folder nobody can reach (pytest's temp root is root-only), with its own venv."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"{SYSTEM_PYTHON} is needed for a virtualenv nobody can run")
    work = Path(tempfile.mkdtemp(prefix="rpn-"))  # short: Ray's socket paths go below it
    work.chmod(0o755)
    try:
        venv = work / "venv"
        subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "-e", str(ROOT)], check=True, timeout=600
        )
        subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
        (work / "job.yaml").write_text(JOB)
        (work / "job.yaml").chmod(0o644)
        for folder in (work / "user", work / "t"):
            folder.mkdir()
            shutil.chown(folder, "nobody", "nogroup")
        yield work
    finally:
        _as_nobody(work, "controller", "stop", check=False)
        shutil.rmtree(work, ignore_errors=True)


def _as_nobody(work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    user = work / "user"
    env = {
        "HOME": str(user),
        "PATH": f"{work / 'venv' / 'bin'}:/usr/bin:/bin",
        "RAYPLANE_HOME": str(user / "rayplane"),
        "RAYPLANE_TEMP_ROOT": str(work / "t"),
        "LANG": "C.UTF-8",
    }
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    argv += [str(work / "venv" / "bin" / "rayplane"), *args]
    proc = subprocess.run(
        argv, env=env, cwd=user, capture_output=True, text=True, timeout=600, check=False
    )
    if check:
        assert proc.returncode == 0, f"rayplane {' '.join(args)} exited {proc.returncode}:\n" + (
            proc.stdout + proc.stderr
        )
    return proc


def test_a_user_without_root_runs_a_job_that_sees_its_mounts(workdir: Path) -> None:
    job = str(workdir / "job.yaml")
    said = _as_nobody(workdir, "apply", "-f", job, "--timeout", "400")
    text = said.stdout + said.stderr
    assert "RayJob default/nob-job succeeded" in text, text
    assert "driver sees: import os, stat, ray" in text, text
    assert "task sees: import os, stat, ray" in text, text
    assert "secret mode: 0o400 owner: True" in text, text
    assert "cwd: /home/ray" in text, text
    assert "volumes are not mounted" not in text, text
    # Nothing was created on the host at the mount paths.
    assert not Path("/home/ray").exists()
    assert not Path("/etc/creds").exists()
