"""The pure RayCluster reconciler: (cluster, observed nodes, now) -> (actions, status).

Both runtimes call :func:`reconcile_cluster` on every pass with what they see (pods, or
local ``ray start`` processes) and carry out the returned actions; neither decides on its
own how many nodes a group should have or what the status says. That is what makes a
RayCluster behave the same on Kubernetes and on a laptop, and what lets KubeRay's
behaviour be pinned down by millisecond tests.

The rules are KubeRay's ``reconcilePods`` and ``calculateStatus``
(ray-operator/controllers/ray/raycluster_controller.go at feeaf72, with the
RayClusterStatusConditions and RayMultiHostIndexing gates on, their defaults):

* The pass is level-based: every decision comes from the spec, the previous status and the
  nodes observed now. Nodes marked ``deleting`` are already on their way out: they are not
  acted on again and do not count as running, but they still appear in status counts, as
  terminating pods do in KubeRay's.
* Status is computed from the observation the pass started with, not from the planned
  actions; the next pass (2 s later, since a change shortens the requeue) shows their effect,
  as KubeRay's informer cache does.

Where this differs from KubeRay, on purpose:

* An unhealthy worker stops only its own group for the pass (KubeRay stops the whole pass);
  other groups still scale.
* A name in ``workersToDelete`` only deletes a node of that same group (KubeRay deletes any
  pod of that name in the namespace, even the head).
* Scale-down without the autoscaler removes not-ready nodes first, then the newest
  (KubeRay takes the first pods of an unordered list); newest-first loses the least work.
* ``lastUpdateTime`` moves, and the status counts as changed, when any field but
  lastUpdateTime differs, observedGeneration and desired resources included (KubeRay skips
  the write when only those changed, leaving observedGeneration stale).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from rayplane.api.raycluster import HEAD_GROUP, RayCluster, RayClusterStatus, WorkerGroupSpec
from rayplane.reconcile import events as reasons
from rayplane.reconcile.cluster.model import (
    DELETE_GROUP_SUSPENDED,
    DELETE_INCOMPLETE_REPLICA,
    DELETE_SCALE_DOWN,
    DELETE_SUSPEND,
    DELETE_UNHEALTHY,
    DELETE_WORKERS_TO_DELETE,
    PROVISIONED,
    REPLICA_FAILURE_REASONS,
    REQUEUE_DEFAULT_SECONDS,
    REQUEUE_ON_CHANGE_SECONDS,
    SUSPENDED,
    SUSPENDING,
    Action,
    ClusterPlan,
    CreateNode,
    DeleteNode,
    ObservedCluster,
    ObservedNode,
)
from rayplane.reconcile.cluster.status import comparable, desired_status, suspend_status_of
from rayplane.reconcile.conditions import is_true
from rayplane.reconcile.events import Event
from rayplane.reconcile.gotime import format_time, utc
from rayplane.reconcile.kuberay import DISABLE_PROVISIONED_HEAD_RESTART

# -- the reconciler -------------------------------------------------------------------------


def reconcile_cluster(cluster: RayCluster, observed: ObservedCluster, now: datetime) -> ClusterPlan:
    """Plan one pass for *cluster* given *observed*; pure, so the same inputs give the same plan.

    Order (KubeRay's reconcilePods): suspension first; then the head (create if missing,
    replace if terminal, stop on several); then each worker group in spec order (suspended
    group: delete all; terminal nodes: delete and stop the group for this pass; every node
    named in workersToDelete: delete; then scale to clamp(replicas, min, max) x numOfHosts,
    deleting surplus only without in-tree autoscaling, since the autoscaler alone picks
    victims then). Head and workers are created in the same pass, as KubeRay does.
    """
    pass_ = _Pass(cluster, observed)
    previous = cluster.status or RayClusterStatus()
    suspend_status = suspend_status_of(previous.conditions)

    if suspend_status == SUSPENDING:
        for node in pass_.live:
            pass_.delete(node, DELETE_SUSPEND)
    elif (
        suspend_status != SUSPENDED
        and not cluster.spec.suspended
        and pass_.reconcile_head(previous)
    ):
        for group in cluster.spec.worker_group_specs:
            pass_.reconcile_group(group)

    error = pass_.error
    replica_failure: tuple[str, str] | None = None
    for entry in observed.failures:
        why, _, _ = entry.partition(": ")
        reason = why if why in REPLICA_FAILURE_REASONS else reasons.RECONCILE_ERROR
        pass_.events.append(Event.warning(reason, entry))
    if observed.failures:
        first = observed.failures[0]
        reason, _, message = first.partition(": ")
        if reason in REPLICA_FAILURE_REASONS:
            replica_failure = (reason, message)
        error = error or first

    status = desired_status(
        cluster, observed, previous, suspend_status, error, replica_failure, now
    )
    changed = comparable(status) != comparable(previous)
    if changed:
        status = status.model_copy(update={"last_update_time": format_time(now)})
    elif previous.last_update_time is not None:
        status = status.model_copy(update={"last_update_time": previous.last_update_time})
    requeue = REQUEUE_ON_CHANGE_SECONDS if changed or error else REQUEUE_DEFAULT_SECONDS
    return ClusterPlan(
        actions=pass_.actions,
        status=status,
        requeue_after=requeue,
        events=pass_.events,
        changed=changed,
        error=error,
    )


class _Pass:
    """The mutable bookkeeping of one reconcile pass (actions, events, first error)."""

    def __init__(self, cluster: RayCluster, observed: ObservedCluster) -> None:
        self.cluster = cluster
        self.nodes = list(observed.nodes)
        self.live = [node for node in self.nodes if not node.deleting]
        self.actions: list[Action] = []
        self.events: list[Event] = []
        self.error: str | None = None

    def fail(self, message: str) -> None:
        self.events.append(Event.warning(reasons.RECONCILE_ERROR, message))
        if self.error is None:
            self.error = message

    def delete(self, node: ObservedNode, reason: str) -> None:
        self.actions.append(DeleteNode(node.name, reason, node.kind, node.group))
        why = reasons.DELETED_HEAD_POD if node.kind == "head" else reasons.DELETED_WORKER_POD
        self.events.append(Event.normal(why, f"Deleting {node.kind} node {node.name} ({reason})"))

    def create(self, action: CreateNode) -> None:
        self.actions.append(action)
        what = "head node" if action.kind == "head" else f"{action.count} worker node(s)"
        group = "" if action.kind == "head" else f" in group {action.group}"
        why = reasons.CREATED_HEAD_POD if action.kind == "head" else reasons.CREATED_WORKER_POD
        self.events.append(Event.normal(why, f"Creating {what}{group}"))

    # head ---------------------------------------------------------------------------------

    def reconcile_head(self, previous: RayClusterStatus) -> bool:
        """Handle the head; False when the pass must stop here (as KubeRay returns)."""
        heads = [node for node in self.nodes if node.kind == "head"]
        live = [node for node in heads if not node.deleting]
        if len(live) > 1:
            names = ", ".join(sorted(node.name for node in live))
            self.fail(f"{len(live)} head nodes found [{names}]; delete the extra head nodes")
            return False
        if len(live) == 1:
            head = live[0]
            if head.unhealthy:
                self.delete(head, DELETE_UNHEALTHY)
                self.fail(
                    f"head node {head.name} is {head.phase}, a terminal state; it is deleted "
                    "and a new head is created in the next pass"
                )
                return False
            return True
        if heads:  # the old head is still terminating: wait for it before creating another
            return True
        if is_true(previous.conditions, PROVISIONED) and (
            self.cluster.annotation(DISABLE_PROVISIONED_HEAD_RESTART) == "true"
        ):
            self.events.append(
                Event.normal(
                    reasons.HEAD_RESTART_DISABLED,
                    f"Not recreating the head: {DISABLE_PROVISIONED_HEAD_RESTART} is set and the "
                    "cluster was already provisioned",
                )
            )
            return False
        self.create(CreateNode(HEAD_GROUP, "head", 1))
        return True

    # workers ------------------------------------------------------------------------------

    def reconcile_group(self, group: WorkerGroupSpec) -> None:
        name = group.group_name or ""
        live = [n for n in self.live if n.kind == "worker" and n.group == name]
        if group.suspend:
            for node in live:
                self.delete(node, DELETE_GROUP_SUSPENDED)
            return
        hosts = max(1, group.num_of_hosts)
        if hosts > 1:
            self._multi_host(group, name, hosts, live)
        else:
            self._single_host(group, name, live)

    def _single_host(self, group: WorkerGroupSpec, name: str, live: list[ObservedNode]) -> None:
        unhealthy = [node for node in live if node.unhealthy]
        if unhealthy:
            for node in unhealthy:
                self.delete(node, DELETE_UNHEALTHY)
            self.fail(
                f"deleted {len(unhealthy)} unhealthy worker node(s) of group {name}; "
                "replacements are created in the next pass"
            )
            return
        named = set(group.workers_to_delete)
        running: list[ObservedNode] = []
        for node in live:
            if node.name in named:
                self.delete(node, DELETE_WORKERS_TO_DELETE)
            else:
                running.append(node)
        diff = group.desired_replicas - len(running)
        if diff > 0:
            used = {n.replica_index for n in running if n.replica_index is not None}
            indices = _free_indices(used, diff)
            self.create(CreateNode(name, "worker", diff, 1, indices))
        elif diff < 0 and not self.cluster.spec.autoscaling:
            for node in _scale_down_order(running)[:-diff]:
                self.delete(node, DELETE_SCALE_DOWN)

    def _multi_host(
        self, group: WorkerGroupSpec, name: str, hosts: int, live: list[ObservedNode]
    ) -> None:
        """KubeRay's reconcileMultiHostWorkerGroup: replicas live and die as a whole.

        Unlike single-host groups, a replica with a terminal node is deleted and replaced
        in the same pass, as KubeRay does for multi-host groups. Nodes without a replica
        name are not part of any replica and are left alone, as KubeRay leaves them.
        """
        replicas: dict[str, list[ObservedNode]] = {}
        for node in live:
            if node.replica is not None:
                replicas.setdefault(node.replica, []).append(node)

        incomplete = [r for r in sorted(replicas) if len(replicas[r]) < hosts]
        if incomplete:
            for replica in incomplete:
                for node in replicas[replica]:
                    self.delete(node, DELETE_INCOMPLETE_REPLICA)
            self.fail(
                f"deleted incomplete multi-host replica(s) {', '.join(incomplete)} of group "
                f"{name}; they are recreated in the next pass"
            )
            return

        gone: set[str] = set()
        for replica in sorted(replicas):
            if any(node.unhealthy for node in replicas[replica]):
                for node in replicas[replica]:
                    self.delete(node, DELETE_UNHEALTHY)
                gone.add(replica)

        named = set(group.workers_to_delete)
        targeted = [
            r
            for r in sorted(replicas)
            if r not in gone and any(n.name in named for n in replicas[r])
        ]
        if targeted:
            for replica in targeted:
                for node in replicas[replica]:
                    self.delete(node, DELETE_WORKERS_TO_DELETE)
            self.fail(
                f"deleted replica(s) {', '.join(targeted)} of group {name} named in "
                "workersToDelete; scaling resumes in the next pass"
            )
            return

        valid = {r: nodes for r, nodes in replicas.items() if r not in gone}
        to_create = group.desired_replicas - len(valid)
        if to_create > 0:
            used = {
                nodes[0].replica_index
                for nodes in valid.values()
                if nodes[0].replica_index is not None
            }
            indices = _free_indices(used, to_create)
            self.create(CreateNode(name, "worker", to_create * hosts, hosts, indices))
        elif to_create < 0 and not self.cluster.spec.autoscaling:
            for replica in _replica_scale_down_order(valid)[:-to_create]:
                for node in sorted(valid[replica], key=lambda n: n.name):
                    self.delete(node, DELETE_SCALE_DOWN)


def _free_indices(used: set[int], count: int) -> tuple[int, ...]:
    """The *count* lowest replica indices not in *used* (KubeRay fills gaps first)."""
    found: list[int] = []
    index = 0
    while len(found) < count:
        if index not in used:
            found.append(index)
        index += 1
    return tuple(found)


def _scale_down_order(nodes: Iterable[ObservedNode]) -> list[ObservedNode]:
    """Victims first: not running-and-ready, then newest, then by name (deterministic)."""
    newest_first = sorted(nodes, key=lambda n: (utc(n.created).timestamp(), n.name), reverse=True)
    return sorted(newest_first, key=lambda n: n.running_and_ready)


def _replica_scale_down_order(replicas: Mapping[str, list[ObservedNode]]) -> list[str]:
    """Whole replicas, same preference as single nodes: not all ready, then newest."""

    def newest(name: str) -> tuple[float, str]:
        return (max(utc(n.created).timestamp() for n in replicas[name]), name)

    newest_first = sorted(replicas, key=newest, reverse=True)
    return sorted(newest_first, key=lambda r: all(n.running_and_ready for n in replicas[r]))
