"""Services (and the dashboard Ingress) that make a Ray cluster reachable.

KubeRay's common/service.go and common/ingress.go at feeaf72:

- Head Service ``<cluster>-head-svc`` (or ``headService.metadata.name``): the head
  container's named ports (unnamed ones become ``<port>-port``), or client 10001,
  gcs-server 6379, dashboard 8265, metrics 8080, serve 8000 when it names none; ``metrics``
  is always there. Headless (``clusterIP: None``, publishNotReadyAddresses) unless the
  serviceType is not ClusterIP or the operator runs with ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE.
  A user-supplied ``headService`` keeps its own spec, gets KubeRay's selector and the
  default ports appended, and is never made headless.
- Headless ``<cluster>-headless`` for multi-host worker groups.
- Serve ``<name>-serve-svc``: the ports named ``serve`` or ``serve-*``; on a RayCluster
  only with the annotation ``ray.io/enable-serve-service=true``.
- ``<rayjob>-head-svc`` / ``<rayservice>-head-svc`` / ``<rayservice>-serve-svc``: owned by
  the RayJob or RayService, selecting the cluster that currently serves it.

KubeRay builds the port lists from Go maps, so their order varies between runs; here they
are sorted by name.
"""

from __future__ import annotations

from typing import Any

from rayplane.api.raycluster import IngressOptions, RayCluster
from rayplane.api.rayjob import RayJob
from rayplane.api.rayservice import RayService
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.names import (
    head_service_name,
    headless_service_name,
    identifier,
    ingress_name,
    owner_head_service_name,
    serve_service_label,
    serve_service_name,
)
from rayplane.kubernetes.builders.objects import (
    BuildError,
    Manifest,
    deep,
    envelope,
    owner_reference,
    tidy_metadata,
)
from rayplane.kubernetes.builders.options import DEFAULT_OPTIONS, BuildOptions

DEFAULT_PORTS = {
    "client": 10001,
    "gcs-server": 6379,
    "dashboard": 8265,
    "metrics": 8080,
    "serve": 8000,
}
METRICS = "metrics"
DASHBOARD = "dashboard"
SERVE = "serve"
APP_PROTOCOL = "tcp"
INCREMENTAL_UPGRADE = "NewClusterWithIncrementalUpgrade"

NO_SERVE_PORT = (
    "Please specify a port named 'serve' (or with the prefix 'serve-', e.g. 'serve-grpc') in "
    "the Ray head container; otherwise, the Kubernetes service for Ray Serve will not be "
    "created."
)


def service_ports(cluster: RayCluster) -> dict[str, int]:
    """The head's ports by name (getServicePorts): the container's, or the defaults."""
    ports: dict[str, int] = {}
    containers = cluster.spec.head_group_spec.template.spec.containers
    for port in (containers[0].ports or []) if containers else []:
        ports[port.name or f"{port.container_port}-port"] = port.container_port
    if not ports:
        ports = dict(DEFAULT_PORTS)
    ports.setdefault(METRICS, DEFAULT_PORTS[METRICS])
    return ports


def is_serving_port(name: str) -> bool:
    return name == SERVE or name.startswith(SERVE + "-")


def dashboard_port(cluster: RayCluster) -> int | None:
    """The head Service's ``dashboard`` port, what the RayJob's dashboardURL uses."""
    return service_ports(cluster).get(DASHBOARD)


# -- head Service -------------------------------------------------------------------------------


