"""The pure RayCluster reconciler: what a user sees happen to nodes and to status."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rayplane.api.raycluster import RayCluster
from rayplane.reconcile.cluster.model import (
    DELETE_GROUP_SUSPENDED,
    DELETE_INCOMPLETE_REPLICA,
    DELETE_SCALE_DOWN,
    DELETE_SUSPEND,
    DELETE_UNHEALTHY,
    DELETE_WORKERS_TO_DELETE,
    REQUEUE_DEFAULT_SECONDS,
    REQUEUE_ON_CHANGE_SECONDS,
    ClusterPlan,
    CreateNode,
    DeleteNode,
    ObservedCluster,
    ObservedNode,
    ServiceInfo,
    failure,
)
from rayplane.reconcile.cluster.state_machine import reconcile_cluster
from rayplane.reconcile.conditions import find_condition, set_condition
from rayplane.reconcile.events import messages

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cluster(
    *,
    workers: list[dict[str, Any]] | None = None,
    head_resources: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    generation: int | None = 1,
    **spec: Any,
) -> RayCluster:
    """A RayCluster; by default one group "workers" with 2 replicas (min 0, max 10)."""
    groups = workers if workers is not None else [{"groupName": "workers", "replicas": 2}]
    worker_docs = []
    for group in groups:
        doc: dict[str, Any] = {
            "minReplicas": 0,
            "maxReplicas": 10,
            "template": {"spec": {"containers": [{"name": "ray-worker"}]}},
        }
        doc.update(group)
        worker_docs.append(doc)
    head_container: dict[str, Any] = {"name": "ray-head"}
    if head_resources is not None:
        head_container["resources"] = head_resources
    metadata: dict[str, Any] = {"name": "demo", "namespace": "default"}
    if generation is not None:
        metadata["generation"] = generation
    if annotations:
        metadata["annotations"] = annotations
    return RayCluster.model_validate(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": metadata,
            "spec": {
                "headGroupSpec": {"template": {"spec": {"containers": [head_container]}}},
                "workerGroupSpecs": worker_docs,
                **spec,
            },
        }
    )


def node(
    name: str,
    *,
    kind: str = "worker",
    group: str | None = None,
    phase: str = "Running",
    ready: bool = True,
    age: int = 0,
    **kw: Any,
) -> ObservedNode:
    """An observed node created *age* minutes before T0."""
    return ObservedNode(
        name=name,
        group=group or ("headgroup" if kind == "head" else "workers"),
        kind=kind,  # type: ignore[arg-type]
        phase=phase,  # type: ignore[arg-type]
        ready=ready,
        created=T0 - timedelta(minutes=age),
        **kw,
    )


def head(**kw: Any) -> ObservedNode:
    kw.setdefault("ip", "10.0.0.1")
    return node("demo-head", kind="head", **kw)


def plan(c: RayCluster, nodes: list[ObservedNode], now: datetime = T0, **kw: Any) -> ClusterPlan:
    return reconcile_cluster(c, ObservedCluster(nodes=nodes, **kw), now)


def with_status(c: RayCluster, p: ClusterPlan) -> RayCluster:
    """The cluster as the runtime stores it after writing the plan's status."""
    return c.model_copy(update={"status": p.status})


def creates(p: ClusterPlan) -> list[CreateNode]:
    return [a for a in p.actions if isinstance(a, CreateNode)]


def deletes(p: ClusterPlan) -> list[DeleteNode]:
    return [a for a in p.actions if isinstance(a, DeleteNode)]


def deleted(p: ClusterPlan) -> set[str]:
    return {a.name for a in deletes(p)}


def condition(p: ClusterPlan, type_: str) -> tuple[str, str] | None:
    found = find_condition(p.status.conditions, type_)
    return None if found is None else (found.status, found.reason)


