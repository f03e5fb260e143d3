"""Cluster.build, scale, jobs and connect: the handle's verbs over the shared modules the
CLI uses, on the in-memory runtime."""

from __future__ import annotations

import pytest

import rayplane
from rayplane.sdk.runtime import Runtime
from rayplane.sdk.scaling import ScaleError
from tests.sdk.fake import FakeBackend, both, local, node, status


def test_build_makes_a_full_object_that_applies(fake: FakeBackend, runtime: Runtime) -> None:
    cluster = rayplane.Cluster.build("dev", workers=2, worker_cpus=1, runtime=runtime)
    assert "kind: RayCluster" in cluster.to_yaml()
    assert cluster.object["spec"]["workerGroupSpecs"][0]["replicas"] == 2
    cluster.apply(wait=False)
    assert (
        fake.objects[("RayCluster", "default", "dev")]["spec"]["workerGroupSpecs"][0]["groupName"]
        == "workergroup"
    )


def test_build_refuses_a_bad_shape_by_name(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="min_workers"):
        rayplane.Cluster.build("dev", workers=1, min_workers=3, max_workers=2, runtime=runtime)


def test_scale_before_apply_changes_only_the_object(fake: FakeBackend, runtime: Runtime) -> None:
    cluster = rayplane.Cluster.build("dev", workers=1, runtime=runtime)
    cluster.scale("workergroup", 3)
    assert cluster.object["spec"]["workerGroupSpecs"][0]["replicas"] == 3
    assert not fake.objects


def test_scale_applies_and_waits_for_the_groups_nodes(fake: FakeBackend, runtime: Runtime) -> None:
    cluster = rayplane.Cluster.build("dev", workers=1, group="workers", runtime=runtime)
    cluster.apply(wait=False)
    one = [node("dev-head", "ready"), node("w-1", "ready", "worker")]
    two = [*one, node("w-2", "starting", "worker")]
    fake.play(
        "RayCluster",
        "dev",
        status(state="ready"),  # the read before applying
        local(nodes=one),
        local(nodes=two),
        local(nodes=[*one, node("w-2", "ready", "worker")]),
    )
    cluster.scale("workers", 2, progress=False)
    stored = fake.objects[("RayCluster", "default", "dev")]
    assert stored["spec"]["workerGroupSpecs"][0]["replicas"] == 2
    assert sum(1 for n in cluster.nodes() if n.kind == "worker" and n.state == "ready") == 2


def test_scale_that_does_not_finish_says_what_is_missing(
    fake: FakeBackend, runtime: Runtime
) -> None:
    cluster = rayplane.Cluster.build("dev", workers=1, runtime=runtime).apply(wait=False)
    fake.play("RayCluster", "dev", both(status(state="ready"), local(nodes=[])))
    with pytest.raises(rayplane.WaitError) as caught:
        cluster.scale("workergroup", 2, timeout=0, progress=False)
    assert caught.value.timed_out
    assert "2 node(s) not created yet" in caught.value.reason


def test_scale_outside_the_bounds_is_refused_and_nothing_applied(
    fake: FakeBackend, runtime: Runtime
) -> None:
    cluster = rayplane.Cluster.build("dev", workers=1, max_workers=2, runtime=runtime)
    cluster.apply(wait=False)
    generation = fake.objects[("RayCluster", "default", "dev")]["metadata"]["generation"]
    with pytest.raises(ScaleError, match="maxReplicas"):
        cluster.scale("workergroup", 5)
    assert fake.objects[("RayCluster", "default", "dev")]["metadata"]["generation"] == generation


def test_jobs_reach_the_clusters_dashboard(fake: FakeBackend, runtime: Runtime) -> None:
    cluster = rayplane.Cluster.build("dev", workers=0, runtime=runtime).apply(wait=False)
    fake.play("RayCluster", "dev", status(state="ready", endpoints={"dashboard": 18265}))
    jobs = cluster.jobs
    with jobs.backend.reach(jobs.fetch() or {}, "dashboard") as where:
        assert where == "127.0.0.1:18265"


def test_connect_refuses_a_cluster_that_is_not_ready(fake: FakeBackend, runtime: Runtime) -> None:
    from rayplane.sdk.connect import ConnectError

    cluster = rayplane.Cluster.build("dev", workers=0, runtime=runtime).apply(wait=False)
    fake.play("RayCluster", "dev", status(state="", reason="waiting for the head"))
    with pytest.raises(ConnectError, match="not ready"):
        cluster.connect()