def head_service(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> Manifest:
    """The RayCluster's head Service, created once and never updated by KubeRay."""
    head = cluster.spec.head_group_spec
    template_labels = (head.template.metadata.labels if head.template.metadata else None) or {}
    given = {L.APP_NAME: template_labels[L.APP_NAME]} if L.APP_NAME in template_labels else {}
    annotations = dict(cluster.spec.head_service_annotations or {})
    service = _service_for_head_pod(cluster, given, annotations, options)
    service["metadata"]["ownerReferences"] = [owner_reference(cluster)]
    return service


def _service_for_head_pod(
    cluster: RayCluster,
    given_labels: dict[str, str],
    annotations: dict[str, str],
    options: BuildOptions,
) -> Manifest:
    """BuildServiceForHeadPod, without the owner (callers own it differently)."""
    head = cluster.spec.head_group_spec
    selector = L.head_service_selector(cluster.name, given_labels)
    name = head_service_name(cluster.name, cluster.spec)
    ports = [
        {"name": port_name, "port": port, "appProtocol": APP_PROTOCOL}
        for port_name, port in sorted(service_ports(cluster).items())
    ]
    if head.head_service is not None:
        custom = head.head_service.wire()
        meta: dict[str, Any] = custom.get("metadata") or {}
        spec: dict[str, Any] = custom.get("spec") or {}
        spec["selector"] = selector
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        spec["ports"] = [*(spec.get("ports") or []), *ports]
        meta["labels"] = {**(meta.get("labels") or {}), **selector}
        meta["name"] = meta.get("name") or name
        meta["namespace"] = cluster.namespace
        if not spec.get("type") and head.service_type:
            spec["type"] = head.service_type
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": tidy_metadata(meta),
            "spec": spec,
        }

    service = envelope(
        "v1", "Service", name, cluster.namespace, labels=selector, annotations=annotations
    )
    body: dict[str, Any] = {"selector": dict(selector), "ports": ports}
    if head.service_type:
        body["type"] = head.service_type
    if not options.head_cluster_ip_service and head.service_type in (None, "", "ClusterIP"):
        # At most one head pod: no need for a virtual IP, and workers may reach a head
        # that is not ready yet.
        body["clusterIP"] = "None"
        body["publishNotReadyAddresses"] = True
    service["spec"] = body
    return service


def headless_worker_service(cluster: RayCluster) -> Manifest:
    """``<cluster>-headless``: DNS for the workers of multi-host groups to find each other."""
    service = envelope(
        "v1",
        "Service",
        headless_service_name(cluster.name),
        cluster.namespace,
        labels={L.HEADLESS_WORKER_SVC: cluster.name},
        owner=cluster,
    )
    service["spec"] = {
        "clusterIP": "None",
        "selector": {L.CLUSTER: cluster.name, L.NODE_TYPE: L.WORKER},
        "type": "ClusterIP",
        "publishNotReadyAddresses": True,
    }
    return service


def needs_headless_service(cluster: RayCluster) -> bool:
    return any(group.num_of_hosts > 1 for group in cluster.spec.worker_group_specs)


# -- serve Services -----------------------------------------------------------------------------


def _serving_ports(cluster: RayCluster) -> list[dict[str, Any]]:
    return [
        {"name": name, "port": port}
        for name, port in sorted(service_ports(cluster).items())
        if is_serving_port(name)
    ]


def wants_serve_service(cluster: RayCluster) -> bool:
    """A standalone RayCluster gets a serve Service only when its annotation asks for one."""
    return cluster.annotation(L.ENABLE_SERVE_SERVICE) == "true"


def cluster_serve_service(cluster: RayCluster) -> Manifest:
    """``<cluster>-serve-svc`` of a RayCluster annotated ``ray.io/enable-serve-service``."""
    ports = _serving_ports(cluster)
    if not ports:
        raise BuildError(NO_SERVE_PORT)
    labels = {
        **L.originated_from(cluster.name, "RayCluster"),
        L.SERVE: serve_service_label(cluster.name),
    }
    service = envelope(
        "v1",
        "Service",
        serve_service_name(cluster.name),
        cluster.namespace,
        labels=labels,
        owner=cluster,
    )
    body: dict[str, Any] = {"selector": {L.CLUSTER: cluster.name}, "ports": ports}
    if cluster.spec.head_group_spec.service_type:
        body["type"] = cluster.spec.head_group_spec.service_type
    service["spec"] = body
    return service


def incremental_upgrade(service: RayService) -> bool:
    strategy = service.spec.upgrade_strategy
    return strategy is not None and strategy.type == INCREMENTAL_UPGRADE