class FakeRuntime:
    """Carries plans out in memory, so multi-pass behaviour can be followed pass by pass."""

    def __init__(self, c: RayCluster) -> None:
        self.cluster = c
        self.nodes: dict[str, ObservedNode] = {}
        self.now = T0
        self.serial = itertools.count()
        self.last: ClusterPlan | None = None

    def step(self, **kw: Any) -> ClusterPlan:
        self.now += timedelta(seconds=2)
        p = reconcile_cluster(
            self.cluster, ObservedCluster(nodes=list(self.nodes.values()), **kw), self.now
        )
        for action in p.actions:
            if isinstance(action, DeleteNode):
                self.nodes.pop(action.name, None)
                continue
            hosts = action.num_of_hosts
            replicas = action.replica_indices or (None,) * (action.count // hosts)
            for index in replicas:
                replica_name = f"{action.group}-r{next(self.serial)}" if hosts > 1 else None
                for _ in range(hosts):
                    n = next(self.serial)
                    name = "demo-head" if action.kind == "head" else f"demo-{action.group}-{n}"
                    self.nodes[name] = ObservedNode(
                        name=name,
                        group=action.group,
                        kind=action.kind,
                        phase="Pending",
                        ready=False,
                        created=self.now,
                        replica=replica_name,
                        replica_index=index,
                    )
        self.cluster = with_status(self.cluster, p)
        self.last = p
        return p

    def all_ready(self) -> None:
        for name, n in self.nodes.items():
            self.nodes[name] = ObservedNode(
                **{**n.__dict__, "phase": "Running", "ready": True, "ip": "10.0.0.9"}
            )

    def edit(self, **spec: Any) -> None:
        """A user edit of the spec (bumps generation, keeps status)."""
        data = self.cluster.spec.model_dump(by_alias=True, exclude_unset=True)
        data.update(spec)
        meta = self.cluster.metadata.model_copy(
            update={"generation": (self.cluster.metadata.generation or 0) + 1}
        )
        self.cluster = self.cluster.model_copy(
            update={"spec": type(self.cluster.spec).model_validate(data), "metadata": meta}
        )

    def workers(self, group: str = "workers") -> list[ObservedNode]:
        return [n for n in self.nodes.values() if n.kind == "worker" and n.group == group]


# -- creating a cluster --------------------------------------------------------------------------


def test_fresh_cluster_creates_head_and_workers_in_the_same_pass() -> None:
    p = plan(cluster(), [])
    assert p.actions == [
        CreateNode("headgroup", "head", 1),
        CreateNode("workers", "worker", 2, 1, (0, 1)),
    ]
    assert p.changed and p.requeue_after == REQUEUE_ON_CHANGE_SECONDS
    assert p.error is None
    assert condition(p, "HeadPodReady") == ("False", "HeadPodNotFound")
    assert condition(p, "RayClusterProvisioned") == ("False", "RayClusterPodsProvisioning")
    assert condition(p, "RayClusterSuspended") == ("False", "RayClusterSuspended")
    assert condition(p, "RayClusterSuspending") == ("False", "RayClusterSuspending")
    assert condition(p, "ReplicaFailure") is None
    assert p.status.state is None
    assert p.status.desired_worker_replicas == 2
    assert p.status.ready_worker_replicas == 0
    assert p.status.last_update_time == iso(T0)


def test_head_exists_so_only_workers_are_created() -> None:
    p = plan(cluster(), [head(phase="Pending", ready=False)])
    assert p.actions == [CreateNode("workers", "worker", 2, 1, (0, 1))]


def test_cluster_becomes_ready_provisioned_and_settles() -> None:
    rt = FakeRuntime(cluster())
    rt.step()
    assert len(rt.nodes) == 3
    p = rt.step()  # nodes pending
    assert p.actions == []
    assert p.status.state is None
    assert condition(p, "HeadPodReady") == ("False", "Unknown")
    rt.all_ready()
    p = rt.step()
    assert p.status.state == "ready"
    assert condition(p, "RayClusterProvisioned") == ("True", "AllPodRunningAndReadyFirstTime")
    assert condition(p, "HeadPodReady") == ("True", "HeadPodRunningAndReady")
    assert p.status.ready_worker_replicas == 2
    assert p.status.available_worker_replicas == 2
    assert p.status.state_transition_times == {"ready": iso(rt.now)}
    ready_at = rt.now
    assert p.changed and p.requeue_after == REQUEUE_ON_CHANGE_SECONDS

    p = rt.step()  # nothing changed: long requeue, timestamps kept
    assert not p.changed
    assert p.actions == []
    assert p.requeue_after == REQUEUE_DEFAULT_SECONDS
    assert p.status.last_update_time == iso(ready_at)
    provisioned = find_condition(p.status.conditions, "RayClusterProvisioned")
    assert provisioned is not None and provisioned.last_transition_time == iso(ready_at)


def test_ready_is_sticky_and_provisioned_is_latched() -> None:
    rt = FakeRuntime(cluster())
    rt.step()
    rt.all_ready()
    rt.step()
    # A worker stops being ready: state and RayClusterProvisioned do not go back.
    name = rt.workers()[0].name
    rt.nodes[name] = ObservedNode(**{**rt.nodes[name].__dict__, "ready": False})
    p = rt.step()
    assert p.status.state == "ready"
    assert condition(p, "RayClusterProvisioned") == ("True", "AllPodRunningAndReadyFirstTime")
    assert p.status.ready_worker_replicas == 1
    assert p.status.available_worker_replicas == 2


def test_state_ready_needs_every_desired_node() -> None:
    p = plan(cluster(), [head(), node("w1")])
    assert p.status.state is None
    # ...but RayClusterProvisioned, like KubeRay's, only asks that every existing pod is ready.
    assert condition(p, "RayClusterProvisioned") == ("True", "AllPodRunningAndReadyFirstTime")


def test_head_not_ready_reason_comes_from_the_runtime() -> None:
    p = plan(cluster(), [head(phase="Pending", ready=False, reason="ContainerCreating")])
    assert condition(p, "HeadPodReady") == ("False", "ContainerCreating")


# -- scaling -------------------------------------------------------------------------------------


def test_scale_up_fills_replica_index_gaps() -> None:
    c = cluster(workers=[{"groupName": "workers", "replicas": 4}])
    nodes = [head(), node("w0", replica_index=0), node("w2", replica_index=2)]
    assert creates(plan(c, nodes)) == [CreateNode("workers", "worker", 2, 1, (1, 3))]


def test_scale_down_without_autoscaling_removes_not_ready_then_newest() -> None:
    c = cluster(workers=[{"groupName": "workers", "replicas": 2}])
    nodes = [
        head(),
        node("old", age=30),
        node("mid", age=20),
        node("new", age=10),
        node("starting", age=40, phase="Pending", ready=False),
    ]
    p = plan(c, nodes)
    assert deletes(p) == [
        DeleteNode("starting", DELETE_SCALE_DOWN, "worker", "workers"),
        DeleteNode("new", DELETE_SCALE_DOWN, "worker", "workers"),
    ]
    assert creates(p) == []


def test_scale_down_with_autoscaling_leaves_it_to_the_autoscaler() -> None:
    c = cluster(enableInTreeAutoscaling=True, workers=[{"groupName": "workers", "replicas": 1}])
    p = plan(c, [head(), node("a"), node("b"), node("c")])
    assert p.actions == []
    assert p.status.desired_worker_replicas == 1
    assert p.status.state is None  # 4 nodes are not 1 + 1


@pytest.mark.parametrize(
    ("replicas", "low", "high", "expected"),
    [(0, 1, 5, 1), (9, 1, 5, 5), (3, 1, 5, 3), (None, 2, 5, 2)],
)
def test_replicas_are_clamped_to_min_and_max(
    replicas: int | None, low: int, high: int, expected: int
) -> None:
    group: dict[str, Any] = {"groupName": "workers", "minReplicas": low, "maxReplicas": high}
    if replicas is not None:
        group["replicas"] = replicas
    p = plan(cluster(workers=[group]), [head()])
    assert creates(p) == [CreateNode("workers", "worker", expected, 1, tuple(range(expected)))]
    assert p.status.desired_worker_replicas == expected
    assert p.status.min_worker_replicas == low
    assert p.status.max_worker_replicas == high


def test_deleting_nodes_do_not_count_as_running_and_are_not_deleted_again() -> None:
    c = cluster(workers=[{"groupName": "workers", "replicas": 2}])
    nodes = [head(), node("a"), node("gone", deleting=True)]
    p = plan(c, nodes)
    assert creates(p) == [CreateNode("workers", "worker", 1, 1, (0,))]
    assert deletes(p) == []
    # Status still counts the terminating node, as KubeRay counts terminating pods.
    assert p.status.available_worker_replicas == 2


def test_several_groups_scale_independently() -> None:
    c = cluster(
        workers=[
            {"groupName": "cpu", "replicas": 1},
            {"groupName": "gpu", "replicas": 2},
        ]
    )
    p = plan(c, [head(), node("c1", group="cpu"), node("c2", group="cpu")])
    assert deleted(p) == {"c2"}
    assert creates(p) == [CreateNode("gpu", "worker", 2, 1, (0, 1))]


# -- workersToDelete ---------------------------------------------------------------------------


def test_workers_to_delete_removes_exactly_the_named_nodes() -> None:
    c = cluster(
        enableInTreeAutoscaling=True,
        workers=[
            {
                "groupName": "workers",
                "replicas": 2,
                "scaleStrategy": {"workersToDelete": ["b", "d", "not-there"]},
            }
        ],
    )
    p = plan(c, [head(), node("a"), node("b"), node("c"), node("d")])
    assert p.actions == [
        DeleteNode("b", DELETE_WORKERS_TO_DELETE, "worker", "workers"),
        DeleteNode("d", DELETE_WORKERS_TO_DELETE, "worker", "workers"),
    ]
    # The list stays in the spec: the autoscaler clears it once the nodes are gone.
    assert c.spec.worker_group_specs[0].workers_to_delete == ["b", "d", "not-there"]


def test_workers_to_delete_without_lowering_replicas_replaces_the_nodes() -> None:
    c = cluster(
        workers=[
            {"groupName": "workers", "replicas": 2, "scaleStrategy": {"workersToDelete": ["a"]}}
        ]
    )
    p = plan(c, [head(), node("a", replica_index=0), node("b", replica_index=1)])
    assert deleted(p) == {"a"}
    assert creates(p) == [CreateNode("workers", "worker", 1, 1, (0,))]


def test_workers_to_delete_never_touches_other_groups_or_the_head() -> None:
    c = cluster(
        workers=[
            {
                "groupName": "cpu",
                "replicas": 1,
                "scaleStrategy": {"workersToDelete": ["g1", "demo-head"]},
            },
            {"groupName": "gpu", "replicas": 1},
        ]
    )
    p = plan(c, [head(), node("c1", group="cpu"), node("g1", group="gpu")])
    assert p.actions == []


# -- unhealthy nodes -----------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["Failed", "Succeeded"])
def test_failed_worker_is_deleted_then_recreated_next_pass(phase: str) -> None:
    rt = FakeRuntime(cluster())
    rt.step()
    rt.all_ready()
    rt.step()
    victim = rt.workers()[0].name
    rt.nodes[victim] = ObservedNode(**{**rt.nodes[victim].__dict__, "phase": phase})
    p = rt.step()
    assert p.actions == [DeleteNode(victim, DELETE_UNHEALTHY, "worker", "workers")]
    assert p.error is not None and "unhealthy" in p.error
    assert p.requeue_after == REQUEUE_ON_CHANGE_SECONDS
    assert condition(p, "ReplicaFailure") is None  # not a create/delete failure
    p = rt.step()
    assert [type(a) for a in p.actions] == [CreateNode]
    assert creates(p)[0].count == 1
    assert p.error is None


def test_unhealthy_worker_stops_only_its_group() -> None:
    c = cluster(workers=[{"groupName": "a", "replicas": 2}, {"groupName": "b", "replicas": 1}])
    p = plan(c, [head(), node("a1", group="a", phase="Failed")])
    assert deletes(p) == [DeleteNode("a1", DELETE_UNHEALTHY, "worker", "a")]
    assert creates(p) == [CreateNode("b", "worker", 1, 1, (0,))]


def test_failed_head_is_deleted_and_nothing_else_happens() -> None:
    p = plan(cluster(), [head(phase="Failed"), node("w1")])
    assert p.actions == [DeleteNode("demo-head", DELETE_UNHEALTHY, "head", "headgroup")]
    assert p.error is not None
    p = plan(cluster(), [node("w1")])
    assert creates(p)[0] == CreateNode("headgroup", "head", 1)


def test_two_heads_is_an_error_and_touches_nothing() -> None:
    p = plan(cluster(), [head(), node("demo-head-2", kind="head")])
    assert p.actions == []
    assert p.error is not None and "2 head nodes" in p.error
    assert p.requeue_after == REQUEUE_ON_CHANGE_SECONDS
    assert p.status.state is None


def test_no_second_head_while_the_old_one_terminates() -> None:
    p = plan(cluster(), [head(deleting=True)])
    assert all(a.kind == "worker" for a in creates(p))


def test_lost_head_is_not_recreated_when_provisioned_head_restart_is_disabled() -> None:
    annotations = {"ray.io/disable-provisioned-head-restart": "true"}
    c = cluster(annotations=annotations, workers=[])
    first = plan(c, [head()])
    assert condition(first, "RayClusterProvisioned") == ("True", "AllPodRunningAndReadyFirstTime")
    p = plan(with_status(c, first), [])
    assert p.actions == []
    # Without the annotation the head comes back.
    plain = cluster(workers=[])
    assert creates(plan(with_status(plain, plan(plain, [head()])), [])) == [
        CreateNode("headgroup", "head", 1)
    ]


# -- runtime failures (ReplicaFailure) -----------------------------------------------------------


def test_runtime_failure_sets_replica_failure_until_a_clean_pass() -> None:
    c = cluster()
    action = CreateNode("workers", "worker", 2, 1, (0, 1))
    assert failure(action, "no free ports") == "FailedCreateWorkerPod: no free ports"
    p = plan(c, [head()], failures=[failure(action, "no free ports")])
    found = find_condition(p.status.conditions, "ReplicaFailure")
    assert found is not None
    assert (found.status, found.reason, found.message) == (
        "True",
        "FailedCreateWorkerPod",
        "no free ports",
    )
    assert p.error == "FailedCreateWorkerPod: no free ports"
    assert p.requeue_after == REQUEUE_ON_CHANGE_SECONDS
    assert any("no free ports" in e for e in messages(p.events))
    # The reconciler still plans the creation again.
    assert creates(p) == [action]

    later = plan(with_status(c, p), [head(), node("a"), node("b")], T0 + timedelta(seconds=5))
    assert condition(later, "ReplicaFailure") is None
    assert later.status.state == "ready"


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (CreateNode("headgroup", "head"), "FailedCreateHeadPod"),
        (DeleteNode("h", DELETE_UNHEALTHY, "head"), "FailedDeleteHeadPod"),
        (DeleteNode("w", DELETE_SCALE_DOWN), "FailedDeleteWorkerPod"),
        (DeleteNode("w", DELETE_SUSPEND), "FailedDeleteAllPods"),
    ],
)
def test_failure_reasons_are_kuberays(action: CreateNode | DeleteNode, reason: str) -> None:
    p = plan(cluster(), [], failures=[failure(action, "boom")])
    assert condition(p, "ReplicaFailure") == ("True", reason)


