"""RayCluster on the local runtime: observe node processes, run the pure reconciler, act.

This module is the local twin of KubeRay's pod handling: a Pod becomes a `ray start
--block` process group, Pod phase becomes process liveness, Pod readiness becomes the node
agent's /api/healthz, and the head Service becomes the head's loopback ports.

The pass lives here; bringing nodes up is :mod:`raycluster_starts`, taking them down
:mod:`raycluster_teardown`, what `describe` shows :mod:`raycluster_describe`, and every
process goes through the runtime port, :mod:`node_launcher`.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from rayplane.api.raycluster import HEAD_GROUP, RayCluster
from rayplane.local.auth_token import ensure_secret, remove_secret, token_of
from rayplane.local.autoscaler import AutoscalerSupervisor
from rayplane.local.configrefs import CONFIG_ERROR, StoreConfigs
from rayplane.local.history import History
from rayplane.local.idle_probe import IdleWatch
from rayplane.local.logs import log_tail
from rayplane.local.loopback import LOOPBACK_IP
from rayplane.local.node_launcher import NodeLauncher, ProcessLauncher
from rayplane.local.node_view import refresh_views
from rayplane.local.ray_envs import IMAGE_PULL
from rayplane.local.raycluster_describe import (
    REGISTERED,
    add_local_status,
    cluster_notes,
    describe_node,
    status_differs,
)
from rayplane.local.raycluster_starts import (
    CRASH_LOOP,
    CRASH_LOOP_AFTER,
    MachineNodes,
    NodeStarts,
    head_ports,
    head_ready,
)
from rayplane.local.raycluster_teardown import Teardown
from rayplane.local.store import Store, StoredNode, StoredResource
from rayplane.reconcile.cluster import (
    DELETE_UNHEALTHY,
    FAILED_CREATE_HEAD_POD,
    FAILED_CREATE_WORKER_POD,
    CreateNode,
    DeleteNode,
    ObservedCluster,
    ObservedNode,
    Phase,
    reconcile_cluster,
)
from rayplane.settings import LocalSettings

log = logging.getLogger("rayplane.clusters")


def blocking_failure(status: dict[str, Any] | None) -> str | None:
    """The ReplicaFailure message a user must act on, if the cluster has one.

    A crash loop, or a node held back by a missing Secret/ConfigMap: the controller keeps
    retrying both, but retrying alone will not fix them, so `apply` stops waiting on them
    (for the cluster itself, or the RayJob/RayService that owns it) and says why.
    """
    for condition in (status or {}).get("conditions") or []:
        message = str(condition.get("message") or "")
        if (
            condition.get("type") == "ReplicaFailure"
            and condition.get("status") == "True"
            and message.startswith((CRASH_LOOP, CONFIG_ERROR, IMAGE_PULL))
        ):
            return message
    return None


class RayClusterController:
    """Creates, watches and stops the nodes of every RayCluster in the store.

    A pass reads the cluster's nodes once, keeps them as its working set, and writes a
    node back only when something about it changed; every node of every cluster is read
    at most once more, and only when a node is to be created or started.
    """

    def __init__(
        self, settings: LocalSettings, store: Store, launcher: NodeLauncher | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self._owns_launcher = launcher is None
        self.launcher: NodeLauncher = launcher if launcher is not None else ProcessLauncher()
        self.configs = StoreConfigs(store)
        self.starts = NodeStarts(settings, store, self.launcher, self.configs)
        self.autoscalers = AutoscalerSupervisor(settings, store)
        self.history = History(settings.home)
        self.teardown = Teardown(settings, store, self.launcher, self.configs, self.history)
        self.idle = IdleWatch(store, token=lambda stored: token_of(store, stored))

    def close(self) -> None:
        self.idle.close()
        self.teardown.close()
        if self._owns_launcher:
            self.launcher.close()

    # reconcile ----------------------------------------------------------------------------

    def reconcile(self, stored: StoredResource) -> None:
        if stored.deleting is not None:
            self._delete_all(stored)
            return
        cluster = RayCluster.model_validate(stored.document())
        ensure_secret(self.store, stored, cluster.spec)  # before any node, as KubeRay
        nodes, alive = self._observe_nodes(stored.uid)
        observed = self._observed(stored.uid, nodes, alive)
        plan = reconcile_cluster(cluster, observed, datetime.now(UTC))
        for action in plan.actions:
            if isinstance(action, DeleteNode):
                self._delete_node(stored, nodes, action.name, action.reason)
        reported = self.starts.take_config_errors(stored.uid)
        machine = MachineNodes(self.store, stored.uid, nodes, alive)
        for action in plan.actions:
            if isinstance(action, CreateNode):
                for _ in range(action.count):
                    nodes.append(self.starts.create(stored, action.group, machine))
        nodes.sort(key=lambda n: (n.created, n.name))
        self.starts.start_pending(stored, cluster, nodes, machine)
        refresh_views(self.settings, self.store, stored, cluster, nodes)
        status = plan.status.wire()
        add_local_status(stored, head_ports(nodes), status)
        if status != (stored.status or {}) and status_differs(status, stored.status or {}):
            self.store.set_status(stored.uid, status)
        for event in plan.events:
            if CONFIG_ERROR not in event.message:  # said once below, not on every pass
                self.store.event(stored.uid, event.reason, event.message, event.type)
        for (uid, _), message in self.starts.config_errors.items():
            if uid == stored.uid and message not in reported.values():
                reason = IMAGE_PULL if message.startswith(IMAGE_PULL) else CONFIG_ERROR
                self.store.event(uid, reason, message, "Warning")
        # spec.idleTerminationOptions: suspend or delete a cluster nobody uses.
        self.idle.check(stored, cluster, nodes)
        # In-tree autoscaling: Ray's autoscaler runs beside a registered head.
        if self.settings.local_autoscaler:
            head = next(
                (
                    n
                    for n in nodes
                    if n.kind == "head" and n.deleting is None and n.info.get("was_ready")
                ),
                None,
            )
            self.autoscalers.reconcile(stored, cluster, head)
        else:
            self.autoscalers.stop(stored)  # one left by a controller that had it on

    def observe(self, uid: str) -> ObservedCluster:
        """The cluster as the pure reconciler sees it, its node records brought up to date."""
        nodes, alive = self._observe_nodes(uid)
        return self._observed(uid, nodes, alive)

    def _observe_nodes(self, uid: str) -> tuple[list[StoredNode], dict[str, bool]]:
        """*uid*'s nodes, read once, with what their processes say; changed rows written.

        Also returns each node's liveness by name, so the rest of the pass asks no process
        twice. A deleting node whose stop has finished is gone from both.
        """
        nodes: list[StoredNode] = []
        alive_by_name: dict[str, bool] = {}
        dashboard = _dashboard_included(self.store.get_by_uid(uid))
        for node in self.store.nodes(uid):
            before = (dict(node.info), node.deleting)
            alive = (
                node.pid is not None
                and node.create_time is not None
                and self.launcher.alive(node.pid, node.create_time)
            )
            if node.deleting is not None and self.teardown.settle(node):
                continue
            if alive and node.deleting is None:
                ready, why = self.launcher.healthy(
                    node.ports["dashboard_agent_listen"],
                    node.ports.get("dashboard") if node.kind == "head" and dashboard else None,
                )
                node.info["why"] = REGISTERED if ready else why
                if ready:
                    node.info["was_ready"] = True
                    self.starts.failures.pop((uid, node.group), None)
            pending = node.pid is None and node.deleting is None
            if not alive and not pending and node.deleting is None:
                node.info["why"] = "process exited: " + (log_tail(node.log_path, 2) or "no log")
            if (node.info, node.deleting) != before:
                self.store.update_node(node)
            nodes.append(node)
            alive_by_name[node.name] = alive
        return nodes, alive_by_name

    def _observed(
        self, uid: str, nodes: list[StoredNode], alive: dict[str, bool]
    ) -> ObservedCluster:
        observed: list[ObservedNode] = []
        for node in nodes:
            pending = node.pid is None and node.deleting is None
            phase: Phase = "Pending" if pending else "Running" if alive[node.name] else "Failed"
            observed.append(
                ObservedNode(
                    name=node.name,
                    group=node.group,
                    kind="head" if node.kind == "head" else "worker",
                    phase=phase,
                    ready=node.deleting is None
                    and node.info.get("why") == REGISTERED
                    and alive[node.name],
                    deleting=node.deleting is not None,
                    ip=LOOPBACK_IP,
                    created=datetime.fromtimestamp(node.created, UTC),
                )
            )
        failures: list[str] = []
        for (cluster_uid, group), history in self.starts.failures.items():
            if cluster_uid == uid and len(history) >= CRASH_LOOP_AFTER:
                reason = FAILED_CREATE_HEAD_POD if group == HEAD_GROUP else FAILED_CREATE_WORKER_POD
                failures.append(
                    f"{reason}: {CRASH_LOOP}: {group} nodes failed {len(history)} "
                    f"times in a row; last: {history[-1]}"
                )
        for (cluster_uid, group), message in self.starts.config_errors.items():
            if cluster_uid == uid:
                reason = FAILED_CREATE_HEAD_POD if group == HEAD_GROUP else FAILED_CREATE_WORKER_POD
                failures.append(f"{reason}: {message}")
        return ObservedCluster(nodes=observed, failures=failures)

    def busy(self) -> bool:
        """True while any node is starting or stopping (the controller polls faster)."""
        if self.teardown.busy():
            return True
        nodes = self.store.nodes()
        if MachineNodes.count_starting(nodes, self.launcher) > 0:
            return True
        return any(
            n.pid is None and n.deleting is None and CONFIG_ERROR not in str(n.info.get("why"))
            for n in nodes
        )

    def _delete_node(
        self, stored: StoredResource, nodes: list[StoredNode], name: str, reason: str
    ) -> None:
        node = next((n for n in nodes if n.name == name), None)
        if node is None or node.deleting is not None:
            return
        if not node.info.get("was_ready") and reason == DELETE_UNHEALTHY:
            history = self.starts.failures.setdefault((stored.uid, node.group), [])
            history.append(f"{name}: {node.info.get('why', 'exited')}")
            self.starts.last_failure[(stored.uid, node.group)] = time.time()
        node.deleting = time.time()
        self.store.update_node(node)
        self.store.event(stored.uid, "DeletedNode", f"deleting {node.kind} node {name}: {reason}")
        self.teardown.schedule_stop(node)

    def _delete_all(self, stored: StoredResource) -> None:
        self.autoscalers.stop(stored)  # first: it must not scale a cluster being deleted
        self.teardown.begin(stored)
        nodes, _ = self._observe_nodes(stored.uid)
        for node in list(nodes):
            if node.deleting is None:
                self._delete_node(stored, nodes, node.name, "the RayCluster is being deleted")
        self.starts.take_config_errors(stored.uid)
        if not self.store.nodes(stored.uid) and self.teardown.finish(stored):
            remove_secret(self.store, stored)
            for key in [k for k in self.starts.failures if k[0] == stored.uid]:
                del self.starts.failures[key]
            log.info("RayCluster %s/%s deleted", stored.namespace, stored.name)

    # describe -----------------------------------------------------------------------------

    def describe_node(self, node: StoredNode) -> dict[str, Any]:
        alive = (
            node.pid is not None
            and node.create_time is not None
            and self.launcher.alive(node.pid, node.create_time)
        )
        ready = node.kind != "worker" or head_ready(self.store.nodes(node.cluster_uid))
        return describe_node(node, alive=alive, head_ready=ready)

    def notes(self, stored: StoredResource) -> list[str]:
        return cluster_notes(stored, self.settings, self.configs)


def _dashboard_included(stored: StoredResource | None) -> bool:
    """Whether the head runs a dashboard (rayStartParams include-dashboard not "false"):
    its readiness then waits for the dashboard as well."""
    if stored is None:
        return True
    spec = stored.document().get("spec") or {}
    params = (spec.get("headGroupSpec") or {}).get("rayStartParams") or {}
    return str(params.get("include-dashboard", "true")).strip().lower() != "false"
