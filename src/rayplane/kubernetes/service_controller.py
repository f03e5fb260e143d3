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
* the head Pod's ``ray.io/serve`` label follows its proxy's health (KubeRay's
  updateHeadPodServeLabel); the finalizer ``ray.io/rayservice-finalizer`` is removed once a
  deleted service has no cluster left.

The serve-config cache and the deletion timers, which KubeRay keeps in memory, are kept in
memory here too (:class:`Runtime`), handed to the reconciler each pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rayplane.api.raycluster import RayCluster, RayClusterStatus
from rayplane.api.rayservice import RayService, RayServiceStatus
from rayplane.clients.serve_api import ServeClient, ServeState
from rayplane.kubernetes.builders import (
    BuildError,
    dashboard_port,
    head_fqdn,
    owner_head_service,
    rayservice_serve_service,
)
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.names import owner_head_service_name, serve_service_name
from rayplane.kubernetes.cluster_controller import observed_node
from rayplane.kubernetes.job_controller import parse_cluster
from rayplane.kubernetes.kube import KubeError, Obj
from rayplane.kubernetes.runtime import Runtime, managed_elsewhere
from rayplane.reconcile.conditions import is_true
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
    ServiceAction,
    SwitchTraffic,
    UpdateCluster,
    head_serve_label,
    random_suffix,
    reconcile_service,
    status_wire,
)

FINALIZER = "ray.io/rayservice-finalizer"
DEFAULT_DASHBOARD_PORT = 8265
SERVE_PORT = 8000
ERROR_REQUEUE_SECONDS = 2.0


async def reconcile_rayservice(rt: Runtime, namespace: str, name: str) -> float | None:
    raw = await rt.kube.get("RayService", namespace, name)
    key = (namespace, name)
    if raw is None:
        rt.metrics.service_gone(namespace, name)
        rt.deletion_deadlines.pop(key, None)
        return None
    if managed_elsewhere(raw):
        return None
    model, errors = rt.parse(raw)
    if not isinstance(model, RayService):
        await rt.event(raw, "InvalidRayServiceSpec", "; ".join(errors), warning=True, once=True)
        return None
    svc = model
    meta = raw["metadata"]
    deleting = bool(meta.get("deletionTimestamp"))
    if not deleting and FINALIZER not in (meta.get("finalizers") or []):
        raw = await rt.set_finalizer(raw, FINALIZER, True)

    clusters, heads = await _observe_clusters(rt, svc, raw)
    serving = await rt.kube.get("Service", namespace, serve_service_name(name))
    serving_cluster = ((serving or {}).get("spec") or {}).get("selector", {}).get(L.CLUSTER)
    observed = ObservedService.of(
        svc,
        clusters,
        serving_cluster=serving_cluster,
        deletion_deadlines=rt.deletion_deadlines.get(key, {}),
    )
    now = rt.clock()
    plan = reconcile_service(svc, observed, now, random_suffix, options=rt.config.service_options)
    for action in plan.actions:
        try:
            await _carry_out(rt, raw, svc, action)
        except (KubeError, BuildError) as exc:
            await rt.event(raw, "FailedAction", f"{type(action).__name__}: {exc}", warning=True)
            return ERROR_REQUEUE_SECONDS
    rt.deletion_deadlines[key] = dict(plan.deletion_deadlines)
    await _label_heads(rt, svc, clusters, heads)
    if plan.error:
        await rt.event(raw, "ReconcileError", plan.error, warning=True, once=True)
    if plan.changed and not deleting:
        await rt.write_status(raw, _wire(plan.status))
    if deleting:
        if plan.finalized:
            await rt.set_finalizer(raw, FINALIZER, False)
        return ERROR_REQUEUE_SECONDS if not plan.finalized else None
    conditions = plan.status.conditions
    rt.metrics.service_seen(
        namespace, name, is_true(conditions, READY), is_true(conditions, UPGRADE_IN_PROGRESS)
    )
    return plan.requeue_after


def _wire(status: RayServiceStatus) -> dict[str, Any]:
    return status_wire(status)


def _dashboard_url(rt: Runtime, cluster: RayCluster) -> str:
    port = dashboard_port(cluster) or DEFAULT_DASHBOARD_PORT
    return f"{head_fqdn(cluster, rt.config.build)}:{port}"


def _serve_client(rt: Runtime) -> ServeClient:
    return ServeClient(transport=rt.config.dashboard_transport, timeout=rt.config.dashboard_timeout)


async def _observe_clusters(
    rt: Runtime, svc: RayService, raw: Obj
) -> tuple[list[ObservedServiceCluster], dict[str, Obj]]:
    """The service's clusters as the reconciler sees them, and each one's head Pod."""
    ns = svc.namespace
    uid = raw["metadata"]["uid"]
    found = await rt.kube.select(
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
        pods = await rt.kube.select("Pod", ns, {L.CLUSTER: model.name})
        nodes = [(pod, observed_node(pod)) for pod in pods]
        head = next((p for p, n in nodes if n.kind == "head" and not n.deleting), None)
        if head is not None:
            heads[model.name] = head
        ready_workers = sum(1 for _, n in nodes if n.kind == "worker" and n.running_and_ready)
        apps: Any = None
        serve_error: str | None = None
        proxy_healthy = False
        if is_true(status.conditions, "HeadPodReady"):
            url = _dashboard_url(rt, model)
            try:
                state = await rt.in_thread(_get_applications(rt, url))
                apps = state.applications
            except Exception as exc:
                serve_error = str(exc)
            head_ip = ((head or {}).get("status") or {}).get("podIP")
            if head_ip:
                proxy = f"http://{head_ip}:{_serve_port(model)}"
                proxy_healthy = bool(await rt.in_thread(_proxy_healthy(rt, proxy)))
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
                cached_serve_config=rt.serve_cache.get((ns, model.name)),
            )
        )
    return observed, heads