def test_free_form_failure_is_an_error_without_a_condition() -> None:
    p = plan(cluster(), [], failures=["something odd"])
    assert p.error == "something odd"
    assert condition(p, "ReplicaFailure") is None


# -- suspension ----------------------------------------------------------------------------------


def test_suspend_and_resume() -> None:
    rt = FakeRuntime(cluster())
    rt.step()
    rt.all_ready()
    rt.step()
    assert len(rt.nodes) == 3

    rt.edit(suspend=True)
    p = rt.step()  # 1: announce
    assert p.actions == []
    assert condition(p, "RayClusterSuspending") == ("True", "RayClusterSuspending")
    assert condition(p, "RayClusterSuspended") == ("False", "RayClusterSuspended")
    assert p.requeue_after == REQUEUE_ON_CHANGE_SECONDS

    # 2: delete everything; the runtime reports the nodes as terminating first.
    before = dict(rt.nodes)
    p = reconcile_cluster(rt.cluster, ObservedCluster(nodes=list(before.values())), rt.now)
    assert {a.name for a in deletes(p)} == set(before)
    assert all(a.reason == DELETE_SUSPEND for a in deletes(p))
    terminating = [ObservedNode(**{**n.__dict__, "deleting": True}) for n in before.values()]
    p = reconcile_cluster(rt.cluster, ObservedCluster(nodes=terminating), rt.now)
    assert p.actions == []
    assert condition(p, "RayClusterSuspending") == ("True", "RayClusterSuspending")

    p = rt.step()  # FakeRuntime deletes immediately
    p = rt.step()  # 3: nothing left
    assert not rt.nodes
    assert condition(p, "RayClusterSuspended") == ("True", "RayClusterSuspended")
    assert condition(p, "RayClusterSuspending") == ("False", "RayClusterSuspending")
    assert condition(p, "RayClusterProvisioned") == ("False", "RayClusterPodsProvisioning")
    assert condition(p, "HeadPodReady") == ("False", "HeadPodNotFound")
    assert p.status.state == "suspended"
    provisioned = find_condition(p.status.conditions, "RayClusterProvisioned")
    assert provisioned is not None and provisioned.message == "RayCluster has been suspended"

    p = rt.step()  # stays suspended, nothing created
    assert p.actions == [] and not p.changed

    rt.edit(suspend=False)
    p = rt.step()  # resume: Suspended flips first, nodes come next pass
    assert p.actions == []
    assert condition(p, "RayClusterSuspended") == ("False", "RayClusterSuspended")
    p = rt.step()
    assert [a.kind for a in creates(p)] == ["head", "worker"]
    rt.all_ready()
    p = rt.step()
    assert p.status.state == "ready"
    assert condition(p, "RayClusterProvisioned") == ("True", "AllPodRunningAndReadyFirstTime")


