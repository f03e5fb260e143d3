"""Deleting: waits until the runtime lets the object go, and `with` always cleans up."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rayplane
from rayplane.sdk.runtime import Runtime
from tests.sdk.conftest import raycluster
from tests.sdk.fake import FakeBackend, local, node, status

KEY = ("RayCluster", "default", "c1")


def ready_cluster(fake: FakeBackend) -> None:
    fake.play("RayCluster", "c1", status(state="ready"))


def test_delete_waits_until_no_node_is_left(fake: FakeBackend, runtime: Runtime) -> None:
    cluster = rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False)
    fake.lingering.add(KEY)
    fake.play("RayCluster", "c1", local(nodes=[node("c1-head-x", "stopping")]), None)
    assert cluster.delete() is True
    assert KEY not in fake.objects and fake.gets[KEY] == 2
    assert cluster.delete() is False  # nothing left to delete


def test_a_delete_that_does_not_finish_says_what_is_still_stopping(
    fake: FakeBackend, runtime: Runtime
) -> None:
    cluster = rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False)
    fake.lingering.add(KEY)
    fake.play("RayCluster", "c1", local(nodes=[node("c1-head-x", "stopping")]))
    with pytest.raises(rayplane.WaitError) as caught:
        cluster.delete(timeout=0)
    assert caught.value.reason == "timed out after 0s: 1 node(s) still stopping"


def test_with_applies_on_enter_and_deletes_on_exit(fake: FakeBackend, runtime: Runtime) -> None:
    ready_cluster(fake)
    with rayplane.Cluster.from_dict(raycluster(), runtime) as cluster:
        assert KEY in fake.objects and cluster.verb == "created"
    assert fake.deleted == [KEY]


def test_with_deletes_on_exit_also_when_the_body_raises(
    fake: FakeBackend, runtime: Runtime
) -> None:
    ready_cluster(fake)
    with pytest.raises(ZeroDivisionError), rayplane.Cluster.from_dict(raycluster(), runtime):
        1 / 0  # noqa: B018
    assert fake.deleted == [KEY]


def test_with_on_a_handle_already_applied_does_not_apply_again(
    fake: FakeBackend, runtime: Runtime
) -> None:
    rayplane.Cluster.from_dict(raycluster(), runtime).apply(wait=False)
    fake.refuse[KEY] = rayplane.BackendError("must not be applied again")
    with rayplane.Cluster.get("c1", runtime=runtime):
        pass
    assert fake.deleted == [KEY]


def test_import_rayplane_imports_neither_ray_nor_the_sdk() -> None:
    code = (
        "import sys, rayplane\n"
        "assert rayplane.Cluster.__name__ == 'Cluster'\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    lazy = "import sys, rayplane\nprint('rayplane.sdk.resources' in sys.modules)"
    run = [sys.executable, "-c"]
    assert subprocess.run([*run, code], capture_output=True, text=True, check=True).stdout == "[]\n"
    assert (
        subprocess.run([*run, lazy], capture_output=True, text=True, check=True).stdout == "False\n"
    )
