"""Bringing a RayCluster's nodes up: records first, then processes, in the kubelet's order.

A created node is a record with its ports and paths (KubeRay's Pending Pod); its process
starts in a later check once nothing holds it back: a missing Secret or ConfigMap, a crash
loop's backoff, a head not ready yet, or too many nodes already starting on this machine.
The memory those checks need (crash-loop history, config errors) lives here too.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from rayplane.api.raycluster import HEAD_GROUP, RayCluster, WorkerGroupSpec
from rayplane.local.configrefs import ConfigError, StoreConfigs
from rayplane.local.env import node_environment
from rayplane.local.homepaths import under_home
from rayplane.local.loopback import LOOPBACK_IP, ray_start_argv
from rayplane.local.mounts import View
from rayplane.local.node_launcher import NodeLauncher
from rayplane.local.node_view import node_view
from rayplane.local.pinned import local_start_command
from rayplane.local.ports import (
    NodePorts,
    allocate_node_ports,
    find_free_ports,
    port_is_free,
    ports_in_use,
)
from rayplane.local.prometheus import dashboard_env
from rayplane.local.ray_envs import IMAGE_PULL, RayEnvs, venv_environment, wanted_version
from rayplane.local.raycluster_describe import REGISTERED
from rayplane.local.store import Store, StoredNode, StoredResource
from rayplane.reconcile.kuberay import random_suffix
from rayplane.settings import LocalSettings

# A node that dies this many times in a row without ever becoming ready is a crash loop:
# apply stops waiting and shows the node's last log lines instead of retrying forever.
CRASH_LOOP_AFTER = 3
CRASH_LOOP = "CrashLoop"


class NodeStarts:
    """Creates node records and starts their processes, remembering why starts failed."""

    def __init__(
        self, settings: LocalSettings, store: Store, launcher: NodeLauncher, configs: StoreConfigs
    ) -> None:
        self.settings = settings
        self.store = store
        self.launcher = launcher
        self.configs = configs
        # (cluster uid, group) -> consecutive failures of nodes that were never ready
        self.failures: dict[tuple[str, str], list[str]] = {}
        self.last_failure: dict[tuple[str, str], float] = {}
        # (cluster uid, group) -> why its node was not created in the last pass (a missing
        # Secret/ConfigMap); reported as ReplicaFailure until a pass creates the node.
        self.config_errors: dict[tuple[str, str], str] = {}
        # Per-version virtualenvs for clusters whose rayVersion is not the installed Ray.
        self.ray_envs = RayEnvs(settings.home)

    def take_config_errors(self, uid: str) -> dict[tuple[str, str], str]:
        """Forget *uid*'s config errors (this pass finds them anew); return the old ones."""
        taken = {key: msg for key, msg in self.config_errors.items() if key[0] == uid}
        for key in taken:
            del self.config_errors[key]
        return taken

    def _backing_off(self, uid: str, group: str) -> bool:
        """After a crash loop, retry a group at most every 2**n seconds (up to a minute)."""
        history = self.failures.get((uid, group), [])
        if len(history) < CRASH_LOOP_AFTER:
            return False
        wait = min(60.0, 2.0 ** (len(history) - CRASH_LOOP_AFTER + 1))
        return time.time() - self.last_failure.get((uid, group), 0.0) < wait

    def create(self, stored: StoredResource, group_name: str, machine: MachineNodes) -> StoredNode:
        """KubeRay's Pod create: a pending node record with its name, ports and paths.

        The record is the Pod: it exists as soon as the reconciler wants the node, as
        KubeRay creates every missing Pod at once and lets them wait in Pending. Ray's
        autoscaler lists these records as pods; were they created only when a process
        could start, it would count too few and raise replicas past what it needs. The
        process itself starts in :meth:`start_pending`.
        """
        head = group_name == HEAD_GROUP
        name = (
            f"{stored.name}-head-{random_suffix()}"
            if head
            else f"{stored.name}-{group_name}-worker-{random_suffix()}"
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

    def start_pending(
        self,
        stored: StoredResource,
        cluster: RayCluster,
        nodes: list[StoredNode],
        machine: MachineNodes,
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
            gcs_of = head_ports(nodes)
            address = f"{LOOPBACK_IP}:{gcs_of.gcs if gcs_of else ports.gcs}"
            try:
                # The kubelet does not start a container whose required Secret or ConfigMap
                # reference is missing; neither does this. Every pass tries again, so
                # applying the Secret later lets the node start.
                env = node_environment(
                    stored, cluster, group, node.name, address, self.settings, self.configs
                )
                why = self._start_blocked(stored.uid, node, nodes, machine)
                python, why = (None, why) if why else self.ray_python(cluster)
                if why.startswith(IMAGE_PULL):
                    self.config_errors[(stored.uid, node.group)] = why
                view = (
                    None
                    if why
                    else node_view(self.settings, self.store, stored, cluster, group, node)
                )
            except ConfigError as exc:
                env, why, python, view = {}, str(exc), None, None
                self.config_errors[(stored.uid, node.group)] = why
            if why:
                if node.info.get("why") != why:
                    node.info["why"] = why
                    self.store.update_node(node)
                continue
            self._spawn(stored, cluster, group, node, address, env, python, view)
            machine.launched(node, self.launcher)

    def _start_blocked(
        self, uid: str, node: StoredNode, nodes: list[StoredNode], machine: MachineNodes
    ) -> str:
        """Why *node* may not start in this pass, or "" if it may."""
        if self._backing_off(uid, node.group):
            return f"{CRASH_LOOP}: waiting before the next start"
        if node.kind != "head" and not head_ready(nodes):
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
        python: Path | None = None,
        view: View | None = None,
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
        if group is None:  # the head's dashboard graphs come from this home's Prometheus
            env.update(dashboard_env(self.settings.home, env))
        if group is not None:
            # Serve's per-worker proxy port: several proxies share this machine.
            env["RAY_SERVE_WORKER_PROXY_HTTP_PORT"] = str(node.ports["serve"])
        if python is not None:
            env.update(venv_environment(python, env.get("PATH")))
        argv = ray_start_argv(command.argv(env)[2:], python=str(python or sys.executable))
        started = self.launcher.start(argv, env, Path(node.log_path), view=view)
        node.pid, node.create_time = started.pid, started.create_time
        node.info = {
            "marker": started.marker,
            "command": command.shell(),
            "why": "ray start launched",
            "mounts": node.info.get("mounts", []),
            "mountsMissing": node.info.get("mountsMissing", []),
        }
        if python is not None:
            node.info["python"] = str(python)
        self.store.update_node(node)
        self.store.event(
            stored.uid, "StartedNode", f"started {node.kind} node {node.name} (pid {started.pid})"
        )

    def ray_python(self, cluster: RayCluster) -> tuple[Path | None, str]:
        """The python that runs *cluster*'s nodes (None: this one), or why not yet.

        Only with RAYPLANE_RAY_VERSIONS=install and a rayVersion other than the installed
        Ray; a failed build is reported like a failed image pull and retried later.
        """
        version = wanted_version(cluster.spec.ray_version, self.settings.ray_versions)
        if version is None:
            return None, ""
        return self.ray_envs.python_for(version)

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


class MachineNodes:
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


def head_ready(nodes: list[StoredNode]) -> bool:
    return any(n.kind == "head" and n.info.get("why") == REGISTERED for n in nodes)


def head_ports(nodes: list[StoredNode]) -> NodePorts | None:
    for node in nodes:
        if node.kind == "head" and node.deleting is None:
            return NodePorts.from_dict(node.ports)
    return None