def test_cluster_created_suspended_never_starts_nodes() -> None:
    rt = FakeRuntime(cluster(suspend=True))
    assert rt.step().actions == []
    p = rt.step()
    assert p.actions == []
    assert condition(p, "RayClusterSuspended") == ("True", "RayClusterSuspended")
    assert p.status.state == "suspended"


def test_suspended_group_deletes_its_nodes_and_leaves_the_totals() -> None:
    c = cluster(
        workers=[
            {"groupName": "on", "replicas": 1, "minReplicas": 1, "maxReplicas": 3},
            {
                "groupName": "off",
                "replicas": 2,
                "minReplicas": 1,
                "maxReplicas": 4,
                "suspend": True,
            },
        ]
    )
    p = plan(c, [head(), node("on1", group="on"), node("off1", group="off")])
    assert p.actions == [DeleteNode("off1", DELETE_GROUP_SUSPENDED, "worker", "off")]
    assert p.status.desired_worker_replicas == 1
    assert p.status.min_worker_replicas == 1
    assert p.status.max_worker_replicas == 3


# -- multi-host groups ------------------------------------------------------------------------


def multi(replicas: int = 2, **group: Any) -> RayCluster:
    return cluster(workers=[{"groupName": "tpu", "replicas": replicas, "numOfHosts": 2, **group}])


