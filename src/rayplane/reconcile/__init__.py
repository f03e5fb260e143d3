"""Pure reconcilers: (spec, observed state, now) -> (actions, new status).

Nothing here talks to Kubernetes, starts a process or opens a socket (import-linter keeps
it so), which is why both runtimes can share these rules and why they test in milliseconds.

One package per kind (:mod:`.cluster`, :mod:`.job`, :mod:`.service`), each with its state
machine, its model and its helpers; what they share: :mod:`.raystart` (the `ray start`
command), :mod:`.kuberay` (KubeRay's labels, annotations, finalizers, generated names),
:mod:`.events` (the typed events they report), :mod:`.gotime` (Go times and durations),
:mod:`.conditions`, :mod:`.hashing`, :mod:`.gostrings`, :mod:`.wire` and :mod:`.gcs_ft`.
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
