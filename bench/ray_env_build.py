"""What a pinned rayVersion costs on the local runtime: the cold build, then warm starts.

One controller with RAYPLANE_RAY_VERSIONS=install on a fresh home. The baseline, measured
in the same run: a head-only RayCluster on the installed Ray, apply to Ready. Then the same
cluster pinned to VERSION: the first apply builds the env from the package index (cold:
pip download + install + bytecode), later applies find it cached (warm). Printed: seconds
for each and the warm/baseline ratio (goal: close to 1, the env only swaps the python).

Needs the package index. Run: python bench/ray_env_build.py [VERSION] [ROUNDS]
(default 2.59.0, 2 warm rounds).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from _common import controller, wait

from rayplane.local.ray_envs import installed_ray


def head_only(name: str, version: str) -> dict[str, Any]:
    container = {
        "name": "ray-head",
        "image": f"rayproject/ray:{version}",
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {
            "rayVersion": version,
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [container]}},
            },
        },
    }


def to_ready(client: Any, name: str, version: str) -> float:
    """Seconds from apply to Ready; the cluster is deleted afterwards."""
    start = time.monotonic()
    client.apply(head_only(name, version))
    wait(
        lambda: (
            ((client.get("RayCluster", "default", name) or {}).get("status") or {}).get("state")
            == "ready"
        ),
        900,
        poll=0.2,
    )
    elapsed = time.monotonic() - start
    client.delete("RayCluster", "default", name)
    wait(lambda: client.get("RayCluster", "default", name) is None, 120)
    return elapsed


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else "2.59.0"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    installed = installed_ray() or "?"
    if version == installed:
        raise SystemExit(f"{version} is the installed Ray; pick another version")
    with controller(
        RAYPLANE_RAY_VERSIONS="install",
        RAYPLANE_LOCAL_AUTOSCALER="0",
        RAYPLANE_OBJECT_STORE_BYTES=str(80 * 2**20),
    ) as client:
        base = [to_ready(client, f"base-{i}", installed) for i in range(rounds)]
        cold = to_ready(client, "cold", version)
        warm = [to_ready(client, f"warm-{i}", version) for i in range(rounds)]
    base_s, warm_s = min(base), min(warm)
    print(f"installed Ray {installed}, head to Ready (best of {rounds}): {base_s:6.1f} s")
    print(f"Ray {version}, cold (build + head to Ready):        {cold:6.1f} s")
    print(f"Ray {version}, warm (cached env, best of {rounds}):     {warm_s:6.1f} s")
    print(f"warm / installed ratio: {warm_s / base_s:.2f}   cold / installed: {cold / base_s:.1f}")


if __name__ == "__main__":
    main()
