"""The RayService controller: observe clusters and Serve, run the pure reconciler, carry out.

Blue/green upgrades are :func:`rayplane.reconcile.service.reconcile_service`'s decisions;
this module observes and acts:

* the RayClusters the service owns (labels ``ray.io/originated-from-cr-name`` /
  ``-crd=RayService`` and an ownerReference to it), their status, their Serve applications
  (``GET /api/serve/applications/`` once the head is ready), ready workers and the head's
  Serve proxy health;
* which cluster ``<svc>-serve-svc`` selects now (its ``ray.io/cluster`` selector);
* actions: create/update/delete clusters (owned by the service), PUT the Serve config,
  and **switch traffic** by setting the selectors of ``<svc>-head-svc`` and
  ``<svc>-serve-svc`` to the promoted cluster (creating them the first time), which is
  KubeRay's zero-downtime switch;
* NewClusterWithIncrementalUpgrade: **route traffic** by weight through KubeRay's Gateway
  ``<svc>-gateway`` and HTTPRoute ``<svc>-httproute`` over the clusters' own
  ``<cluster>-serve-svc`` Services (:mod:`.builders.gateway`), weights updated each step;
  a failed ``target_capacity`` PUT stops the pass so status never claims a capacity Serve
  was not given. No Gateway controller ships with rayplane: the user's (Istio, Envoy
  Gateway, ...) serves the route;
* the head Pod's ``ray.io/serve`` label follows its proxy's health (KubeRay's
  updateHeadPodServeLabel); the finalizer ``ray.io/rayservice-finalizer`` is removed once a
  deleted service has no cluster left.

The serve-config cache and the deletion timers, which KubeRay keeps in memory, are kept in
memory here too (:class:`RayServiceController`), handed to the reconciler each pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

from rayplane.api.raycluster import RayCluster, RayClusterStatus
from rayplane.api.rayservice import RayService, RayServiceStatus
from rayplane.clients.serve_api import ServeClient, ServeState
from rayplane.kubernetes.auth_secret import cluster_token
from rayplane.kubernetes.builders import (
    BuildError,
    dashboard_port,
    head_fqdn,
    owner_head_service,
    rayservice_serve_service,
)
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.gateway import rayservice_gateway, rayservice_http_route
from rayplane.kubernetes.builders.names import owner_head_service_name, serve_service_name
from rayplane.kubernetes.controller import KindController, parse_cluster
from rayplane.kubernetes.kube import KubeError, Obj
from rayplane.kubernetes.operator_context import OperatorContext
from rayplane.kubernetes.pod_nodes import observed_node
from rayplane.reconcile.conditions import is_true
from rayplane.reconcile.kuberay import random_suffix
from rayplane.reconcile.service import (
    READY,
    UPGRADE_IN_PROGRESS,
    ApplyServeConfig,
    CreateCluster,
    DeleteCluster,
    ObservedService,
    ObservedServiceCluster,
    Promote,
    RemoveServeEndpoint,
    RouteTraffic,
    ServiceAction,
    SwitchTraffic,
    UpdateCluster,
    head_serve_label,
    reconcile_service,
    status_wire,
)

FINALIZER = "ray.io/rayservice-finalizer"
DEFAULT_DASHBOARD_PORT = 8265
SERVE_PORT = 8000
ERROR_REQUEUE_SECONDS = 2.0


def _wire(status: RayServiceStatus) -> dict[str, Any]:
    return status_wire(status)


def _serve_port(cluster: RayCluster) -> int:
    containers = cluster.spec.head_group_spec.template.spec.containers
    for port in (containers[0].ports or []) if containers else []:
        if port.name == "serve":
            return int(port.container_port)
    return SERVE_PORT


class RayServiceController(KindController[RayService, None]):
    """RayServices; remembers the Serve config last PUT per cluster and the deletion
    deadlines of each service's old clusters (KubeRay keeps both in memory too)."""

    kind: ClassVar[str] = "RayService"
    model = RayService

    def __init__(self, ctx: OperatorContext) -> None:
        super().__init__(ctx)
        self.serve_cache: dict[tuple[str, str], str] = {}
        self.deletion_deadlines: dict[tuple[str, str], dict[str, dt.datetime]] = {}

    async def read(self, namespace: str, name: str) -> tuple[Obj | None, None]:
        return await self.ctx.kube.get("RayService", namespace, name), None

    def forget(self, namespace: str, name: str) -> None:
        self.ctx.metrics.service_gone(namespace, name)
        self.deletion_deadlines.pop((namespace, name), None)

    async def sync(self, raw: Obj, model: RayService, reads: None) -> float | None:
        namespace, name = model.namespace, model.name
        key = (namespace, name)
        svc = model
        meta = raw["metadata"]
        deleting = bool(meta.get("deletionTimestamp"))
        if not deleting and FINALIZER not in (meta.get("finalizers") or []):
            raw = await self.ctx.set_finalizer(raw, FINALIZER, True)

        clusters, heads = await self._observe_clusters(svc, raw)
        serving = await self.ctx.kube.get("Service", namespace, serve_service_name(name))
        if serving is None:  # incremental: no <svc>-serve-svc; the head Service says
            serving = await self.ctx.kube.get("Service", namespace, owner_head_service_name(name))
        serving_cluster = ((serving or {}).get("spec") or {}).get("selector", {}).get(L.CLUSTER)
        observed = ObservedService.of(
            svc,
            clusters,
            serving_cluster=serving_cluster,
            deletion_deadlines=self.deletion_deadlines.get(key, {}),
        )
        now = self.ctx.clock()
        plan = reconcile_service(
            svc, observed, now, random_suffix, options=self.ctx.config.service_options
        )
        for action in plan.actions:
            try:
                await self._carry_out(raw, svc, action)
            except (KubeError, BuildError) as exc:
                await self.ctx.event(
                    raw, "FailedAction", f"{type(action).__name__}: {exc}", warning=True
                )
                return ERROR_REQUEUE_SECONDS
        self.deletion_deadlines[key] = dict(plan.deletion_deadlines)
        await self._label_heads(svc, clusters, heads)
        for event in plan.events:  # once: a decision repeated until observed is one Event
            await self.ctx.event(raw, event.reason, event.message, warning=event.warns, once=True)
        if plan.changed and not deleting:
            await self.ctx.write_status(raw, _wire(plan.status))
        if deleting:
            if plan.finalized:
                await self.ctx.set_finalizer(raw, FINALIZER, False)
            return ERROR_REQUEUE_SECONDS if not plan.finalized else None
        conditions = plan.status.conditions
        self.ctx.metrics.service_seen(
            namespace, name, is_true(conditions, READY), is_true(conditions, UPGRADE_IN_PROGRESS)
        )
        return plan.requeue_after

    def _dashboard_url(self, cluster: RayCluster) -> str:
        port = dashboard_port(cluster) or DEFAULT_DASHBOARD_PORT
        return f"{head_fqdn(cluster, self.ctx.config.build)}:{port}"

    def _serve_client(self) -> ServeClient:
        return ServeClient(
            transport=self.ctx.config.dashboard_transport, timeout=self.ctx.config.dashboard_timeout
        )

    async def _observe_clusters(
        self, svc: RayService, raw: Obj
    ) -> tuple[list[ObservedServiceCluster], dict[str, Obj]]:
        """The service's clusters as the reconciler sees them, and each one's head Pod."""
        ns = svc.namespace
        uid = raw["metadata"]["uid"]
        found = await self.ctx.kube.select(
            "RayCluster",
            ns,
            {L.ORIGINATED_FROM_CR_NAME: svc.name, L.ORIGINATED_FROM_CRD: "RayService"},
        )
        observed: list[ObservedServiceCluster] = []
        heads: dict[str, Obj] = {}
        for raw_cluster in found:
            refs = raw_cluster["metadata"].get("ownerReferences") or []
            if not any(ref.get("uid") == uid for ref in refs):
                continue
            model = parse_cluster(raw_cluster)
            if model is None:
                continue
            status = model.status or RayClusterStatus()
            pods = await self.ctx.kube.select("Pod", ns, {L.CLUSTER: model.name})
            nodes = [(pod, observed_node(pod)) for pod in pods]
            head = next((p for p, n in nodes if n.kind == "head" and not n.deleting), None)
            if head is not None:
                heads[model.name] = head
            ready_workers = sum(1 for _, n in nodes if n.kind == "worker" and n.running_and_ready)
            apps: Any = None
            capacity: float | None = None
            serve_error: str | None = None
            proxy_healthy = False
            if is_true(status.conditions, "HeadPodReady"):
                url = self._dashboard_url(model)
                token = await cluster_token(self.ctx.kube, model)
                try:
                    state = await self.ctx.in_thread(self._get_applications(url, token))
                    apps, capacity = state.applications, state.target_capacity
                except Exception as exc:
                    serve_error = str(exc)
                head_ip = ((head or {}).get("status") or {}).get("podIP")
                if head_ip:
                    proxy = f"http://{head_ip}:{_serve_port(model)}"
                    proxy_healthy = bool(await self.ctx.in_thread(self._proxy_healthy(proxy)))
            observed.append(
                ObservedServiceCluster(
                    name=model.name,
                    deleting=bool(raw_cluster["metadata"].get("deletionTimestamp")),
                    status=status,
                    annotations=dict(model.metadata.annotations or {}),
                    serve_apps=apps,
                    serve_error=serve_error,
                    worker_serve_endpoints=ready_workers,
                    head_proxy_healthy=proxy_healthy,
                    cached_serve_config=self.serve_cache.get((ns, model.name)),
                    serve_target_capacity=capacity,
                )
            )
        return observed, heads

    def _get_applications(self, url: str, token: str | None) -> Callable[[], ServeState]:
        def call() -> ServeState:
            with self._serve_client() as client:
                return client.get_applications(url, token=token)

        return call

    def _proxy_healthy(self, url: str) -> Callable[[], bool]:
        def call() -> bool:
            with self._serve_client() as client:
                return client.proxy_healthy(url)

        return call

    def _put_config(
        self, url: str, config: dict[str, Any], token: str | None
    ) -> Callable[[], None]:
        def call() -> None:
            with self._serve_client() as client:
                client.put_config(url, config, token=token)

        return call

    async def _label_heads(
        self,
        svc: RayService,
        clusters: list[ObservedServiceCluster],
        heads: dict[str, Obj],
    ) -> None:
        """Set each head Pod's ``ray.io/serve`` label from its proxy's health."""
        for cluster in clusters:
            head = heads.get(cluster.name)
            if head is None:
                continue
            wanted = head_serve_label(svc, cluster.head_proxy_healthy)
            labels = head["metadata"].get("labels") or {}
            if labels.get(L.SERVE) != wanted:
                patch = {"metadata": {"labels": {L.SERVE: wanted}}}
                await self.ctx.kube.patch("Pod", svc.namespace, head["metadata"]["name"], patch)

    async def _cluster_model(self, ns: str, name: str) -> RayCluster | None:
        raw = await self.ctx.kube.get("RayCluster", ns, name)
        return parse_cluster(raw) if raw is not None else None

    async def _carry_out(self, raw: Obj, svc: RayService, action: ServiceAction) -> None:
        ns = svc.namespace
        if isinstance(action, CreateCluster):
            await self.ctx.create_owned_cluster(
                svc, action.name, action.spec, action.labels, action.annotations
            )
        elif isinstance(action, UpdateCluster):
            current = await self.ctx.kube.get("RayCluster", ns, action.name)
            if current is None:
                return
            spec = action.spec.model_dump(by_alias=True, exclude_unset=True, mode="json")
            if "suspend" in (current.get("spec") or {}):
                spec["suspend"] = current["spec"]["suspend"]
            current["spec"] = spec
            current["metadata"]["labels"] = dict(action.labels)
            current["metadata"]["annotations"] = dict(action.annotations)
            await self.ctx.kube.replace(current)
        elif isinstance(action, DeleteCluster):
            self.serve_cache.pop((ns, action.name), None)
            await self.ctx.kube.delete("RayCluster", ns, action.name)
        elif isinstance(action, ApplyServeConfig):
            model = await self._cluster_model(ns, action.cluster)
            if model is None:
                return
            url = self._dashboard_url(model)
            token = await cluster_token(self.ctx.kube, model)
            try:
                await self.ctx.in_thread(self._put_config(url, action.config, token))
            except Exception as exc:
                await self.ctx.event(raw, "FailedToUpdateServeApplications", str(exc), warning=True)
                if "target_capacity" in action.config:  # status must not move without it
                    raise KubeError(f"target_capacity not set on {action.cluster}: {exc}") from exc
                return
            self.serve_cache[(ns, action.cluster)] = action.config_yaml
        elif isinstance(action, SwitchTraffic):
            await self._switch(svc, action.to_cluster)
        elif isinstance(action, RouteTraffic):
            await self._route(raw, svc, action)
        elif isinstance(action, RemoveServeEndpoint):
            await self.ctx.kube.delete("Service", ns, serve_service_name(svc.name))
            await self.ctx.kube.delete("Service", ns, owner_head_service_name(svc.name))
        elif isinstance(action, Promote):
            pass  # bookkeeping only; the reconciler's PromotedRayCluster event says it

    async def _switch(self, svc: RayService, to_cluster: str) -> None:
        """Point ``<svc>-head-svc`` and ``<svc>-serve-svc`` at *to_cluster* (create them once)."""
        model = await self._cluster_model(svc.namespace, to_cluster)
        if model is None:
            raise KubeError(f"RayCluster {svc.namespace}/{to_cluster} to switch traffic to is gone")
        for wanted in (
            owner_head_service(svc, model, self.ctx.config.build),
            rayservice_serve_service(svc, model),
        ):
            name = wanted["metadata"]["name"]
            existing = await self.ctx.kube.get("Service", svc.namespace, name)
            if existing is None:
                await self.ctx.kube.ensure(wanted)
                continue
            if (existing.get("spec") or {}).get("selector") != wanted["spec"]["selector"]:
                patch = {"spec": {"selector": wanted["spec"]["selector"]}}
                await self.ctx.kube.patch("Service", svc.namespace, name, patch)

    async def _route(self, raw: Obj, svc: RayService, action: RouteTraffic) -> None:
        """The clusters' serve Services, the Gateway and the HTTPRoute with the weights."""
        backends: list[tuple[str, int, int]] = []
        for cluster, weight in action.weights:
            model = await self._cluster_model(svc.namespace, cluster)
            if model is None:
                continue
            serve_svc = rayservice_serve_service(svc, model)
            # KubeRay creates it once and leaves it; a GET spares a 409 on every pass.
            if not await self.ctx.kube.get("Service", svc.namespace, serve_svc["metadata"]["name"]):
                await self.ctx.kube.ensure(serve_svc)
            backends.append((cluster, _serve_port(model), weight))
        if not backends:
            return
        for wanted in (rayservice_gateway(svc), rayservice_http_route(svc, backends)):
            kind, name = wanted["kind"], wanted["metadata"]["name"]
            existing = await self.ctx.kube.get(kind, svc.namespace, name)
            if existing is None:
                await self.ctx.kube.create(wanted)
                what = "CreatedGateway" if kind == "Gateway" else "CreatedHTTPRoute"
                await self.ctx.event(raw, what, f"Created {kind} {svc.namespace}/{name}")
            elif existing.get("spec") != wanted["spec"]:
                existing["spec"] = wanted["spec"]
                await self.ctx.kube.replace(existing)
                what = "UpdatedGateway" if kind == "Gateway" else "UpdatedHTTPRoute"
                await self.ctx.event(raw, what, f"Updated {kind} {svc.namespace}/{name}")
