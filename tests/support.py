"""What tests in every area share: the repository's examples, the seed's launcher
environment, waiting for a condition, and a free loopback port.

One copy each, so a test that waits, loads an example or picks a port reads the same
everywhere. Waits poll a condition; their bound only ends a wait for something that is
not going to happen, and is no assertion about speed.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from rayplane.kubernetes.testing.processes import free_port

__all__ = ["EXAMPLES", "ROOT", "SEED_ENV", "example", "free_port", "wait_for", "wait_for_async"]

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

#: The placeholders of the seed's EC2 cluster-launcher example
#: (``examples/ec2-cluster-launcher.yaml``), as a user would export them.
SEED_ENV: dict[str, str] = {
    "CLUSTER_NAME": "ec2-ray",
    "AWS_REGION": "us-west-2",
    "X86_AMI_ID": "ami-x86",
    "ARM_AMI_ID": "ami-arm",
    "PRIV_SUBNET_ID": "subnet-1",
    "HEAD_SG_ID": "sg-h",
    "WORKER_SG_ID": "sg-w",
}


def example(name: str) -> dict[str, Any]:
    """The example *name* from the repository's ``examples/``, parsed."""
    doc = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def wait_for(
    predicate: Callable[[], T | None], timeout_s: float, what: str, *, interval: float = 0.2
) -> T:
    """Poll *predicate* until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval)


async def wait_for_async(
    predicate: Callable[[], T | None], timeout_s: float, what: str, *, interval: float = 0.1
) -> T:
    """`wait_for` inside an event loop: *predicate* (which may block, e.g. on HTTP) runs in
    a thread, so the loop, and an operator running on it, keep going."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(interval)


def short_temp_root(prefix: str = "rpt-") -> Path:
    """A fresh folder for RAYPLANE_TEMP_ROOT: pytest's tmp_path is too long for it (Ray's
    Unix socket paths under the root must stay under 107 bytes; the settings refuse more
    than 32). The caller removes it."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
