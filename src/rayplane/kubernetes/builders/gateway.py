"""The Gateway API objects of a NewClusterWithIncrementalUpgrade RayService.

KubeRay (rayservice_controller.go at feeaf72, ``createGateway``, ``createHTTPRoute``)
routes such a service through a Gateway ``<svc>-gateway`` of the user's
``gatewayClassName`` with one HTTP listener on port 80, and an HTTPRoute
``<svc>-httproute`` attached to it whose single rule (path prefix ``/``) splits traffic
between the active and pending clusters' ``<cluster>-serve-svc`` Services by weight; the
weights are what the reconciler's :class:`~rayplane.reconcile.service.RouteTraffic` says.
Both are owned by the RayService. A Gateway controller (Istio, Envoy Gateway, ...) turns
them into a data plane; rayplane does not ship one.
"""

from __future__ import annotations

from collections.abc import Sequence

from rayplane.api.rayservice import RayService
from rayplane.kubernetes.builders.names import serve_service_name
from rayplane.kubernetes.builders.objects import Manifest, envelope

GATEWAY_API = "gateway.networking.k8s.io/v1"
LISTENER_NAME = "http"  # utils.GatewayListenerPortName
LISTENER_PORT = 80  # utils.DefaultGatewayListenerPort


def gateway_name(service: str) -> str:
    return f"{service}-gateway"


def http_route_name(service: str) -> str:
    return f"{service}-httproute"


def rayservice_gateway(service: RayService) -> Manifest:
    """``<svc>-gateway``: the user's GatewayClass, one HTTP listener on port 80."""
    options = (
        service.spec.upgrade_strategy.cluster_upgrade_options
        if (service.spec.upgrade_strategy)
        else None
    )
    manifest = envelope(
        GATEWAY_API, "Gateway", gateway_name(service.name), service.namespace, owner=service
    )
    manifest["spec"] = {
        "gatewayClassName": (options.gateway_class_name if options else None) or "",
        "listeners": [{"name": LISTENER_NAME, "protocol": "HTTP", "port": LISTENER_PORT}],
    }
    return manifest


def rayservice_http_route(
    service: RayService, backends: Sequence[tuple[str, int, int]]
) -> Manifest:
    """``<svc>-httproute``: *backends* are (cluster, serve port, weight), active first."""
    ns = service.namespace
    manifest = envelope(GATEWAY_API, "HTTPRoute", http_route_name(service.name), ns, owner=service)
    manifest["spec"] = {
        "parentRefs": [{"name": gateway_name(service.name), "namespace": ns}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [
                    {
                        "name": serve_service_name(cluster),
                        "namespace": ns,
                        "port": port,
                        "weight": weight,
                    }
                    for cluster, port, weight in backends
                ],
            }
        ],
    }
    return manifest
