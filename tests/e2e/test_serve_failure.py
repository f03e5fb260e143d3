"""Issue 14, item 4: a RayService whose Serve app cannot deploy ends `apply` with its cause.

The app's working_dir is a URL on 127.0.0.1 where nothing listens, as KubeRay's
ray-service.different-port.yaml names a github.com zip a machine without network cannot
fetch. Before this, `apply` printed "created" and then nothing until its timeout, and
`describe` dumped a 60-line traceback into a table cell. Now `apply` exits 1 with the cause
on one line (the URL and why it failed), `describe` shows that line and the failure log's
path, and `logs rayservice/NAME` prints Serve's full text. No timing is asserted; apply's
--timeout and the subprocess timeout are safety nets.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Local
from tests.support import free_port

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

NAME = "unfetchable"


def service_yaml(url: str) -> str:
    return f"""
apiVersion: ray.io/v1
kind: RayService
metadata: {{name: {NAME}}}
spec:
  serveConfigV2: |
    applications:
      - name: fruit_app
        import_path: fruit.deployment_graph
        route_prefix: /fruit
        runtime_env:
          working_dir: "{url}"
  rayClusterConfig:
    headGroupSpec:
      rayStartParams: {{}}
      template:
        spec:
          containers:
          - name: ray-head
            image: rayproject/ray:2.60.0
            resources: {{limits: {{cpu: "1", memory: 2Gi}}}}
"""


def test_apply_of_a_service_whose_app_fails_exits_with_the_cause(local: Local) -> None:
    url = f"http://127.0.0.1:{free_port()}/app.zip"  # nothing listens there
    applied = local.run(
        "apply", "-f", "-", "--timeout", "600", input=service_yaml(url), check=False, timeout=800
    )
    output = applied.stdout + applied.stderr
    assert applied.returncode == 1, output
    assert "timed out" not in output, output
    cause = [line for line in output.splitlines() if f"cannot fetch {url}" in line]
    assert len(cause) == 1, output
    assert "app fruit_app: DEPLOY_FAILED: runtime env setup failed: " in cause[0]
    assert "requests.exceptions.ConnectionError" in cause[0]
    assert "Connection refused" in cause[0]
    assert f"full text: rayplane logs rayservice/{NAME}" in cause[0]
    # Node progress of the service's cluster was shown while it came up.
    assert f"{NAME}-" in output and "-head-" in output and "(headgroup)" in output, output

    log = local.home / "logs" / "default" / NAME / "serve-failures.log"
    described = local.run("describe", "rayservice", NAME).stdout
    assert f"failure log: {log} (rayplane logs rayservice/{NAME})" in described
    assert f"cannot fetch {url}" in described
    assert "Traceback" not in described
    assert "ServeAppFailed" in described  # the Warning event

    logs = local.run("logs", f"rayservice/{NAME}")
    assert str(log) in logs.stderr
    assert logs.stdout.startswith("=== ")
    assert "Traceback (most recent call last):" in logs.stdout
    assert "RuntimeEnvSetupError" in logs.stdout and "Connection refused" in logs.stdout
    head = local.run("logs", f"rayservice/{NAME}", "--node", "headgroup")
    assert head.stdout.strip() and "Traceback (most recent call last):" not in head.stdout

    local.run("delete", "rayservice", NAME, timeout=300)
    assert not log.exists()