def host(name: str, replica: str, index: int, **kw: Any) -> ObservedNode:
    return node(name, group="tpu", replica=replica, replica_index=index, **kw)


def test_multi_host_creates_whole_replicas() -> None:
    p = plan(multi(2), [head()])
    assert creates(p) == [CreateNode("tpu", "worker", 4, 2, (0, 1))]
    assert p.status.desired_worker_replicas == 4
    assert p.status.max_worker_replicas == 20


def test_multi_host_status_counts_hosts() -> None:
    rt = FakeRuntime(multi(2))
    rt.step()
    assert len(rt.workers("tpu")) == 4
    rt.all_ready()
    p = rt.step()
    assert p.actions == []
    assert p.status.state == "ready"
    assert p.status.ready_worker_replicas == 4


def test_multi_host_incomplete_replica_is_deleted_whole() -> None:
    nodes = [head(), host("a0", "ra", 0), host("a1", "ra", 0), host("b0", "rb", 1)]
    p = plan(multi(2), nodes)
    assert p.actions == [DeleteNode("b0", DELETE_INCOMPLETE_REPLICA, "worker", "tpu")]
    assert p.error is not None


def test_multi_host_unhealthy_replica_is_replaced_in_the_same_pass() -> None:
    nodes = [
        head(),
        host("a0", "ra", 0),
        host("a1", "ra", 0),
        host("b0", "rb", 1, phase="Failed"),
        host("b1", "rb", 1),
    ]
    p = plan(multi(2), nodes)
    assert deleted(p) == {"b0", "b1"}
    assert creates(p) == [CreateNode("tpu", "worker", 2, 2, (1,))]


