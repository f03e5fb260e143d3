"""A resource with only ``metadata.generateName`` (three of KubeRay's RayJob samples) is
created with a generated name, as ``kubectl create`` does, and each apply makes a new one."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rayplane.cli.main import app
from rayplane.local.client import ControllerClient
from rayplane.settings import load_local

# Suspended, so the controller stores it and starts no Ray node.
JOB = """\
apiVersion: ray.io/v1
kind: RayJob
metadata:
  generateName: rayjob-sample-
spec:
  suspend: true
  shutdownAfterJobFinishes: true
  entrypoint: python -c "print(1)"
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers:
          - name: ray-head
            image: rayproject/ray:2.46.0
"""


def test_each_apply_of_a_generate_name_creates_a_new_named_object(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(JOB)
    cli = CliRunner()
    names = []
    for _ in range(2):
        applied = cli.invoke(app, ["apply", "--no-wait", "-f", str(path)])
        assert applied.exit_code == 0, applied.output
        line = next(x for x in applied.stdout.splitlines() if x.startswith("rayjob"))
        assert line.endswith("created (named from metadata.generateName)")
        names.append(line.split()[0].split("/", 1)[1])
    assert names[0] != names[1]
    ctl = ControllerClient(load_local())
    stored = sorted(obj["metadata"]["name"] for obj in ctl.list("RayJob", "default"))
    ctl.close()
    assert stored == sorted(names)
    prefix = "rayjob-sample-"
    assert all(n.startswith(prefix) and len(n) == len(prefix) + 5 for n in names)
