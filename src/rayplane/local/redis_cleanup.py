"""Removing a deleted cluster's GCS keys from Redis, with Ray's own cleanup function.

It runs in a child process with a hard deadline: Ray's Redis client retries a dead server
for minutes, and a delete must finish in bounded time whatever Redis does (KubeRay users
have had clusters stuck Terminating on exactly this). Its arguments, the Redis password
among them, go in on stdin: a command line is readable by every user through /proc.
"""

from __future__ import annotations

import json
import subprocess
import sys

from rayplane.local.loopback import driver_env
from rayplane.reconcile.gcs_ft import GcsFt, split_redis_address

_SCRIPT = """
import json, sys
from ray._private.gcs_utils import cleanup_redis_storage
a = json.load(sys.stdin)
ok = cleanup_redis_storage(host=a["host"], port=a["port"], password=a["password"],
                           use_ssl=a["tls"], storage_namespace=a["namespace"])
print("cleaned" if ok else "nothing-removed")
"""


def clean_redis(ft: GcsFt, timeout_s: float) -> tuple[bool, str]:
    """(cleaned, what happened) for the FT namespace of *ft*."""
    if not ft.redis_address:
        return False, "no Redis address is known; the namespace was not cleaned"
    host, port, tls = split_redis_address(ft.redis_address)
    args = {
        "host": host,
        "port": port,
        "password": ft.redis_password or "",
        "tls": tls,
        "namespace": ft.namespace,
    }
    # Fail fast on a dead Redis instead of Ray's default of minutes of retries.
    env = driver_env(
        {"RAY_redis_db_connect_retries": "5", "RAY_redis_db_connect_wait_milliseconds": "500"}
    )
    where = f"Redis {host}:{port} namespace {ft.namespace}"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            input=json.dumps(args),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return False, f"{where} was not cleaned: no answer within {timeout_s:.0f}s"
    if proc.returncode == 0:
        return True, f"cleaned {where}"
    return False, f"{where} was not cleaned: {_why(proc.stderr)}"


def _why(stderr: str) -> str:
    """The line of Ray's output that says what went wrong, not the stack dump after it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for marker in ("Check failed", "Failed to connect", "Error", "error", "refused"):
        for line in lines:
            if marker in line:
                return line[:300]
    return "Redis did not answer (see the controller log)"