def test_multi_host_workers_to_delete_takes_the_whole_replica() -> None:
    c = multi(1, scaleStrategy={"workersToDelete": ["b1"]})
    nodes = [
        head(),
        host("a0", "ra", 0),
        host("a1", "ra", 0),
        host("b0", "rb", 1),
        host("b1", "rb", 1),
    ]
    p = plan(c, nodes)
    assert deleted(p) == {"b0", "b1"}
    assert creates(p) == []


def test_multi_host_scale_down_removes_whole_newest_replicas() -> None:
    nodes = [
        head(),
        host("a0", "ra", 0, age=30),
        host("a1", "ra", 0, age=30),
        host("b0", "rb", 1, age=5),
        host("b1", "rb", 1, age=5),
    ]
    assert deleted(plan(multi(1), nodes)) == {"b0", "b1"}
    autoscaled = cluster(
        enableInTreeAutoscaling=True,
        workers=[{"groupName": "tpu", "replicas": 1, "numOfHosts": 2}],
    )
    assert plan(autoscaled, nodes).actions == []


# -- status fields --------------------------------------------------------------------------------


def resources(
    requests: dict[str, Any] | None = None, limits: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if requests is not None:
        out["requests"] = requests
    if limits is not None:
        out["limits"] = limits
    return out


def worker_template(
    res: dict[str, Any], extra: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    containers = [{"name": "ray-worker", "resources": res}, *(extra or [])]
    return {"spec": {"containers": containers}}


def test_desired_resources_are_kuberays_sums() -> None:
    c = cluster(
        head_resources=resources(
            {"cpu": "500m", "memory": "1536Mi"}, {"cpu": "1", "memory": "2Gi"}
        ),
        workers=[
            {
                "groupName": "workers",
                "replicas": 2,
                "template": worker_template(
                    resources({"cpu": "2", "memory": "4Gi"}, {"nvidia.com/gpu": 1}),
                    [{"name": "sidecar", "resources": resources({"cpu": "100m"})}],
                ),
            },
            {
                "groupName": "tpu",
                "replicas": 1,
                "numOfHosts": 2,
                "template": worker_template(resources(limits={"google.com/tpu": 4, "cpu": "8"})),
            },
            {
                "groupName": "off",
                "replicas": 5,
                "suspend": True,
                "template": worker_template(resources({"cpu": "64"})),
            },
        ],
    )
    s = plan(c, []).status
    # head 0.5 + 2 x (2 + 0.1) + 2 x 8 = 20.7 CPUs; requests win over limits.
    assert s.desired_cpu == "20700m"
    assert s.desired_memory == "9728Mi"  # 1.5Gi + 2 x 4Gi
    assert s.desired_gpu == "2"
    assert s.desired_tpu == "8"


def test_desired_resources_use_unclamped_replicas_like_kuberay() -> None:
    c = cluster(
        workers=[
            {
                "groupName": "workers",
                "replicas": 0,
                "minReplicas": 1,
                "template": worker_template(resources({"cpu": "1"})),
            }
        ]
    )
    s = plan(c, []).status
    assert s.desired_worker_replicas == 1
    assert s.desired_cpu == "0"
    assert s.desired_memory == "0"
    assert s.desired_gpu == "0"


@pytest.mark.parametrize(
    ("head_cpu", "head_mem", "cpu", "memory"),
    [
        ("1", "2Gi", "5", "10Gi"),
        ("250m", "1G", "4250m", "9G"),  # the sum keeps the head's (first) format
        ("1", "512Mi", "5", "8704Mi"),
        ("1", "100", "5", "8000000100"),
    ],
)
def test_desired_resources_print_like_go_quantities(
    head_cpu: str, head_mem: str, cpu: str, memory: str
) -> None:
    worker_mem = "4Gi" if memory.endswith("i") else "4G"
    c = cluster(
        head_resources=resources({"cpu": head_cpu, "memory": head_mem}),
        workers=[
            {
                "groupName": "workers",
                "replicas": 2,
                "template": worker_template(resources({"cpu": "2", "memory": worker_mem})),
            }
        ],
    )
    s = plan(c, []).status
    assert (s.desired_cpu, s.desired_memory) == (cpu, memory)


def test_head_info_and_endpoints_from_the_service() -> None:
    service: ServiceInfo = {
        "name": "demo-head-svc",
        "ip": "10.96.0.10",
        "endpoints": {"dashboard": "8265", "client": "10001", "gcs-server": "6379"},
    }
    p = plan(cluster(), [head(ip="10.0.0.7")], service=service)
    assert p.status.head is not None
    assert p.status.head.pod_name == "demo-head"
    assert p.status.head.pod_ip == "10.0.0.7"
    assert p.status.head.service_ip == "10.96.0.10"
    assert p.status.head.service_name == "demo-head-svc"
    assert p.status.endpoints == service["endpoints"]
    wire = p.status.wire()
    assert wire["head"] == {
        "podIP": "10.0.0.7",
        "podName": "demo-head",
        "serviceIP": "10.96.0.10",
        "serviceName": "demo-head-svc",
    }
    # Endpoints are kept once known, as KubeRay keeps them.
    again = plan(with_status(cluster(), p), [head(ip="10.0.0.7")])
    assert again.status.endpoints == service["endpoints"]


def test_observed_generation_follows_metadata() -> None:
    c = cluster(generation=7)
    p = plan(c, [])
    assert p.status.observed_generation == 7
    settled = plan(with_status(c, p), [])
    assert not settled.changed
    bumped = c.model_copy(
        update={"metadata": c.metadata.model_copy(update={"generation": 8}), "status": p.status}
    )
    again = plan(bumped, [], T0 + timedelta(minutes=1))
    assert again.status.observed_generation == 8
    assert again.changed
    assert again.status.last_update_time == iso(T0 + timedelta(minutes=1))


def test_unchanged_conditions_keep_their_transition_time() -> None:
    c = cluster()
    first = plan(c, [])
    later = T0 + timedelta(minutes=5)
    second = plan(with_status(c, first), [], later)
    for cond in second.status.conditions or []:
        assert cond.last_transition_time == iso(T0)
    third = plan(with_status(c, second), [head()], later)
    head_ready = find_condition(third.status.conditions, "HeadPodReady")
    assert head_ready is not None and head_ready.last_transition_time == iso(later)
    suspended = find_condition(third.status.conditions, "RayClusterSuspended")
    assert suspended is not None and suspended.last_transition_time == iso(T0)


def test_status_wire_shape() -> None:
    wire = plan(cluster(), []).status.wire()
    assert set(wire) >= {
        "readyWorkerReplicas",
        "availableWorkerReplicas",
        "desiredWorkerReplicas",
        "minWorkerReplicas",
        "maxWorkerReplicas",
        "desiredCPU",
        "desiredMemory",
        "desiredGPU",
        "desiredTPU",
        "conditions",
        "observedGeneration",
        "lastUpdateTime",
    }
    assert [c["type"] for c in wire["conditions"]] == [
        "HeadPodReady",
        "RayClusterProvisioned",
        "RayClusterSuspended",
        "RayClusterSuspending",
    ]


def test_unknown_status_fields_survive() -> None:
    c = cluster()
    first = plan(c, [])
    status = first.status.model_copy()
    status.__pydantic_extra__ = {"someOtherField": "x"}
    p = plan(c.model_copy(update={"status": status}), [])
    assert (p.status.model_extra or {}).get("someOtherField") == "x"


def test_max_worker_replicas_saturates_at_int32() -> None:
    c = cluster(
        workers=[{"groupName": "w", "replicas": 0, "maxReplicas": 2147483647, "numOfHosts": 2}]
    )
    assert plan(c, []).status.max_worker_replicas == 2147483647


# -- conditions helper ---------------------------------------------------------------------------


def test_set_condition_only_moves_transition_time_on_status_change() -> None:
    first = set_condition(None, "X", "False", "A", "m1", T0)
    same = set_condition(first, "X", "False", "B", "m2", T0 + timedelta(hours=1))
    assert same[0].last_transition_time == iso(T0)
    assert (same[0].reason, same[0].message) == ("B", "m2")
    flipped = set_condition(same, "X", "True", "B", "m2", T0 + timedelta(hours=2))
    assert flipped[0].last_transition_time == iso(T0 + timedelta(hours=2))
    assert first[0].reason == "A"  # inputs are not mutated
