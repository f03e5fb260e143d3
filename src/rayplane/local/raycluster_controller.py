"""RayCluster on the local runtime: observe node processes, run the pure reconciler, act.

This module is the local twin of KubeRay's pod handling: a Pod becomes a `ray start
--block` process group, Pod phase becomes process liveness, Pod readiness becomes the node
agent's /api/healthz, and the head Service becomes the head's loopback ports.
"""

from __future__ import annotations

import logging
import os
import secrets
import string
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rayplane.api.raycluster import HEAD_GROUP, RayCluster, WorkerGroupSpec
from rayplane.local.autoscaler import AutoscalerSupervisor
from rayplane.local.configrefs import CONFIG_ERROR, ConfigError, StoreConfigs
from rayplane.local.env import node_environment
from rayplane.local.history import History
from rayplane.local.homepaths import under_home
from rayplane.local.logs import log_tail
from rayplane.local.loopback import LOOPBACK_IP, ray_start_argv
from rayplane.local.node_launcher import NodeLauncher, ProcessLauncher
from rayplane.local.pinned import local_start_command
from rayplane.local.ports import (
    NodePorts,
    allocate_node_ports,
    find_free_ports,
    port_is_free,
    ports_in_use,
)
from rayplane.local.raycluster_describe import (
    REGISTERED,
    add_local_status,
    cluster_notes,
    describe_node,
    status_differs,
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
from rayplane.settings import Settings

log = logging.getLogger("rayplane.clusters")

# A node that dies this many times in a row without ever becoming ready is a crash loop:
# apply stops waiting and shows the node's last log lines instead of retrying forever.
CRASH_LOOP_AFTER = 3
CRASH_LOOP = "CrashLoop"
_ALPHABET = string.ascii_lowercase + string.digits


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
            and message.startswith((CRASH_LOOP, CONFIG_ERROR))
        ):
            return message
    return None


def _suffix() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(5))


