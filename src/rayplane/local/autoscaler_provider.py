"""Ray's own autoscaler (v2) driving a local RayCluster through the store.

This is the process-side half of :mod:`rayplane.local.autoscaler`; it imports Ray, so only
the autoscaler process loads it, never the controller.

Ray's v2 autoscaler runs unchanged, with the very cloud provider it runs with on
Kubernetes: ``KubeRayProvider``. That provider scales a RayCluster by JSON-patching
``workerGroupSpecs[i].replicas`` and ``scaleStrategy.workersToDelete`` and lists the
cluster's pods; it takes its Kubernetes API client as a constructor argument (Ray uses
that to test it against a fake API). Here the client is :class:`StoreKubeApi`: GET of the
RayCluster reads the stored resource (with the CRD defaults the API server would add),
GET of the pods lists the cluster's stored nodes as pods (name = node name, ``ray.io/group``
= group, ``ray.io/node-type`` head/worker, a running container while the process lives,
a ``deletionTimestamp`` while it is being stopped), and PATCH writes the spec back into the
store. So the provider never starts or stops a process: the controller's reconciler does,
from the spec, as KubeRay's operator does from the CR. Everything KubeRay's contract says
the autoscaler does comes from Ray's code, not from a copy of it: replicas corrected to
``max(replicas, minReplicas, observed)`` and capped at ``maxReplicas``; victims listed in
``workersToDelete`` after Ray drained them; no new scale operation while a listed node
still exists; the list cleared once they are gone.

The config is Ray's ``_derive_autoscaling_config_from_ray_cr`` of the stored RayCluster,
re-read every iteration like ``KubeRayConfigReader`` does: autoscalerOptions
idleTimeoutSeconds and upscalingMode, per-group idleTimeoutSeconds, min/max, CPU/GPU/
memory and custom resources, labels, all by Ray's own rules.

Each iteration also writes a short summary (pending demand, infeasible requests with their
shape, idle nodes, pending launches, the last decisions) to a small JSON file beside the
autoscaler's log, which ``describe`` renders. A file rather than the store's runtime state:
that state is one JSON value the controller rewrites (head ports, this process's record),
and a second writer in another process could undo the controller's writes.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray._raylet import GcsClient  # type: ignore[attr-defined]
from ray.autoscaler._private.kuberay.autoscaling_config import (
    _derive_autoscaling_config_from_ray_cr,
)
from ray.autoscaler._private.kuberay.node_provider import IKubernetesHttpApiClient
from ray.autoscaler.v2.autoscaler import Autoscaler
from ray.autoscaler.v2.event_logger import AutoscalerEventLogger
from ray.autoscaler.v2.instance_manager.cloud_providers.kuberay.cloud_provider import (
    KubeRayProvider,
)
from ray.autoscaler.v2.instance_manager.config import KubeRayConfigReader
from ray.autoscaler.v2.schema import Stats
from ray.autoscaler.v2.sdk import get_cluster_resource_state
from ray.autoscaler.v2.utils import ClusterStatusParser, ResourceRequestUtil
from ray.core.generated.autoscaler_pb2 import (  # type: ignore[attr-defined]
    GetClusterStatusReply,
)

from rayplane.api.common import MAX_INT32
from rayplane.api.raycluster import HEAD_GROUP
from rayplane.errors import RayplaneError
from rayplane.local import process
from rayplane.local.store import Store, StoredNode, iso

log = logging.getLogger("rayplane.autoscaler")

_DECISIONS_KEPT = 12
_HEARTBEAT_S = 10.0


class ApiError(RayplaneError):
    """What the fake API answers instead of an HTTP error (404, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def with_crd_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """The RayCluster as the API server returns it: KubeRay's CRD defaults filled in.

    The stored body is what the user wrote; Ray's KubeRay code reads ``replicas``,
    ``minReplicas`` and ``maxReplicas`` of every group as a Kubernetes client would find
    them after defaulting.
    """
    out = copy.deepcopy(doc)
    for group in (out.get("spec") or {}).get("workerGroupSpecs") or []:
        group.setdefault("replicas", 0)
        group.setdefault("minReplicas", 0)
        group.setdefault("maxReplicas", MAX_INT32)
        group.setdefault("numOfHosts", 1)
        group.setdefault("rayStartParams", {})
    out.setdefault("spec", {}).setdefault("headGroupSpec", {}).setdefault("rayStartParams", {})
    return out


def node_pod(node: StoredNode, cluster: str) -> dict[str, Any]:
    """A stored node as the Pod KubeRay would have made for it, as far as Ray reads it."""
    meta: dict[str, Any] = {
        "name": node.name,
        "labels": {
            "ray.io/cluster": cluster,
            "ray.io/node-type": "head" if node.kind == "head" else "worker",
            "ray.io/group": node.group,
        },
    }
    if node.deleting is not None:
        meta["deletionTimestamp"] = iso(node.deleting)
    status: dict[str, Any] = {}
    if node.pid is not None and node.create_time is not None:
        state = "running" if process.is_alive(node.pid, node.create_time) else "terminated"
        status["containerStatuses"] = [{"state": {state: {}}}]
    return {"metadata": meta, "status": status}


class StoreKubeApi(IKubernetesHttpApiClient):
    """The Kubernetes API of one RayCluster, served from the local store.

    ``on_patch`` is told, in words, what each accepted patch changed; it is how the
    decisions reach ``describe`` and the resource's events.
    """

    def __init__(self, store: Store, uid: str, on_patch: Callable[[list[str]], None]) -> None:
        self.store = store
        self.uid = uid
        self.on_patch = on_patch

    def _stored(self) -> Any:
        stored = self.store.get_by_uid(self.uid)
        if stored is None or stored.kind != "RayCluster":
            raise ApiError(404, f"RayCluster {self.uid} not found")
        return stored

    def get(self, path: str) -> dict[str, Any]:
        stored = self._stored()
        if path.startswith("rayclusters/"):
            doc = with_crd_defaults(stored.document())
            doc["metadata"]["resourceVersion"] = str(stored.generation)
            return doc
        if path.startswith("pods?"):
            nodes = self.store.nodes(self.uid)
            return {
                "metadata": {"resourceVersion": str(stored.generation)},
                "items": [node_pod(n, stored.name) for n in nodes],
            }
        if path.startswith("pods/"):
            name = path.split("/", 1)[1]
            for node in self.store.nodes(self.uid):
                if node.name == name:
                    pod = node_pod(node, stored.name)
                    pod["metadata"]["resourceVersion"] = str(stored.generation)
                    return pod
        raise ApiError(404, f"{path} not found")

    def patch(
        self,
        path: str,
        payload: list[dict[str, Any]] | dict[str, Any],
        content_type: str = "application/json-patch+json",
    ) -> dict[str, Any]:
        stored = self._stored()
        if stored.deleting is not None:
            raise ApiError(409, "the RayCluster is being deleted")
        if not path.startswith("rayclusters/") or not isinstance(payload, list):
            # Idle-cluster termination (idleSuspend, finalizers) needs fields the local
            # runtime does not model; refuse rather than write them.
            raise ApiError(422, f"unsupported patch of {path} ({content_type})")
        said = self.store.modify_body(self.uid, lambda body: _apply_patch(body, payload))
        self.on_patch(said)
        return self.get(path)

    def delete(self, path: str) -> dict[str, Any]:
        raise ApiError(422, f"the local autoscaler does not delete {path}")


def _apply_patch(body: dict[str, Any], payload: list[dict[str, Any]]) -> list[str]:
    """Apply the provider's JSON patch of replicas/scaleStrategy to *body*; say what changed.

    Only what KubeRayProvider sends is accepted: ``replace``/``add`` of a worker group's
    ``replicas`` or ``scaleStrategy``. Anything else is refused (422) rather than written.
    """
    groups = body.setdefault("spec", {}).setdefault("workerGroupSpecs", [])
    said: list[str] = []
    for op in payload:
        parts = str(op.get("path", "")).strip("/").split("/")
        if (
            op.get("op") not in ("replace", "add")
            or len(parts) != 4
            or parts[:2] != ["spec", "workerGroupSpecs"]
            or not parts[2].isdigit()
            or int(parts[2]) >= len(groups)
            or parts[3] not in ("replicas", "scaleStrategy")
        ):
            raise ApiError(422, f"unsupported patch operation {op}")
        group = groups[int(parts[2])]
        name = group.get("groupName", parts[2])
        if parts[3] == "replicas":
            before = group.get("replicas", 0)
            group["replicas"] = int(op["value"])
            said.append(f"{name}: replicas {before} -> {group['replicas']}")
        else:
            value = dict(op.get("value") or {})
            group["scaleStrategy"] = value
            victims = list(value.get("workersToDelete") or [])
            said.append(
                f"{name}: workersToDelete {', '.join(victims)}"
                if victims
                else f"{name}: workersToDelete cleared"
            )
    return said


class _Recorder:
    """Ray's event-logger adapter: keeps the autoscaler's decisions for ``describe``.

    ``AutoscalerEventLogger`` calls ``info``/``warning``/``debug`` with Ray's own wording
    ("Adding 2 node(s) of type workers.", "Removing 1 nodes of type workers (idle).").
    Warnings are infeasible-demand messages, repeated every iteration; the summary shows
    them from the autoscaling state instead, so they are not kept as decisions.
    """

    def __init__(self) -> None:
        self.decisions: list[dict[str, Any]] = []

    def add(self, message: str) -> None:
        self.decisions.append({"time": iso(time.time()), "message": message})
        del self.decisions[:-_DECISIONS_KEPT]

    def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        if not message.startswith("Resized to"):
            self.add(message)

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        pass

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        pass


class LocalAutoscaler(Autoscaler):
    """Ray's v2 ``Autoscaler`` whose KubeRay provider talks to :class:`StoreKubeApi`.

    ``Autoscaler`` builds a ``KubeRayProvider`` with a real Kubernetes client when the
    provider type is ``kuberay``; this subclass only hands it the store-backed client (the
    ``k8s_api_client`` parameter Ray's own tests use). Pinned Ray is 2.60; the e2e tests
    fail loudly if the hook moves.
    """

    api: StoreKubeApi

    def __init__(self, api: StoreKubeApi, **kwargs: Any) -> None:
        self.api = api
        super().__init__(**kwargs)

    def _init_cloud_instance_provider(self, config: Any, config_reader: Any) -> None:
        provider_config = config.get_provider_config()
        provider_config["head_node_type"] = config.get_head_node_type()
        self._cloud_instance_provider = KubeRayProvider(  # type: ignore[assignment]
            config.get_config("cluster_name"),
            provider_config,
            gcs_client=self._gcs_client,
            k8s_api_client=self.api,
        )


class _Quiet(logging.Filter):
    """Drop the per-iteration chatter of Ray's KubeRay provider from autoscaler.log."""

    _NOISE = (
        "Listing pods for RayCluster",
        "Fetched pod data at resource version",
        "Calculating hashes for file mounts",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self._NOISE)


def write_status(path: Path, summary: dict[str, Any]) -> None:
    """Replace the status file atomically: a reader sees the old or the new summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(summary))
    os.replace(tmp, path)


def _shape(bundle: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in sorted(dict(bundle).items())}


def infeasible_summary(state: Any) -> list[dict[str, Any]]:
    """The requests no node type can satisfy, grouped by shape, from an AutoscalingState."""
    out: list[dict[str, Any]] = []
    if state is None:
        return out
    for by_count in ResourceRequestUtil.group_by_count(list(state.infeasible_resource_requests)):
        item: dict[str, Any] = {
            "shape": _shape(by_count.request.resources_bundle),
            "count": int(by_count.count),
            "source": "tasks/actors",
        }
        selectors = [
            f"{c.label_key} {c.operator} {list(c.label_values)}"
            for s in by_count.request.label_selectors
            for c in s.label_constraints
        ]
        if selectors:
            item["labelSelectors"] = selectors
        out.append(item)
    for gang in state.infeasible_gang_resource_requests:
        for by_count in ResourceRequestUtil.group_by_count(list(gang.requests)):
            out.append(
                {
                    "shape": _shape(by_count.request.resources_bundle),
                    "count": int(by_count.count),
                    "source": f"placement group ({gang.details})" if gang.details else "pg",
                }
            )
    for constraint in state.infeasible_cluster_resource_constraints:
        for by_count in constraint.resource_requests:
            out.append(
                {
                    "shape": _shape(by_count.request.resources_bundle),
                    "count": int(by_count.count),
                    "source": "request_resources()",
                }
            )
    return out


def status_summary(status: Any) -> dict[str, Any]:
    """Pending demand, idle nodes and launches from a ray.autoscaler.v2 ClusterStatus."""
    demand: list[dict[str, Any]] = []
    demands = status.resource_demands
    for task in demands.ray_task_actor_demand:
        for b in task.bundles_by_count:
            demand.append({"shape": _shape(b.bundle), "count": b.count, "source": "tasks/actors"})
    for pg in demands.placement_group_demand:
        for b in pg.bundles_by_count:
            demand.append(
                {
                    "shape": _shape(b.bundle),
                    "count": b.count,
                    "source": f"placement group {pg.strategy or ''} {pg.state or ''}".strip(),
                }
            )
    for constraint in demands.cluster_constraint_demand:
        for b in constraint.bundles_by_count:
            demand.append(
                {"shape": _shape(b.bundle), "count": b.count, "source": "request_resources()"}
            )
    idle = [
        {
            "name": n.instance_id,
            "group": n.ray_node_type_name,
            "idleSeconds": round((n.resource_usage.idle_time_ms if n.resource_usage else 0) / 1e3),
        }
        for n in status.idle_nodes
        if n.ray_node_type_name != HEAD_GROUP
    ]
    launches = [{"group": r.ray_node_type_name, "count": r.count} for r in status.pending_launches]
    failed = [
        {"group": r.ray_node_type_name, "count": r.count, "details": r.details or ""}
        for r in status.failed_launches
    ]
    pending = [
        {"name": n.instance_id, "group": n.ray_node_type_name, "details": n.details or ""}
        for n in status.pending_nodes
    ]
    return {
        "demand": demand,
        "idleNodes": idle,
        "pendingLaunches": launches,
        "failedLaunches": failed,
        "pendingNodes": pending,
    }


class Runner:
    """The autoscaler loop for one cluster: Ray's iteration, then the summary."""

    def __init__(
        self,
        store: Store,
        uid: str,
        gcs_address: str,
        interval_s: float,
        wake: Callable[[], None],
        status_file: Path,
        poll_s: float = 0.2,
    ) -> None:
        self.status_file = status_file
        self.poll_s = poll_s
        self.store = store
        self.uid = uid
        self.gcs_address = gcs_address
        self.interval_s = interval_s
        self.wake = wake
        self.recorder = _Recorder()
        self.api = StoreKubeApi(store, uid, self._patched)
        self.gcs = GcsClient(address=gcs_address)
        self.autoscaler: LocalAutoscaler | None = None
        self._written: dict[str, Any] | None = None
        self._written_at = 0.0
        self._infeasible_seen: list[Any] = []
        self._error: str | None = None

    # decisions ----------------------------------------------------------------------------

    def _patched(self, said: list[str]) -> None:
        for line in said:
            self.recorder.add(f"spec: {line}")
        if said:
            self.store.event(self.uid, "Autoscaler", "; ".join(said))
            self.wake()

    # setup ---------------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = _derive_autoscaling_config_from_ray_cr(
            self.api.get("rayclusters/cluster")
        )
        return config

    def _build(self) -> LocalAutoscaler:
        from ray._private import ray_constants

        session = self.gcs.internal_kv_get(
            b"session_name", ray_constants.KV_NAMESPACE_SESSION, timeout=10
        )
        reader = KubeRayConfigReader(self._config)  # type: ignore[arg-type]
        autoscaler = LocalAutoscaler(
            self.api,
            session_name=session.decode() if session else "local",
            config_reader=reader,
            gcs_client=self.gcs,
            event_logger=AutoscalerEventLogger(self.recorder),  # type: ignore[arg-type]
            metrics_reporter=None,
        )
        log.info("autoscaler for %s ready (GCS %s)", self.uid, self.gcs_address)
        return autoscaler

    # loop ------------------------------------------------------------------------------------

    def step(self) -> None:
        """One iteration: Ray's reconcile, the report to GCS, the summary file."""
        state = None
        try:
            if self.autoscaler is None:
                self.autoscaler = self._build()
            state = self.autoscaler.update_autoscaling_state()
            if state is not None:
                self.gcs.report_autoscaling_state(state.SerializeToString())
            self._error = None
        except Exception as exc:  # a bad spec (no CPU for a group, ...) must not crash-loop
            error = f"{type(exc).__name__}: {exc}"
            if error != self._error:  # one traceback per distinct error, not one a second
                log.exception("autoscaler iteration failed")
            self._error = error
            self.autoscaler = None
        self._summarize(state)

    def _summarize(self, state: Any) -> None:
        summary: dict[str, Any] = {"pid": os.getpid(), "gcs": self.gcs_address}
        try:
            # What ray.autoscaler.v2.sdk.get_cluster_status does, on this process's client.
            asked = time.time()
            reply = GetClusterStatusReply()
            reply.ParseFromString(self.gcs.get_cluster_status(timeout_s=5))
            stats = Stats(gcs_request_time_s=time.time() - asked, request_ts_s=int(asked))
            parsed = ClusterStatusParser.from_get_cluster_status_reply(reply, stats=stats)
            summary.update(status_summary(parsed))
        except Exception as exc:
            log.warning("could not read the cluster status from GCS: %s", exc)
        infeasible = infeasible_summary(state)
        if state is None and self._error is None:
            infeasible = self._infeasible_seen  # no new state this round: keep the last one
        if infeasible and infeasible != self._infeasible_seen:
            shapes = ", ".join(f"{i['shape']} x{i['count']} ({i['source']})" for i in infeasible)
            self.store.event(
                self.uid,
                "InfeasibleDemand",
                f"no worker group can satisfy {shapes}; add a group that offers these "
                "resources or change the request",
                "Warning",
            )
        self._infeasible_seen = infeasible
        summary["infeasible"] = infeasible
        summary["decisions"] = list(self.recorder.decisions)
        if self._error:
            summary["error"] = self._error
        now = time.time()
        if summary != self._written or now - self._written_at > _HEARTBEAT_S:
            write_status(self.status_file, {**summary, "updated": now})
            self._written, self._written_at = summary, now

    def demand(self) -> tuple[Any, ...]:
        """What the cluster asks for now, as GCS reports it (one cheap RPC, no decisions)."""
        state = get_cluster_resource_state(self.gcs)
        return (
            tuple(
                sorted(
                    (tuple(sorted(r.request.resources_bundle.items())), r.count)
                    for r in state.pending_resource_requests
                )
            ),
            tuple(sorted(g.details for g in state.pending_gang_resource_requests)),
            len(state.cluster_resource_constraints),
        )

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Iterate every ``interval_s``, and at once when the pending demand changes.

        Ray's monitor iterates on a fixed period (5 s in a KubeRay sidecar). Here a cheap
        look at the demand every ``poll_s`` starts an iteration as soon as a new request
        shows up, so a burst is acted on within a fraction of a second rather than up to a
        whole period later; idle, the cost is one small GCS call per poll.
        """
        last_full = float("-inf")
        seen: tuple[Any, ...] | None = None
        while not should_stop():
            due = time.monotonic() - last_full >= self.interval_s
            if not due:
                now_seen: tuple[Any, ...] | None
                try:
                    now_seen = self.demand()
                except Exception:  # GCS away: the next full iteration reports it
                    now_seen = seen
                due = now_seen != seen
                seen = now_seen
            if due:
                self.step()
                last_full = time.monotonic()
                try:
                    seen = self.demand()
                except Exception:
                    seen = None
            time.sleep(self.poll_s)


def quiet_ray_logs() -> None:
    """Keep autoscaler.log to decisions and state changes (Ray logs some lines every pass)."""
    quiet = _Quiet()
    for name in (
        "ray.autoscaler.v2.instance_manager.cloud_providers.kuberay.cloud_provider",
        "ray.autoscaler.v2.instance_manager.config",
    ):
        logging.getLogger(name).addFilter(quiet)
    logging.getLogger("httpx").setLevel(logging.WARNING)
