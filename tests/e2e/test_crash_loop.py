"""A node that cannot start: apply ends with the reason instead of waiting forever."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Local

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

BROKEN = """
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: broken}
spec:
  headGroupSpec:
    rayStartParams: {no-such-flag: "1"}
    template:
      spec:
        containers: [{name: ray-head, image: rayproject/ray:2.60.0}]
"""


def test_apply_reports_a_crash_loop_with_the_log(local: Local) -> None:
    result = local.run("apply", "-f", "-", "--timeout", "200", input=BROKEN, check=False)
    try:
        assert result.returncode == 1
        assert "CrashLoop" in result.stderr
        assert "no-such-flag" in result.stderr  # the node's own log line says why
    finally:
        local.run("delete", "raycluster", "broken", timeout=120)