class RayClusterController:
    """Creates, watches and stops the nodes of every RayCluster in the store.

    A pass reads the cluster's nodes once, keeps them as its working set, and writes a
    node back only when something about it changed; every node of every cluster is read
    at most once more, and only when a node is to be created or started.
    """

    def __init__(
        self, settings: Settings, store: Store, launcher: NodeLauncher | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self._owns_launcher = launcher is None
        self.launcher: NodeLauncher = launcher if launcher is not None else ProcessLauncher()
        # (cluster uid, group) -> consecutive failures of nodes that were never ready
        self._failures: dict[tuple[str, str], list[str]] = {}
        self._last_failure: dict[tuple[str, str], float] = {}
        # (cluster uid, group) -> why its node was not created in the last pass (a missing
        # Secret/ConfigMap); reported as ReplicaFailure until a pass creates the node.
        self._config_errors: dict[tuple[str, str], str] = {}
        self.configs = StoreConfigs(store)
        self.autoscalers = AutoscalerSupervisor(settings, store)
        self.history = History(settings.home)
        self.teardown = Teardown(settings, store, self.launcher, self.configs, self.history)

    def close(self) -> None:
        self.teardown.close()
        if self._owns_launcher:
            self.launcher.close()

    # reconcile ----------------------------------------------------------------------------

    def reconcile(self, stored: StoredResource) -> None:
        if stored.deleting is not None:
            self._delete_all(stored)
            return
        cluster = RayCluster.model_validate(stored.document())
        nodes, alive = self._observe_nodes(stored.uid)
        observed = self._observed(stored.uid, nodes, alive)
        plan = reconcile_cluster(cluster, observed, datetime.now(UTC))
        for action in plan.actions:
            if isinstance(action, DeleteNode):
                self._delete_node(stored, nodes, action.name, action.reason)
        reported = self._take_config_errors(stored.uid)
        machine = _Machine(self.store, stored.uid, nodes, alive)
        for action in plan.actions:
            if isinstance(action, CreateNode):
                for _ in range(action.count):
                    nodes.append(self._create_node(stored, action.group, machine))
        nodes.sort(key=lambda n: (n.created, n.name))
        self._start_pending(stored, cluster, nodes, machine)
        status = plan.status.wire()
        add_local_status(stored, _head_ports(nodes), status)
        if status != (stored.status or {}) and status_differs(status, stored.status or {}):
            self.store.set_status(stored.uid, status)
        for message in plan.events:
            if CONFIG_ERROR not in message:  # said once below, not on every pass
                self.store.event(stored.uid, "Reconcile", message)
        for (uid, _), message in self._config_errors.items():
            if uid == stored.uid and message not in reported.values():
                self.store.event(uid, CONFIG_ERROR, message, "Warning")
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
                ready, why = self.launcher.healthy(node.ports["dashboard_agent_listen"])
                node.info["why"] = REGISTERED if ready else why
                if ready:
                    node.info["was_ready"] = True
                    self._failures.pop((uid, node.group), None)
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
        for (cluster_uid, group), history in self._failures.items():
            if cluster_uid == uid and len(history) >= CRASH_LOOP_AFTER:
                reason = FAILED_CREATE_HEAD_POD if group == HEAD_GROUP else FAILED_CREATE_WORKER_POD
                failures.append(
                    f"{reason}: {CRASH_LOOP}: {group} nodes failed {len(history)} "
                    f"times in a row; last: {history[-1]}"
                )
        for (cluster_uid, group), message in self._config_errors.items():
            if cluster_uid == uid:
                reason = FAILED_CREATE_HEAD_POD if group == HEAD_GROUP else FAILED_CREATE_WORKER_POD
                failures.append(f"{reason}: {message}")
        return ObservedCluster(nodes=observed, failures=failures)

    def _take_config_errors(self, uid: str) -> dict[tuple[str, str], str]:
        """Forget *uid*'s config errors (this pass finds them anew); return the old ones."""
        taken = {key: msg for key, msg in self._config_errors.items() if key[0] == uid}
        for key in taken:
            del self._config_errors[key]
        return taken

    # nodes ----------------------------------------------------------------------------------

    def _backing_off(self, uid: str, group: str) -> bool:
        """After a crash loop, retry a group at most every 2**n seconds (up to a minute)."""
        history = self._failures.get((uid, group), [])
        if len(history) < CRASH_LOOP_AFTER:
            return False
        wait = min(60.0, 2.0 ** (len(history) - CRASH_LOOP_AFTER + 1))
        return time.time() - self._last_failure.get((uid, group), 0.0) < wait

    def _create_node(
        self, stored: StoredResource, group_name: str, machine: _Machine
    ) -> StoredNode:
        """KubeRay's Pod create: a pending node record with its name, ports and paths.

        The record is the Pod: it exists as soon as the reconciler wants the node, as
        KubeRay creates every missing Pod at once and lets them wait in Pending. Ray's
        autoscaler lists these records as pods; were they created only when a process
        could start, it would count too few and raise replicas past what it needs. The
        process itself starts in :meth:`_start_pending`.
        """
        head = group_name == HEAD_GROUP
        name = (
            f"{stored.name}-head-{_suffix()}"
            if head
            else f"{stored.name}-{group_name}-worker-{_suffix()}"
        )[:63].lower()
        ports, serve_port = self._ports_for(stored, head, machine.taken())
        self.settings.temp_root.mkdir(parents=True, exist_ok=True)
        row = StoredNode(
            name=name,
            cluster_uid=stored.uid,
            group=group_name,
            kind="head" if head else "worker",
            pid=None,
            create_time=None,
            ports={**ports.as_dict(), "serve": serve_port},
            temp_dir=tempfile.mkdtemp(prefix="n", dir=self.settings.temp_root),
            log_path=str(
                under_home(self.settings.home, "logs", stored.namespace, stored.name, f"{name}.log")
            ),
            created=time.time(),
            info={"why": "created; not started yet"},
        )
        self.store.add_node(row)  # ports are claimed before the next node allocates
        machine.claim(row)
        self.store.event(stored.uid, "CreatedNode", f"created {row.kind} node {name}")
        return row

    def _start_pending(
        self,
        stored: StoredResource,
        cluster: RayCluster,
        nodes: list[StoredNode],
        machine: _Machine,
    ) -> None:
        """Start the processes of pending nodes, in the kubelet's order of checks.

        A node waits while its Secret/ConfigMap references fail (CreateContainerConfigError),
        while its group backs off after a crash loop, while it is a worker and the head's
        GCS does not answer (KubeRay's wait-gcs-ready), and while too many nodes are
        already starting on this machine. Each wait is the node's reason in `describe`.
        """
        for node in nodes:
            if node.pid is not None or node.deleting is not None:
                continue
            head = node.kind == "head"
            group = (
                None
                if head
                else next(
                    (g for g in cluster.spec.worker_group_specs if g.group_name == node.group), None
                )
            )
            if not head and group is None:
                continue  # its group is gone; the reconciler deletes it
            ports = NodePorts.from_dict(node.ports)
            head_ports = _head_ports(nodes)
            address = f"{LOOPBACK_IP}:{head_ports.gcs if head_ports else ports.gcs}"
            try:
                # The kubelet does not start a container whose required Secret or ConfigMap
                # reference is missing; neither does this. Every pass tries again, so
                # applying the Secret later lets the node start.
                env = node_environment(
                    stored, cluster, group, node.name, address, self.settings, self.configs
                )
                why = self._start_blocked(stored.uid, node, nodes, machine)
            except ConfigError as exc:
                env, why = {}, str(exc)
                self._config_errors[(stored.uid, node.group)] = why
            if why:
                if node.info.get("why") != why:
                    node.info["why"] = why
                    self.store.update_node(node)
                continue
            self._spawn(stored, cluster, group, node, address, env)
            machine.launched(node, self.launcher)

    def _start_blocked(
        self, uid: str, node: StoredNode, nodes: list[StoredNode], machine: _Machine
    ) -> str:
        """Why *node* may not start in this pass, or "" if it may."""
        if self._backing_off(uid, node.group):
            return f"{CRASH_LOOP}: waiting before the next start"
        if node.kind != "head" and not _head_ready(nodes):
            return "waiting for the head's GCS (wait-gcs-ready)"
        if machine.starting(self.launcher) >= self._start_limit():
            return "queued: other nodes are starting on this machine"
        return ""

    def _spawn(
        self,
        stored: StoredResource,
        cluster: RayCluster,
        group: WorkerGroupSpec | None,
        node: StoredNode,
        address: str,
        env: dict[str, str],
    ) -> None:
        ports = NodePorts.from_dict(node.ports)
        command = local_start_command(
            cluster.spec,
            group,
            ports,
            temp_dir=node.temp_dir,
            address=address,
            object_store_bytes=self.settings.object_store_bytes,
        )
        env.update(ports.env())
        if group is not None:
            # Serve's per-worker proxy port: several proxies share this machine.
            env["RAY_SERVE_WORKER_PROXY_HTTP_PORT"] = str(node.ports["serve"])
        argv = ray_start_argv(command.argv(env)[2:])
        started = self.launcher.start(argv, env, Path(node.log_path))
        node.pid, node.create_time = started.pid, started.create_time
        node.info = {
            "marker": started.marker,
            "command": command.shell(),
            "why": "ray start launched",
        }
        self.store.update_node(node)
        self.store.event(
            stored.uid, "StartedNode", f"started {node.kind} node {node.name} (pid {started.pid})"
        )

    def busy(self) -> bool:
        """True while any node is starting or stopping (the controller polls faster)."""
        if self.teardown.busy():
            return True
        nodes = self.store.nodes()
        if _Machine.count_starting(nodes, self.launcher) > 0:
            return True
        return any(
            n.pid is None and n.deleting is None and CONFIG_ERROR not in str(n.info.get("why"))
            for n in nodes
        )

    def _start_limit(self) -> int:
        """How many nodes may start at once; one at a time on an overloaded machine.

        Ray gives a starting raylet 30 s to register (hard-coded in ray/_private/node.py);
        when the machine is already busier than twice its cores, parallel starts miss that
        and crash-loop, while one at a time still gets through.
        """
        cores = os.cpu_count() or 1
        if os.getloadavg()[0] > 2 * cores:
            return 1
        return self.settings.max_starting_nodes

    def _ports_for(
        self, stored: StoredResource, head: bool, taken: set[int]
    ) -> tuple[NodePorts, int]:
        """A node's ports and Serve port; a head reuses its cluster's first head ports.

        Stable head ports are the local twin of KubeRay's head Service: after a head
        restart the dashboard URL and the GCS address stay the same, and (with GCS FT)
        the surviving workers reconnect to the address they already have.
        """
        if head:
            state = self.store.runtime_state(stored.uid)
            if state.get("head_ports"):
                saved = dict(state["head_ports"])
                previous = NodePorts.from_dict(saved)
                wanted = set(previous.all_ports()) | {saved["serve"]}
                if not wanted & taken and all(port_is_free(p, reuse_addr=True) for p in wanted):
                    return previous, int(saved["serve"])
        ports = allocate_node_ports(head=head, exclude=taken)
        (serve_port,) = find_free_ports(1, exclude=taken | set(ports.all_ports()))
        if head:
            state["head_ports"] = {**ports.as_dict(), "serve": serve_port}
            self.store.set_runtime_state(stored.uid, state)
        return ports, serve_port

    def _delete_node(
        self, stored: StoredResource, nodes: list[StoredNode], name: str, reason: str
    ) -> None:
        node = next((n for n in nodes if n.name == name), None)
        if node is None or node.deleting is not None:
            return
        if not node.info.get("was_ready") and reason == DELETE_UNHEALTHY:
            history = self._failures.setdefault((stored.uid, node.group), [])
            history.append(f"{name}: {node.info.get('why', 'exited')}")
            self._last_failure[(stored.uid, node.group)] = time.time()
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
        self._take_config_errors(stored.uid)
        if not self.store.nodes(stored.uid) and self.teardown.finish(stored):
            for key in [k for k in self._failures if k[0] == stored.uid]:
                del self._failures[key]
            log.info("RayCluster %s/%s deleted", stored.namespace, stored.name)

    # describe -----------------------------------------------------------------------------

    def describe_node(self, node: StoredNode) -> dict[str, Any]:
        alive = (
            node.pid is not None
            and node.create_time is not None
            and self.launcher.alive(node.pid, node.create_time)
        )
        head_ready = node.kind != "worker" or _head_ready(self.store.nodes(node.cluster_uid))
        return describe_node(node, alive=alive, head_ready=head_ready)

    def notes(self, stored: StoredResource) -> list[str]:
        return cluster_notes(stored, self.settings, self.configs)


class _Machine:
    """Every node on this machine, read at most once per pass and only when needed.

    Creating a node needs the ports every node holds; starting one needs how many are
    starting. Both were one query per node; a pass now reads all nodes once and keeps
    the two figures current as it creates and launches.
    """

    def __init__(
        self, store: Store, uid: str, mine: list[StoredNode], alive: dict[str, bool]
    ) -> None:
        self._store = store
        self._mine = mine
        self._alive = alive
        self._uid = uid
        self._others: list[StoredNode] | None = None
        self._taken: set[int] | None = None
        self._starting: int | None = None

    def _other_nodes(self) -> list[StoredNode]:
        if self._others is None:
            self._others = [n for n in self._store.nodes() if n.cluster_uid != self._uid]
        return self._others

    def taken(self) -> set[int]:
        """Ports held by any node: the `exclude` of the next allocation."""
        if self._taken is None:
            every = [*self._other_nodes(), *self._mine]
            self._taken = ports_in_use(n.ports for n in every) | {
                n.ports["serve"] for n in every if "serve" in n.ports
            }
        return self._taken

    def claim(self, node: StoredNode) -> None:
        """A created node's ports are taken for the rest of the pass."""
        self.taken().update(ports_in_use([node.ports]) | {node.ports["serve"]})

    def starting(self, launcher: NodeLauncher) -> int:
        """Nodes of any cluster that were launched and have not registered yet."""
        if self._starting is None:
            self._starting = self.count_starting(self._other_nodes(), launcher) + sum(
                1
                for n in self._mine
                if n.deleting is None
                and n.info.get("why") != REGISTERED
                and n.pid is not None
                and self._alive.get(n.name, False)
            )
        return self._starting

    def launched(self, node: StoredNode, launcher: NodeLauncher) -> None:
        """A node of this pass was launched: it is starting, if its process still runs."""
        if self._starting is not None and node.pid is not None and node.create_time is not None:
            self._starting += launcher.alive(node.pid, node.create_time)

    @staticmethod
    def count_starting(nodes: list[StoredNode], launcher: NodeLauncher) -> int:
        return sum(
            1
            for n in nodes
            if n.deleting is None
            and n.info.get("why") != REGISTERED
            and n.pid is not None
            and n.create_time is not None
            and launcher.alive(n.pid, n.create_time)
        )


def _head_ready(nodes: list[StoredNode]) -> bool:
    return any(n.kind == "head" and n.info.get("why") == REGISTERED for n in nodes)


def _head_ports(nodes: list[StoredNode]) -> NodePorts | None:
    for node in nodes:
        if node.kind == "head" and node.deleting is None:
            return NodePorts.from_dict(node.ports)
    return None
