"""RayCluster on the local runtime: observe node processes, run the pure reconciler, act.

This module is the local twin of KubeRay's pod handling: a Pod becomes a `ray start
--block` process group, Pod phase becomes process liveness, Pod readiness becomes the node
agent's /api/healthz, and the head Service becomes the head's loopback ports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import shutil
import string
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from rayplane.api.raycluster import HEAD_GROUP, RayCluster, WorkerGroupSpec
from rayplane.clients.health import node_healthy
from rayplane.local import process
from rayplane.local.autoscaler import AutoscalerSupervisor
from rayplane.local.configrefs import CONFIG_ERROR, ConfigError, StoreConfigs
from rayplane.local.env import env_notes, node_environment, redis_password
from rayplane.local.history import History, finish_cluster
from rayplane.local.homepaths import UnsafePath, remove_tree, under_home
from rayplane.local.logs import log_tail
from rayplane.local.loopback import LOOPBACK_IP, ray_start_argv
from rayplane.local.notes import apply_notes, local_notes
from rayplane.local.pinned import local_start_command
from rayplane.local.ports import (
    NodePorts,
    allocate_node_ports,
    find_free_ports,
    port_is_free,
    ports_in_use,
)
from rayplane.local.redis_cleanup import clean_redis
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
from rayplane.reconcile.gcs_ft import GcsFt, gcs_ft
from rayplane.settings import LocalSettings

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


class ClusterRuntime:
    """Creates, watches and stops the nodes of every RayCluster in the store."""

    def __init__(self, settings: LocalSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._stops = ThreadPoolExecutor(max_workers=16, thread_name_prefix="stop")
        self._stopping: dict[str, Future[Any]] = {}
        self._http = httpx.Client(timeout=1.0)
        # (cluster uid, group) -> consecutive failures of nodes that were never ready
        self._failures: dict[tuple[str, str], list[str]] = {}
        self._last_failure: dict[tuple[str, str], float] = {}
        # (cluster uid, group) -> why its node was not created in the last pass (a missing
        # Secret/ConfigMap); reported as ReplicaFailure until a pass creates the node.
        self._config_errors: dict[tuple[str, str], str] = {}
        # cluster uid -> GCS FT settings with the Redis password, read when its delete began
        # (the Secret may be deleted with it, before the cleanup runs)
        self._cleanup_ft: dict[str, GcsFt] = {}
        self.configs = StoreConfigs(store)
        self.autoscalers = AutoscalerSupervisor(settings, store)
        self.history = History(settings.home)

    def close(self) -> None:
        self._stops.shutdown(wait=False, cancel_futures=False)
        self._http.close()

    # reconcile ----------------------------------------------------------------------------

    def reconcile(self, stored: StoredResource) -> None:
        if stored.deleting is not None:
            self._delete_all(stored)
            return
        cluster = RayCluster.model_validate(stored.document())
        observed = self.observe(stored.uid)
        plan = reconcile_cluster(cluster, observed, datetime.now(UTC))
        for action in plan.actions:
            if isinstance(action, DeleteNode):
                self._delete_node(stored, action.name, action.reason)
        reported = self._take_config_errors(stored.uid)
        for action in plan.actions:
            if isinstance(action, CreateNode):
                for _ in range(action.count):
                    self._create_node(stored, action.group)
        self._start_pending(stored, cluster)
        status = plan.status.wire()
        self._add_local_status(stored, status)
        if status != (stored.status or {}) and _differs(status, stored.status or {}):
            self.store.set_status(stored.uid, status)
        for event in plan.events:
            if CONFIG_ERROR not in event.message:  # said once below, not on every pass
                self.store.event(stored.uid, event.reason, event.message, event.type)
        for (uid, _), message in self._config_errors.items():
            if uid == stored.uid and message not in reported.values():
                self.store.event(uid, CONFIG_ERROR, message, "Warning")
        # In-tree autoscaling: Ray's autoscaler runs beside a registered head.
        if self.settings.local_autoscaler:
            head = next(
                (
                    n
                    for n in self.store.nodes(stored.uid)
                    if n.kind == "head" and n.deleting is None and n.info.get("was_ready")
                ),
                None,
            )
            self.autoscalers.reconcile(stored, cluster, head)
        else:
            self.autoscalers.stop(stored)  # one left by a controller that had it on

    def observe(self, uid: str) -> ObservedCluster:
        nodes: list[ObservedNode] = []
        failures: list[str] = []
        for node in self.store.nodes(uid):
            alive = (
                node.pid is not None
                and node.create_time is not None
                and process.is_alive(node.pid, node.create_time)
            )
            if node.deleting is not None:
                future = self._stopping.get(node.name)
                if future is None:
                    self._schedule_stop(node)
                elif future.done():
                    self._forget(node)
                    continue
            ready = False
            if alive and node.deleting is None:
                ready, why = node_healthy(
                    self._http, LOOPBACK_IP, node.ports["dashboard_agent_listen"]
                )
                node.info["why"] = "registered with Ray" if ready else why
                if ready:
                    node.info["was_ready"] = True
                    self._failures.pop((uid, node.group), None)
            pending = node.pid is None and node.deleting is None
            phase: Phase = "Pending" if pending else "Running" if alive else "Failed"
            if not alive and not pending and node.deleting is None:
                node.info["why"] = "process exited: " + (log_tail(node.log_path, 2) or "no log")
            self.store.update_node(node)
            nodes.append(
                ObservedNode(
                    name=node.name,
                    group=node.group,
                    kind="head" if node.kind == "head" else "worker",
                    phase=phase,
                    ready=ready,
                    deleting=node.deleting is not None,
                    ip=LOOPBACK_IP,
                    created=datetime.fromtimestamp(node.created, UTC),
                )
            )
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
        return ObservedCluster(nodes=nodes, failures=failures)

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

    def _create_node(self, stored: StoredResource, group_name: str) -> None:
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
        ports, serve_port = self._ports_for(stored, head)
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
        self.store.event(stored.uid, "CreatedNode", f"created {row.kind} node {name}")

    def _start_pending(self, stored: StoredResource, cluster: RayCluster) -> None:
        """Start the processes of pending nodes, in the kubelet's order of checks.

        A node waits while its Secret/ConfigMap references fail (CreateContainerConfigError),
        while its group backs off after a crash loop, while it is a worker and the head's
        GCS does not answer (KubeRay's wait-gcs-ready), and while too many nodes are
        already starting on this machine. Each wait is the node's reason in `describe`.
        """
        for node in self.store.nodes(stored.uid):
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
            head_ports = self._head_ports(stored.uid)
            address = f"{LOOPBACK_IP}:{head_ports.gcs if head_ports else ports.gcs}"
            try:
                # The kubelet does not start a container whose required Secret or ConfigMap
                # reference is missing; neither does this. Every pass tries again, so
                # applying the Secret later lets the node start.
                env = node_environment(
                    stored, cluster, group, node.name, address, self.settings, self.configs
                )
                why = self._start_blocked(stored.uid, node)
            except ConfigError as exc:
                env, why = {}, str(exc)
                self._config_errors[(stored.uid, node.group)] = why
            if why:
                if node.info.get("why") != why:
                    node.info["why"] = why
                    self.store.update_node(node)
                continue
            self._spawn(stored, cluster, group, node, address, env)

    def _start_blocked(self, uid: str, node: StoredNode) -> str:
        """Why *node* may not start in this pass, or "" if it may."""
        if self._backing_off(uid, node.group):
            return f"{CRASH_LOOP}: waiting before the next start"
        if node.kind != "head" and not self._head_ready(uid):
            return "waiting for the head's GCS (wait-gcs-ready)"
        if self._starting() >= self._start_limit():
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
        started = process.spawn(argv, env, Path(node.log_path))
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
        if self._stopping or self._starting() > 0:
            return True
        return any(
            n.pid is None and n.deleting is None and CONFIG_ERROR not in str(n.info.get("why"))
            for n in self.store.nodes()
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

    def _starting(self) -> int:
        """Nodes of any cluster that were launched and have not registered yet."""
        return sum(
            1
            for n in self.store.nodes()
            if n.deleting is None
            and n.info.get("why") != "registered with Ray"
            and n.pid is not None
            and n.create_time is not None
            and process.is_alive(n.pid, n.create_time)
        )

    def _ports_for(self, stored: StoredResource, head: bool) -> tuple[NodePorts, int]:
        """A node's ports and Serve port; a head reuses its cluster's first head ports.

        Stable head ports are the local twin of KubeRay's head Service: after a head
        restart the dashboard URL and the GCS address stay the same, and (with GCS FT)
        the surviving workers reconnect to the address they already have.
        """
        nodes = self.store.nodes()
        taken = ports_in_use(n.ports for n in nodes) | {
            n.ports["serve"] for n in nodes if "serve" in n.ports
        }
        state = self.store.runtime_state(stored.uid)
        if head and state.get("head_ports"):
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

    def _head_ready(self, uid: str) -> bool:
        return any(
            n.kind == "head" and n.info.get("why") == "registered with Ray"
            for n in self.store.nodes(uid)
        )

    def _head_ports(self, uid: str) -> NodePorts | None:
        for node in self.store.nodes(uid):
            if node.kind == "head" and node.deleting is None:
                return NodePorts.from_dict(node.ports)
        return None

    def _delete_node(self, stored: StoredResource, name: str, reason: str) -> None:
        node = next((n for n in self.store.nodes(stored.uid) if n.name == name), None)
        if node is None or node.deleting is not None:
            return
        if not node.info.get("was_ready") and reason == DELETE_UNHEALTHY:
            history = self._failures.setdefault((stored.uid, node.group), [])
            history.append(f"{name}: {node.info.get('why', 'exited')}")
            self._last_failure[(stored.uid, node.group)] = time.time()
        node.deleting = time.time()
        self.store.update_node(node)
        self.store.event(stored.uid, "DeletedNode", f"deleting {node.kind} node {name}: {reason}")
        self._schedule_stop(node)

    def _schedule_stop(self, node: StoredNode) -> None:
        if node.name in self._stopping:
            return
        self._stopping[node.name] = self._stops.submit(self._stop, node)

    def _stop(self, node: StoredNode) -> None:
        if node.pid is not None and node.create_time is not None:
            process.stop_group(
                node.pid,
                node.pid,
                node.create_time,
                self.settings.stop_grace_s,
                marker=node.info.get("marker"),
            )

    def _forget(self, node: StoredNode) -> None:
        # The row names the folder; a row that points outside the temp root (a hand-edited
        # or older database) must not make a delete remove someone else's files.
        temp_dir = Path(node.temp_dir).resolve()
        if self.settings.temp_root.resolve() in temp_dir.parents:
            shutil.rmtree(temp_dir, ignore_errors=True)
        else:
            log.warning("not removing %s: it is not under %s", temp_dir, self.settings.temp_root)
        self.store.remove_node(node.name)
        self._stopping.pop(node.name, None)

    def _delete_all(self, stored: StoredResource) -> None:
        self.autoscalers.stop(stored)  # first: it must not scale a cluster being deleted
        if stored.uid not in self._cleanup_ft:
            cluster = RayCluster.model_validate(stored.document())
            password = redis_password(cluster, stored.namespace, self.configs, strict=False)
            self._cleanup_ft[stored.uid] = dataclasses.replace(
                gcs_ft(cluster), redis_password=password
            )
        remaining = self.observe(stored.uid).nodes
        for node in remaining:
            if not node.deleting:
                self._delete_node(stored, node.name, "the RayCluster is being deleted")
        self._take_config_errors(stored.uid)
        if not self.store.nodes(stored.uid) and self._gcs_cleaned(stored):
            # A forged identity had nothing kept for it; remove_tree logs the refusal.
            with contextlib.suppress(UnsafePath):
                logs = under_home(self.settings.home, "logs", stored.namespace, stored.name)
                self._keep_history(stored, logs)
            remove_tree(self.settings.home, "logs", stored.namespace, stored.name)
            self.store.remove(stored.uid)
            self._cleanup_ft.pop(stored.uid, None)
            for key in [k for k in self._failures if k[0] == stored.uid]:
                del self._failures[key]
            log.info("RayCluster %s/%s deleted", stored.namespace, stored.name)

    def _keep_history(self, stored: StoredResource, logs: Path) -> None:
        """A RayJob's cluster leaves its node logs in the job's history before they go."""
        try:
            finish_cluster(self.history, self.store, stored, logs)
        except OSError as exc:
            self.store.event(
                stored.uid, "HistoryNotKept", f"could not keep the node logs: {exc}", "Warning"
            )

    def _gcs_cleaned(self, stored: StoredResource) -> bool:
        """With GCS FT, clean the cluster's storage once its head is gone; True when done.

        The cleanup runs in the background under a deadline (KubeRay's
        ray.io/gcs-ft-deletion-timeout), so a Redis that is down delays a delete by at most
        that long and never leaves a cluster stuck deleting; either way the outcome is an
        event that `rayplane delete` prints.
        """
        cluster = RayCluster.model_validate(stored.document())
        ft = self._cleanup_ft.get(stored.uid) or gcs_ft(cluster)
        if not ft.enabled:
            return True
        key = f"gcs-cleanup/{stored.uid}"
        future = self._stopping.get(key)
        if future is None:
            self._stopping[key] = self._stops.submit(self._clean_storage, stored, cluster, ft)
            return False
        if not future.done():
            return False
        del self._stopping[key]
        return True

    def _clean_storage(self, stored: StoredResource, cluster: RayCluster, ft: GcsFt) -> None:
        if ft.backend == "rocksdb":
            key = str(cluster.metadata.uid or cluster.name)
            if remove_tree(self.settings.home, "gcs", key):
                path = self.settings.home / "gcs" / key
                self.store.event(stored.uid, "GCSStorageCleaned", f"removed RocksDB storage {path}")
            return
        ok, message = clean_redis(
            ft, min(ft.deletion_timeout_s, self.settings.gcs_cleanup_timeout_s)
        )
        if not ok and ft.password_secret and ft.redis_password is None:
            name, key = ft.password_secret
            message += (
                f' (the password Secret "{name}" or its key "{key}" was not found when the '
                "delete began)"
            )
        # The owner (a RayJob or RayService) hears it too: its `delete` prints the outcome.
        refs = (stored.body.get("metadata") or {}).get("ownerReferences") or []
        for uid in (stored.uid, *(ref["uid"] for ref in refs if ref.get("uid"))):
            self.store.event(
                uid,
                "GCSStorageCleaned" if ok else "GCSStorageNotCleaned",
                f"RayCluster {stored.name}: {message}",
                "Normal" if ok else "Warning",
            )

    # describe -----------------------------------------------------------------------------

    def describe_node(self, node: StoredNode) -> dict[str, Any]:
        alive = (
            node.pid is not None
            and node.create_time is not None
            and process.is_alive(node.pid, node.create_time)
        )
        if node.deleting is not None:
            state, reason = "stopping", "being stopped"
        elif node.pid is None:
            state, reason = "pending", str(node.info.get("why") or "not started yet")
        elif not alive:
            state, reason = "failed", str(node.info.get("why", "process exited"))
        elif node.info.get("why") == "registered with Ray":
            state, reason = "ready", ""
        else:
            state = "starting"
            reason = str(node.info.get("why") or "ray start launched")
            if "agent not answering" in reason:
                reason = (
                    "waiting for the head"
                    if node.kind == "worker" and not self._head_ready(node.cluster_uid)
                    else "ray start running"
                )
        ports = {
            "gcs": node.ports.get("gcs"),
            "dashboard": node.ports.get("dashboard"),
            "agent": node.ports.get("dashboard_agent_listen"),
            "client": node.ports.get("client_server"),
        }
        return {
            "name": node.name,
            "group": node.group,
            "kind": node.kind,
            "state": state,
            "age": round(time.time() - node.created, 1),
            "reason": reason,
            "pid": node.pid,
            "log": node.log_path,
            "tempDir": node.temp_dir,
            "command": node.info.get("command", ""),
            "marker": node.info.get("marker"),
            "ports": {k: v for k, v in ports.items() if v is not None},
        }

    def notes(self, stored: StoredResource) -> list[str]:
        if stored.kind != "RayCluster":
            # A RayJob's or RayService's own cluster spec: what its RayCluster will lack.
            warnings, dropped = apply_notes(stored.document())
            return warnings + dropped
        cluster = RayCluster.model_validate(stored.document())
        return local_notes(cluster) + env_notes(stored, cluster, self.settings, self.configs)

    def _add_local_status(self, stored: StoredResource, status: dict[str, Any]) -> None:
        """Endpoints and head info the way KubeRay reports the head Service's."""
        head = self._head_ports(stored.uid)
        if head is None:
            return
        endpoints = {
            "gcs-server": str(head.gcs),
            "dashboard": str(head.dashboard),
            "client": str(head.client_server),
            "metrics": str(head.metrics_export),
        }
        status["endpoints"] = endpoints
        head_info = status.setdefault("head", {})
        head_info.update(
            {
                "podIP": LOOPBACK_IP,
                "serviceIP": LOOPBACK_IP,
                "serviceName": f"{stored.name}-head-svc",
            }
        )


def _differs(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Status changed in anything but its timestamp (avoids a write per pass)."""
    strip = {"lastUpdateTime"}
    return {k: v for k, v in new.items() if k not in strip} != {
        k: v for k, v in old.items() if k not in strip
    }
