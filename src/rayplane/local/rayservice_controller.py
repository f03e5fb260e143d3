"""RayService on the local runtime: the pure RayService reconciler's actions carried out.

Clusters are stored RayClusters owned by the service; Serve configs go to each cluster's
dashboard; the serve endpoint is a stable loopback port (ServeProxy) that forwards to the
healthy Serve proxies of the cluster the reconciler says serves. The deletion timers and
the per-cluster Serve config cache, which KubeRay keeps in memory, live in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rayplane.api.raycluster import RayCluster, RayClusterStatus
from rayplane.api.rayservice import RayService
from rayplane.api.validation.gates import FeatureGates
from rayplane.clients.serve_api import ApplicationInfo, ServeClient, ServeClientError
from rayplane.local import serve_failures as failure_log
from rayplane.local.auth_token import token_of
from rayplane.local.homepaths import UnsafePath
from rayplane.local.ports import find_free_ports, ports_in_use
from rayplane.local.rayjob_controller import owner_reference
from rayplane.local.serve_proxy import ServeProxy
from rayplane.local.store import Store, StoredResource
from rayplane.reconcile.kuberay import random_suffix
from rayplane.reconcile.service import (
    ApplyServeConfig,
    CreateCluster,
    DeleteCluster,
    ObservedService,
    ObservedServiceCluster,
    Promote,
    RemoveServeEndpoint,
    RouteTraffic,
    ServiceAction,
    ServiceOptions,
    SwitchTraffic,
    UpdateCluster,
    cause_of,
    reconcile_service,
    serve_failures,
)
from rayplane.reconcile.service.model import DEFAULT_APP_NAME
from rayplane.settings import LocalSettings

log = logging.getLogger("rayplane.services")


class RayServiceController:
    def __init__(
        self, settings: LocalSettings, store: Store, gates: FeatureGates | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        # The controller's RAYPLANE_FEATURE_GATES, as its validation uses them.
        self.options = ServiceOptions(gates=gates or FeatureGates())
        self.proxy = ServeProxy()
        # Serve's first deploy can take seconds to answer on a small machine.
        self._serve = ServeClient(timeout=15.0)
        # node name -> its Serve proxy answered /-/healthz on the last pass
        self._proxy_healthy: dict[str, bool] = {}
        # cluster name -> its Serve apps as last read, for `describe` (KubeRay's status has
        # statuses only; users ask how many replicas run where)
        self._apps_seen: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.proxy.close()
        self._serve.close()

    def busy(self) -> bool:
        return any(
            (r.status or {}).get("serviceStatus") != "Running"
            or (r.status or {}).get("pendingServiceStatus")
            for r in self.store.resources("RayService")
        )

    # reconcile ----------------------------------------------------------------------------

    def reconcile(self, stored: StoredResource) -> None:
        svc = RayService.model_validate(stored.document())
        state = self.store.runtime_state(stored.uid)
        caches: dict[str, str] = state.setdefault("serve_config", {})
        owned = [c for c in self.store.owned_by(stored.uid) if c.kind == "RayCluster"]
        clusters = [self._observe(c, caches.get(c.name)) for c in owned]
        deadlines = {
            k: datetime.fromisoformat(v) for k, v in (state.get("deletion_deadlines") or {}).items()
        }
        observed = ObservedService.of(
            svc, clusters, serving_cluster=state.get("serving"), deletion_deadlines=deadlines
        )
        plan = reconcile_service(
            svc, observed, datetime.now(UTC), random_suffix, options=self.options
        )
        ok = True
        if not any(isinstance(a, RouteTraffic) for a in plan.actions):
            state.pop("split", None)  # not (or no longer) an incremental upgrade
        for action in plan.actions:
            try:
                self._act(stored, action, state)
            except Exception as exc:  # stop here; the next pass recomputes from scratch
                ok = False
                log.warning(
                    "RayService %s/%s: %s failed: %s",
                    stored.namespace,
                    stored.name,
                    type(action).__name__,
                    exc,
                )
                self.store.event(
                    stored.uid, "ActionFailed", f"{type(action).__name__}: {exc}", "Warning"
                )
                break
        state["deletion_deadlines"] = {k: v.isoformat() for k, v in plan.deletion_deadlines.items()}
        if plan.error is None:  # a pass that could not read the apps keeps what it knew
            for failure in failure_log.record(
                self.settings.home,
                stored.namespace,
                stored.name,
                stored.generation,
                plan.serve_failures,
                state,
            ):
                self.store.event(stored.uid, "ServeAppFailed", failure.line, "Warning")
        for name in list(caches):
            if name not in {c.name for c in owned}:
                del caches[name]
        if plan.finalized:
            self.proxy.remove(stored.uid)
            failure_log.remove(self.settings.home, stored.namespace, stored.name)
            self.store.remove(stored.uid)
            return
        self.store.set_runtime_state(stored.uid, state)
        self._refresh_endpoint(stored, state)
        if ok and plan.changed:
            self.store.set_status(stored.uid, plan.status.wire())
        for event in plan.events:
            self.store.event(stored.uid, event.reason, event.message, event.type)

    def _observe(self, cluster: StoredResource, cached: str | None) -> ObservedServiceCluster:
        model = RayCluster.model_validate(cluster.document())
        status = model.status or RayClusterStatus()
        nodes = [n for n in self.store.nodes(cluster.uid) if n.deleting is None]
        ready = {n.name for n in nodes if n.info.get("why") == "registered with Ray"}
        apps = None
        capacity = None
        error = None
        head_healthy = False
        workers = 0
        port = (status.endpoints or {}).get("dashboard")
        if port and any(n.kind == "head" and n.name in ready for n in nodes):
            try:
                url, token = f"http://127.0.0.1:{port}", token_of(self.store, cluster)
                serve = self._serve.get_applications(url, token=token)
                apps, capacity = serve.applications, serve.target_capacity
                self._apps_seen[cluster.name] = serve_snapshot(apps, cluster.name)
            except ServeClientError as exc:
                error = str(exc)
            for node in nodes:
                if node.name not in ready or "serve" not in node.ports:
                    continue
                healthy = self._serve.proxy_healthy(f"http://127.0.0.1:{node.ports['serve']}")
                self._proxy_healthy[node.name] = healthy
                if node.kind == "head":
                    head_healthy = healthy
                elif healthy:
                    workers += 1
        return ObservedServiceCluster(
            name=cluster.name,
            deleting=cluster.deleting is not None,
            status=status,
            annotations=model.metadata.annotations or {},
            serve_apps=apps,
            serve_error=error,
            worker_serve_endpoints=workers,
            head_proxy_healthy=head_healthy,
            cached_serve_config=cached,
            serve_target_capacity=capacity,
        )

    # actions ----------------------------------------------------------------------------------

    def _act(self, stored: StoredResource, action: ServiceAction, state: dict[str, Any]) -> None:
        ns = stored.namespace
        if isinstance(action, CreateCluster | UpdateCluster):
            existing = self.store.get("RayCluster", ns, action.name)
            if isinstance(action, CreateCluster) and existing is not None:
                return
            spec = action.spec.wire()
            if existing is not None and "suspend" in existing.body.get("spec", {}):
                spec["suspend"] = existing.body["spec"]["suspend"]
            meta = {
                "name": action.name,
                "namespace": ns,
                "labels": dict(action.labels),
                "annotations": dict(action.annotations),
                "ownerReferences": [owner_reference(stored)],
            }
            self.store.put(
                "RayCluster",
                ns,
                action.name,
                {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta, "spec": spec},
            )
            self.store.event(
                stored.uid,
                "ClusterCreated" if existing is None else "ClusterUpdated",
                f"RayCluster {action.name}",
            )
        elif isinstance(action, DeleteCluster):
            if self.store.mark_deleting("RayCluster", ns, action.name) is not None:
                self.store.event(
                    stored.uid,
                    "ClusterDeleted",
                    f"deleting RayCluster {action.name}: {action.reason}",
                )
        elif isinstance(action, ApplyServeConfig):
            self._apply_config(stored, action, state)
        elif isinstance(action, SwitchTraffic):
            state["serving"] = action.to_cluster
            self.store.event(
                stored.uid, "TrafficSwitched", f"serve endpoint now forwards to {action.to_cluster}"
            )
        elif isinstance(action, RouteTraffic):
            split = [[name, weight] for name, weight in action.weights]
            if split != state.get("split"):
                state["split"] = split
                shares = ", ".join(f"{name} {weight}%" for name, weight in action.weights)
                self.store.event(stored.uid, "TrafficSplit", f"serve endpoint traffic: {shares}")
        elif isinstance(action, RemoveServeEndpoint):
            state.pop("serving", None)
            self.proxy.remove(stored.uid)
        elif isinstance(action, Promote):
            self.store.event(
                stored.uid,
                "Promoted",
                f"{action.to_cluster} is now active"
                + (f" (was {action.from_cluster})" if action.from_cluster else ""),
            )

    def _apply_config(
        self, stored: StoredResource, action: ApplyServeConfig, state: dict[str, Any]
    ) -> None:
        cluster = self.store.get("RayCluster", stored.namespace, action.cluster)
        if cluster is None:
            raise RuntimeError(f"RayCluster {action.cluster} is gone")
        port = ((cluster.status or {}).get("endpoints") or {}).get("dashboard")
        head_ports = self.store.runtime_state(cluster.uid).get("head_ports") or {}
        if not port or "serve" not in head_ports:
            raise RuntimeError(f"RayCluster {action.cluster} has no dashboard yet")
        config = dict(action.config)
        # Locally every proxy must bind loopback, and the head's on its own port; worker
        # proxies take theirs from RAY_SERVE_WORKER_PROXY_HTTP_PORT.
        http = dict(config.get("http_options") or {})
        http.update({"host": "127.0.0.1", "port": int(head_ports["serve"])})
        config["http_options"] = http
        self._serve.put_config(
            f"http://127.0.0.1:{port}", config, token=token_of(self.store, cluster)
        )
        state["serve_config"][action.cluster] = action.config_yaml
        self.store.event(
            stored.uid, "ServeConfigApplied", f"applied serveConfigV2 to {action.cluster}"
        )

    # endpoint ---------------------------------------------------------------------------------

    def _refresh_endpoint(self, stored: StoredResource, state: dict[str, Any]) -> None:
        serving = state.get("serving")
        if not serving:
            return
        if "endpoint_port" not in state:
            taken = ports_in_use(n.ports for n in self.store.nodes())
            (state["endpoint_port"],) = find_free_ports(1, exclude=taken)
            self.store.set_runtime_state(stored.uid, state)
        port = int(state["endpoint_port"])
        split = state.get("split")
        if split and len(split) > 1:
            # An incremental upgrade: KubeRay's HTTPRoute weights, one pool per cluster.
            before = self.proxy.pools(stored.uid)
            pools: list[tuple[int, list[str]]] = []
            for index, (name, weight) in enumerate(split):
                backends = self._healthy_proxies(stored.namespace, name)
                if not backends and index < len(before):
                    # keep what it had, as a Service keeps its last ready endpoints
                    backends = before[index][1]
                pools.append((int(weight), backends))
            self.proxy.ensure_split(stored.uid, port, pools)
            return
        backends = self._healthy_proxies(stored.namespace, serving)
        if not backends:
            # Nothing healthy behind the new target yet: keep forwarding where we did, as a
            # Service keeps its old endpoints until new ones pass their readiness probes.
            backends = self.proxy.backends(stored.uid)
        self.proxy.ensure(stored.uid, port, backends)

    def _healthy_proxies(self, namespace: str, cluster_name: str) -> list[str]:
        cluster = self.store.get("RayCluster", namespace, cluster_name)
        backends: list[str] = []
        if cluster is not None:
            for node in self.store.nodes(cluster.uid):
                if (
                    node.deleting is None
                    and self._proxy_healthy.get(node.name)
                    and "serve" in node.ports
                ):
                    backends.append(f"127.0.0.1:{node.ports['serve']}")
        return backends

    def serve_details(self, stored: StoredResource) -> dict[str, Any]:
        """Apps, deployments and replica counts of the active and pending clusters."""
        status = stored.status or {}
        out: dict[str, Any] = {}
        for role in ("active", "pending"):
            name = (status.get(f"{role}ServiceStatus") or {}).get("rayClusterName")
            if name:
                out[role] = {"cluster": name, "applications": self._apps_seen.get(name, {})}
        return out

    def cluster_in_progress(self, stored: StoredResource) -> StoredResource | None:
        """The cluster whose nodes show the service's progress: the pending one while it is
        brought up (first creation or upgrade), else the active one."""
        status = stored.status or {}
        for role in ("pending", "active"):
            name = (status.get(f"{role}ServiceStatus") or {}).get("rayClusterName")
            cluster = self.store.get("RayCluster", stored.namespace, name) if name else None
            if cluster is not None:
                return cluster
        return None

    def failure(self, stored: StoredResource) -> tuple[str | None, str | None]:
        """The failed Serve apps' line for the current generation, and the log's path when
        there is one (it also keeps failures of earlier generations)."""
        line = failure_log.current(self.store.runtime_state(stored.uid), stored.generation)
        try:
            path = failure_log.log_path(self.settings.home, stored.namespace, stored.name)
        except UnsafePath:
            return line, None
        return line, str(path) if path.is_file() else None

    def endpoint(self, stored: StoredResource) -> str | None:
        port = self.store.runtime_state(stored.uid).get("endpoint_port")
        return f"http://127.0.0.1:{port}" if port else None


def serve_snapshot(apps: Mapping[str, ApplicationInfo], cluster: str = "") -> dict[str, Any]:
    """Per app and deployment: status, target replicas and replicas by state (JSON-ready);
    a failed app also has ``failure``, its cause on one line (the message is a traceback),
    and a deployment whose message holds a traceback (a replica being retried) ``cause``."""
    failed = {
        f.app: (f"deployment {f.deployment}: " if f.deployment else "") + f.cause.line
        for f in serve_failures(cluster, apps)
    }
    out: dict[str, Any] = {}
    for app in apps.values():
        deployments: dict[str, Any] = {}
        for dep in app.deployments.values():
            states: dict[str, int] = {}
            for replica in dep.replicas:
                states[replica.state] = states.get(replica.state, 0) + 1
            deployments[dep.name] = {
                "status": dep.status,
                "message": dep.message,
                "targetReplicas": dep.target_num_replicas,
                "replicas": states,
            }
            cause = cause_of(dep.message)
            if cause.kind:  # e.g. "Retrying 2 more time(s). Error:" and a traceback
                deployments[dep.name]["cause"] = cause.line
        out[app.name] = {
            "status": app.status,
            "message": app.message,
            "routePrefix": app.route_prefix,
            "deployments": deployments,
        }
        if (app.name or DEFAULT_APP_NAME) in failed:
            out[app.name]["failure"] = failed[app.name or DEFAULT_APP_NAME]
    return out
