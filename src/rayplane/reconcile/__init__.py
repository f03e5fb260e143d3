"""Pure reconcilers: (spec, observed state, now) -> (actions, new status).

Nothing here talks to Kubernetes, starts a process or opens a socket (import-linter keeps
it so), which is why both runtimes can share these rules and why they test in milliseconds.
"""

from rayplane.reconcile.cluster import (
    Action,
    ClusterPlan,
    CreateNode,
    DeleteNode,
    ObservedCluster,
    ObservedNode,
    ServiceInfo,
    failure,
    reconcile_cluster,
)
from rayplane.reconcile.raystart import (
    RayStartCommand,
    build_ray_start,
    head_port,
    ray_resources,
)

__all__ = [
    "Action",
    "ClusterPlan",
    "CreateNode",
    "DeleteNode",
    "ObservedCluster",
    "ObservedNode",
    "RayStartCommand",
    "ServiceInfo",
    "build_ray_start",
    "failure",
    "head_port",
    "ray_resources",
    "reconcile_cluster",
]
