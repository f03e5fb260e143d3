"""The Redis cleanup child gets the password on stdin, never on its command line.

A command line is world-readable through /proc/<pid>/cmdline; the child here is spawned
for real, with a stand-in for Ray's cleanup function that records what it saw.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rayplane.local.redis_cleanup import clean_redis
from rayplane.reconcile.gcs_ft import GcsFt

PASSWORD = "s3cret-redis-pw"

_FAKE_CLEANUP = """
import json

def cleanup_redis_storage(host, port, password, use_ssl, storage_namespace):
    with open("/proc/self/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\\0") if a]
    with open("seen.json", "w") as f:
        json.dump({"argv": argv, "password": password, "host": host, "port": port}, f)
    return True
"""


def test_the_cleanup_child_gets_the_password_off_its_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "fake"
    (fake / "ray" / "_private").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("")
    (fake / "ray" / "_private" / "__init__.py").write_text("")
    (fake / "ray" / "_private" / "gcs_utils.py").write_text(_FAKE_CLEANUP)
    # `python -c` puts the working directory first on sys.path: the stand-in shadows Ray.
    monkeypatch.chdir(fake)
    seen_file = fake / "seen.json"
    ft = GcsFt(True, namespace="ns1", redis_address="127.0.0.1:6390", redis_password=PASSWORD)

    ok, message = clean_redis(ft, timeout_s=60)

    assert ok, message
    seen = json.loads(seen_file.read_text())
    assert seen["password"] == PASSWORD and (seen["host"], seen["port"]) == ("127.0.0.1", 6390)
    assert not any(PASSWORD in arg for arg in seen["argv"])
