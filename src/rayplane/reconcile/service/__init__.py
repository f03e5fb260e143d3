"""The RayService reconciler, one room per concern.

* :mod:`.state_machine`: KubeRay's RayServiceReconciler, :func:`reconcile_service`;
* :mod:`.model`: what it reads (clusters, Serve apps) and returns (actions, the plan);
* :mod:`.status`: Serve application statuses and the status on the wire;
* :mod:`.failures`: a failed Serve app or deployment's cause, on one line;
* :mod:`.options`: the operator-level settings that change the rules.

The names below are what the runtimes use; they import them from here.
"""

from rayplane.reconcile.service.failures import Cause, ServeFailure, cause_of, serve_failures
from rayplane.reconcile.service.model import (
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
    ServicePlan,
    SwitchTraffic,
    UpdateCluster,
    head_serve_label,
)
from rayplane.reconcile.service.options import ServiceOptions
from rayplane.reconcile.service.state_machine import reconcile_service
from rayplane.reconcile.service.status import status_wire

__all__ = [
    "READY",
    "UPGRADE_IN_PROGRESS",
    "ApplyServeConfig",
    "Cause",
    "CreateCluster",
    "DeleteCluster",
    "ObservedService",
    "ObservedServiceCluster",
    "Promote",
    "RemoveServeEndpoint",
    "RouteTraffic",
    "ServeFailure",
    "ServiceAction",
    "ServiceOptions",
    "ServicePlan",
    "SwitchTraffic",
    "UpdateCluster",
    "cause_of",
    "head_serve_label",
    "reconcile_service",
    "serve_failures",
    "status_wire",
]
