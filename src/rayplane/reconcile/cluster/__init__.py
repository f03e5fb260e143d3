"""The RayCluster reconciler, one room per concern.

* :mod:`.state_machine`: KubeRay's reconcilePods, :func:`reconcile_cluster`;
* :mod:`.model`: what it reads (nodes as observed) and returns (actions, the plan);
* :mod:`.status`: the status a pass writes (conditions, counts, desired resources).

The names below are what the runtimes use; they import them from here.
"""

from rayplane.reconcile.cluster.model import (
    DELETE_UNHEALTHY,
    FAILED_CREATE_HEAD_POD,
    FAILED_CREATE_WORKER_POD,
    PROVISIONED,
    Action,
    ClusterPlan,
    CreateNode,
    DeleteNode,
    ObservedCluster,
    ObservedNode,
    Phase,
    ServiceInfo,
    failure,
)
from rayplane.reconcile.cluster.state_machine import reconcile_cluster
from rayplane.reconcile.cluster.status import status_wire

__all__ = [
    "DELETE_UNHEALTHY",
    "FAILED_CREATE_HEAD_POD",
    "FAILED_CREATE_WORKER_POD",
    "PROVISIONED",
    "Action",
    "ClusterPlan",
    "CreateNode",
    "DeleteNode",
    "ObservedCluster",
    "ObservedNode",
    "Phase",
    "ServiceInfo",
    "failure",
    "reconcile_cluster",
    "status_wire",
]