def _get_applications(rt: Runtime, url: str) -> Callable[[], ServeState]:
    def call() -> ServeState:
        with _serve_client(rt) as client:
            return client.get_applications(url)

    return call


def _proxy_healthy(rt: Runtime, url: str) -> Callable[[], bool]:
    def call() -> bool:
        with _serve_client(rt) as client:
            return client.proxy_healthy(url)

    return call


def _put_config(rt: Runtime, url: str, config: dict[str, Any]) -> Callable[[], None]:
    def call() -> None:
        with _serve_client(rt) as client:
            client.put_config(url, config)

    return call


def _serve_port(cluster: RayCluster) -> int:
    containers = cluster.spec.head_group_spec.template.spec.containers
    for port in (containers[0].ports or []) if containers else []:
        if port.name == "serve":
            return int(port.container_port)
    return SERVE_PORT


async def _label_heads(
    rt: Runtime,
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
            await rt.kube.patch("Pod", svc.namespace, head["metadata"]["name"], patch)


async def _cluster_model(rt: Runtime, ns: str, name: str) -> RayCluster | None:
    raw = await rt.kube.get("RayCluster", ns, name)
    return parse_cluster(raw) if raw is not None else None


async def _carry_out(rt: Runtime, raw: Obj, svc: RayService, action: ServiceAction) -> None:
    ns = svc.namespace
    if isinstance(action, CreateCluster):
        await rt.create_owned_cluster(
            raw, svc, action.name, action.spec, action.labels, action.annotations
        )
    elif isinstance(action, UpdateCluster):
        current = await rt.kube.get("RayCluster", ns, action.name)
        if current is None:
            return
        spec = action.spec.model_dump(by_alias=True, exclude_unset=True, mode="json")
        if "suspend" in (current.get("spec") or {}):
            spec["suspend"] = current["spec"]["suspend"]
        current["spec"] = spec
        current["metadata"]["labels"] = dict(action.labels)
        current["metadata"]["annotations"] = dict(action.annotations)
        await rt.kube.replace(current)
        await rt.event(raw, "UpdatedRayCluster", f"Updated RayCluster {ns}/{action.name}")
    elif isinstance(action, DeleteCluster):
        rt.serve_cache.pop((ns, action.name), None)
        if await rt.kube.delete("RayCluster", ns, action.name):
            await rt.event(
                raw, "DeletedRayCluster", f"Deleted RayCluster {ns}/{action.name} ({action.reason})"
            )
    elif isinstance(action, ApplyServeConfig):
        model = await _cluster_model(rt, ns, action.cluster)
        if model is None:
            return
        url = _dashboard_url(rt, model)
        try:
            await rt.in_thread(_put_config(rt, url, action.config))
        except Exception as exc:
            await rt.event(raw, "FailedToUpdateServeApplications", str(exc), warning=True)
            return
        rt.serve_cache[(ns, action.cluster)] = action.config_yaml
        await rt.event(raw, "UpdatedServeApplications", f"Updated Serve on {action.cluster}")
    elif isinstance(action, SwitchTraffic):
        await _switch(rt, raw, svc, action.to_cluster)
    elif isinstance(action, RemoveServeEndpoint):
        await rt.kube.delete("Service", ns, serve_service_name(svc.name))
        await rt.kube.delete("Service", ns, owner_head_service_name(svc.name))
    elif isinstance(action, Promote):
        await rt.event(
            raw,
            "Promoted",
            f"Promoted RayCluster {action.to_cluster} (was {action.from_cluster or 'none'})",
        )


async def _switch(rt: Runtime, raw: Obj, svc: RayService, to_cluster: str) -> None:
    """Point ``<svc>-head-svc`` and ``<svc>-serve-svc`` at *to_cluster* (create them once)."""
    model = await _cluster_model(rt, svc.namespace, to_cluster)
    if model is None:
        raise KubeError(f"RayCluster {svc.namespace}/{to_cluster} to switch traffic to is gone")
    for wanted in (
        owner_head_service(svc, model, rt.config.build),
        rayservice_serve_service(svc, model),
    ):
        name = wanted["metadata"]["name"]
        existing = await rt.kube.get("Service", svc.namespace, name)
        if existing is None:
            await rt.kube.ensure(wanted)
            continue
        if (existing.get("spec") or {}).get("selector") != wanted["spec"]["selector"]:
            patch = {"spec": {"selector": wanted["spec"]["selector"]}}
            await rt.kube.patch("Service", svc.namespace, name, patch)
    await rt.event(raw, "SwitchedTraffic", f"Serve traffic now goes to RayCluster {to_cluster}")