def rayservice_serve_service(service: RayService, cluster: RayCluster) -> Manifest:
    """``<rayservice>-serve-svc``: pods of *cluster* whose ``ray.io/serve`` label is "true".

    With NewClusterWithIncrementalUpgrade each cluster has its own ``<cluster>-serve-svc``
    (behind the Gateway) and a custom ``serveService`` is not used.
    """
    incremental = incremental_upgrade(service)
    owner_name = cluster.name if incremental else service.name
    ports = _serving_ports(cluster)
    custom = None if incremental else service.spec.serve_service
    if not ports and custom is None:
        raise BuildError(NO_SERVE_PORT)
    labels = {
        **L.originated_from(owner_name, "RayService"),
        L.SERVE: serve_service_label(owner_name),
    }
    selector = {L.CLUSTER: cluster.name, L.SERVE: "true"}
    service_type = service.spec.ray_cluster_config.head_group_spec.service_type
    name = serve_service_name(owner_name)

    if custom is not None:
        wire = custom.wire()
        meta: dict[str, Any] = wire.get("metadata") or {}
        spec: dict[str, Any] = wire.get("spec") or {}
        spec["selector"] = selector
        if ports:
            # Auto-detected ports, but the user's definition of a same-named port wins
            # (it may carry appProtocol, e.g. kubernetes.io/h2c for gRPC).
            mine = {p.get("name"): p for p in spec.get("ports") or ()}
            spec["ports"] = [deep(mine.get(p["name"], p)) for p in ports]
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["name"] = meta.get("name") or name
        meta["namespace"] = service.namespace
        meta["ownerReferences"] = [owner_reference(service)]
        if not spec.get("type") and service_type:
            spec["type"] = service_type
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": tidy_metadata(meta),
            "spec": spec,
        }

    result = envelope("v1", "Service", name, service.namespace, labels=labels, owner=service)
    body: dict[str, Any] = {"selector": selector, "ports": ports}
    if service_type:
        body["type"] = service_type
    result["spec"] = body
    return result


# -- head Services of RayJob and RayService -----------------------------------------------------


def owner_head_service(
    owner: RayJob | RayService, cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS
) -> Manifest:
    """``<owner>-head-svc``: a stable head address that survives the owner's cluster changes.

    The cluster's head Service, renamed, relabelled and owned by the RayJob or RayService;
    its selector still picks the head of *cluster*.
    """
    service = _service_for_head_pod(cluster, {}, {}, options)
    meta = service["metadata"]
    meta["name"] = owner_head_service_name(owner.name)
    meta["namespace"] = owner.namespace
    meta["labels"] = {
        **L.originated_from(owner.name, owner.kind),
        L.NODE_TYPE: L.HEAD,
        L.IDENTIFIER: identifier(owner.name, L.HEAD),
    }
    meta["ownerReferences"] = [owner_reference(owner)]
    service["metadata"] = tidy_metadata(meta)
    return service


# -- Ingress ------------------------------------------------------------------------------------


def wants_ingress(cluster: RayCluster) -> bool:
    return bool(cluster.spec.head_group_spec.enable_ingress)


def head_ingress(cluster: RayCluster) -> Manifest:
    """``<cluster>-head-ingress`` to the dashboard, when ``headGroupSpec.enableIngress``.

    Every cluster annotation is copied except ``kubernetes.io/ingress.class``, which
    becomes ``spec.ingressClassName`` instead.
    """
    options = cluster.spec.head_group_spec.ingress_options or IngressOptions()
    annotations = {
        k: v for k, v in (cluster.metadata.annotations or {}).items() if k != L.INGRESS_CLASS
    }
    labels = {
        L.CLUSTER: cluster.name,
        L.IDENTIFIER: identifier(cluster.name, L.HEAD),
        L.APP_NAME: L.APP_NAME_VALUE,
        L.CREATED_BY: L.CREATED_BY_VALUE,
    }
    ingress = envelope(
        "networking.k8s.io/v1",
        "Ingress",
        ingress_name(cluster.name),
        cluster.namespace,
        labels=labels,
        annotations=annotations,
        owner=cluster,
    )
    backend = {
        "service": {
            "name": head_service_name(cluster.name, cluster.spec),
            "port": {"number": service_ports(cluster).get(DASHBOARD, DEFAULT_PORTS[DASHBOARD])},
        }
    }
    path = {
        "path": options.path or "/",
        "pathType": options.path_type or "Prefix",
        "backend": backend,
    }
    rule: dict[str, Any] = {"http": {"paths": [path]}}
    if options.host:
        rule["host"] = options.host
    spec: dict[str, Any] = {"rules": [rule]}
    if options.tls:
        spec["tls"] = deep(options.tls)
    ingress_class = cluster.annotation(L.INGRESS_CLASS)
    if ingress_class is not None:
        spec["ingressClassName"] = ingress_class
    ingress["spec"] = spec
    return ingress
