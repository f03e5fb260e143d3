"""What the RayService state machine reads and returns: KubeRay's condition types, reasons
and messages, the observed clusters and Serve applications, the actions and the plan."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from rayplane.api.raycluster import RayClusterSpec, RayClusterStatus
from rayplane.api.rayservice import RayService, RayServiceStatus, ServiceClusterStatus
from rayplane.reconcile.conditions import is_true
from rayplane.reconcile.events import Event

if TYPE_CHECKING:
    from rayplane.reconcile.service.failures import ServeFailure

UNKNOWN = "Unknown"

# Requeue periods: KubeRay's ServiceDefaultRequeueDuration, and how long to wait in states
# that only a spec change ends (validation failure, Suspended, InitializingTimeout).
REQUEUE_SECONDS = 2.0
REQUEUE_IDLE_SECONDS = 300.0

# Condition types (apis/ray/v1/rayservice_types.go).
READY = "Ready"
UPGRADE_IN_PROGRESS = "UpgradeInProgress"
ROLLBACK_IN_PROGRESS = "RollbackInProgress"
SUSPENDING = "Suspending"
SUSPENDED = "Suspended"

# Condition reasons (same file).
INITIALIZING = "Initializing"
INITIALIZING_TIMEOUT = "InitializingTimeout"
ZERO_SERVE_ENDPOINTS = "ZeroServeEndpoints"
NON_ZERO_SERVE_ENDPOINTS = "NonZeroServeEndpoints"
BOTH_ACTIVE_PENDING_CLUSTERS_EXIST = "BothActivePendingClustersExist"
NO_PENDING_CLUSTER = "NoPendingCluster"
NO_ACTIVE_CLUSTER = "NoActiveCluster"
VALIDATION_FAILED = "ValidationFailed"
SUSPEND_REQUESTED = "SuspendRequested"
SUSPEND_IN_PROGRESS = "SuspendInProgress"
SUSPEND_COMPLETE = "SuspendComplete"
RESUMED = "RayServiceResumed"
DESIRED_CLUSTER_SPEC_CHANGED = "DesiredClusterSpecChanged"

# Condition messages, verbatim from rayservice_controller.go so that tools matching on them work.
MSG_INITIALIZING = "RayService is initializing"
MSG_NON_ZERO = "Number of serve endpoints is greater than 0"
MSG_ZERO = "Number of serve endpoints dropped to 0"
MSG_BOTH = "Both active and pending Ray clusters exist"
MSG_NO_PENDING = "Active Ray cluster exists and no pending Ray cluster"
MSG_NO_ACTIVE = (
    "No active Ray cluster exists, and the RayService is not initializing. "
    "Please open a GitHub issue in the KubeRay repository."
)
MSG_RESUMED = "Spec.Suspend is false; RayService has resumed."
MSG_RESUME_INITIALIZING = "RayService is initializing after resuming from suspend."
MSG_SUSPEND_REQUESTED = (
    "Spec.Suspend is true; will delete all Kubernetes resources owned by this RayService."
)
MSG_SUSPENDING_READY = "RayService is suspending."
MSG_NO_UPGRADE = "No upgrade in progress."
MSG_NO_ROLLBACK = "No rollback in progress."
MSG_SUSPEND_WAITING = "Waiting for all Kubernetes resources owned by this RayService to be deleted."
MSG_SUSPEND_COMPLETE = "All owned resources have been deleted."
MSG_SUSPENDED_READY = "RayService is suspended."
MSG_ROLLBACK_REVERTED = "Goal state reverted to original cluster, rolling back."
MSG_ROLLBACK_CHANGED = "Goal state changed mid-upgrade, rolling back to original cluster."
MSG_ROLLBACK_COMPLETE = "Rollback complete, active Ray cluster exists and no pending Ray cluster"

# serviceStatus (deprecated in KubeRay, equivalent to Ready=True). Not running is KubeRay's ""
# which its JSON omits; here it is None, which dumps the same.
RUNNING = "Running"

# Serve application status that counts as ready (ApplicationStatusEnum.RUNNING).
APP_RUNNING = "RUNNING"
DEFAULT_APP_NAME = "default"

HEAD_POD_READY = "HeadPodReady"

# DeleteCluster.reason values.
DELETE_OUTDATED = "Outdated"
DELETE_SUSPEND = "Suspend"
DELETE_SERVICE_DELETED = "ServiceDeleted"


# -- observed state ---------------------------------------------------------------------------


class DeploymentView(Protocol):
    """What the reconciler reads of a Serve deployment (clients.serve_api.DeploymentInfo fits)."""

    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str: ...


class AppView(Protocol):
    """What the reconciler reads of a Serve application (clients.serve_api.ApplicationInfo fits)."""

    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def deployments(self) -> Mapping[str, DeploymentView]: ...


@dataclass(frozen=True)
class ServeDeployment:
    """One Serve deployment's status as the dashboard reports it (UPDATING, HEALTHY, ...)."""

    status: str
    message: str = ""


@dataclass(frozen=True)
class ServeApp:
    """One Serve application from ``GET /api/serve/applications/``.

    ``status`` is Serve's ApplicationStatus: NOT_STARTED, DEPLOYING, DEPLOY_FAILED, RUNNING,
    UNHEALTHY or DELETING; only RUNNING counts as ready to take traffic.
    """

    status: str
    message: str = ""
    deployments: Mapping[str, ServeDeployment] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedServiceCluster:
    """One RayCluster the service owns, as the runtime sees it this pass.

    * ``exists``: False stands for "named in status but not found"; same as leaving it out.
    * ``deleting``: its deletion was already requested (Kubernetes deletionTimestamp, or the
      local runtime is tearing it down); it is not asked to go again.
    * ``status``: the cluster's own status (its HeadPodReady condition gates Serve).
    * ``annotations``: the cluster's annotations, for the spec hash, ``ray.io/num-worker-
      groups`` and ``ray.io/kuberay-version``.
    * ``serve_apps``: the applications from ``GET /api/serve/applications/?api_type=
      declarative`` (``ServeState.applications`` from clients.serve_api as is, or
      :class:`ServeApp` values), None when not queried (the runtime queries once the head is ready);
      ``serve_error`` says why the query failed, if it did.
    * ``worker_serve_endpoints``: ready worker nodes whose Serve proxy answers
      ``/-/healthz`` (KubeRay: ready worker pods, whose readiness probe includes it).
    * ``head_proxy_healthy``: the head's proxy answers ``/-/healthz``; it counts as an
      endpoint unless ``excludeHeadPodFromServeSvc``.
    * ``cached_serve_config``: the serveConfigV2 text last PUT successfully to this cluster,
      stored by the runtime after carrying out :class:`ApplyServeConfig`.
    * ``serve_target_capacity``: the ``target_capacity`` Serve reports (None: unset, 100 %);
      an incremental upgrade moves traffic only to a cluster running at the capacity asked.
    """

    name: str
    exists: bool = True
    deleting: bool = False
    status: RayClusterStatus | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    serve_apps: Mapping[str, AppView] | None = None
    serve_error: str | None = None
    worker_serve_endpoints: int = 0
    head_proxy_healthy: bool = False
    cached_serve_config: str | None = None
    serve_target_capacity: float | None = None

    @property
    def head_ready(self) -> bool:
        return is_true(self.status.conditions if self.status else None, HEAD_POD_READY)


@dataclass(frozen=True)
class ObservedService:
    """What the runtime sees of one RayService this pass.

    ``active``/``pending`` are the clusters named in status (None when there is no such name),
    ``others`` every other cluster the service still owns (being or to be deleted). The
    reconciler matches them to status by name, so the slots are a convenience; use
    :meth:`of` to sort a plain list. ``serving_cluster`` is the cluster the serve endpoint
    points at now (None: no endpoint yet). ``deletion_deadlines`` is the map the previous
    plan returned in :attr:`ServicePlan.deletion_deadlines`.
    """

    active: ObservedServiceCluster | None = None
    pending: ObservedServiceCluster | None = None
    others: Sequence[ObservedServiceCluster] = ()
    serving_cluster: str | None = None
    deletion_deadlines: Mapping[str, datetime] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        svc: RayService,
        clusters: Iterable[ObservedServiceCluster],
        *,
        serving_cluster: str | None = None,
        deletion_deadlines: Mapping[str, datetime] | None = None,
    ) -> ObservedService:
        """Sort *clusters* into active / pending / others by the names in *svc*'s status."""
        status = svc.status or RayServiceStatus()
        active_name = cluster_name_of(status.active_service_status)
        pending_name = cluster_name_of(status.pending_service_status)
        active = pending = None
        others: list[ObservedServiceCluster] = []
        for cluster in clusters:
            if active_name and cluster.name == active_name:
                active = cluster
            elif pending_name and cluster.name == pending_name:
                pending = cluster
            else:
                others.append(cluster)
        return cls(
            active=active,
            pending=pending,
            others=tuple(others),
            serving_cluster=serving_cluster,
            deletion_deadlines=dict(deletion_deadlines or {}),
        )

    def existing(self) -> dict[str, ObservedServiceCluster]:
        """Every cluster that exists, by name."""
        found: dict[str, ObservedServiceCluster] = {}
        for cluster in (self.active, self.pending, *self.others):
            if cluster is not None and cluster.exists:
                found[cluster.name] = cluster
        return found


# -- plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateCluster:
    """Create RayCluster *name* with *spec*, *labels* and *annotations* (hash bookkeeping).

    On Kubernetes it is owned by the RayService (ownerReference). Creating a cluster that
    already exists is not an error: skip it.
    """

    name: str
    spec: RayClusterSpec
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class UpdateCluster:
    """Replace RayCluster *name*'s spec, labels and annotations in place.

    Used when only worker groups were appended (or the creating version changed). Keep the
    cluster's own ``spec.suspend``: KubeRay hands it to Kueue after creation.
    """

    name: str
    spec: RayClusterSpec
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class DeleteCluster:
    """Delete RayCluster *name* (and with it its nodes); *reason* is a DELETE_* constant."""

    name: str
    reason: str


@dataclass(frozen=True)
class ApplyServeConfig:
    """``PUT /api/serve/applications/`` on *cluster*'s dashboard with *config* as JSON.

    *config* is serveConfigV2 parsed from YAML. On success the runtime stores *config_yaml*
    as the cluster's ``cached_serve_config``; on failure it stores nothing, so the next pass
    tries again.
    """

    cluster: str
    config: dict[str, Any]
    config_yaml: str


@dataclass(frozen=True)
class SwitchTraffic:
    """Point the serve endpoint at *to_cluster*.

    Kubernetes: set the ``ray.io/cluster`` selector of ``<svc>-head-svc`` and
    ``<svc>-serve-svc`` (creating them the first time). Locally: forward the service's stable
    port to that cluster's Serve proxies.
    """

    to_cluster: str


@dataclass(frozen=True)
class RouteTraffic:
    """Split the serve endpoint's traffic by weight (NewClusterWithIncrementalUpgrade).

    *weights* are (cluster, percent) pairs summing to 100, the active cluster first.
    Kubernetes: the Gateway ``<svc>-gateway`` and the HTTPRoute ``<svc>-httproute`` whose
    backendRefs are the clusters' ``<cluster>-serve-svc`` Services with these weights.
    Locally: the stable port forwards that share of new requests to each cluster.
    """

    weights: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class RemoveServeEndpoint:
    """Remove the serve endpoint altogether (suspend): the Services, or the local port."""


@dataclass(frozen=True)
class Promote:
    """The pending cluster became active (already reflected in the plan's status)."""

    from_cluster: str | None
    to_cluster: str


ServiceAction = (
    CreateCluster
    | UpdateCluster
    | DeleteCluster
    | ApplyServeConfig
    | SwitchTraffic
    | RouteTraffic
    | RemoveServeEndpoint
    | Promote
)


@dataclass(frozen=True)
class ServicePlan:
    """The outcome of one pass.

    Carry out ``actions`` in order; SwitchTraffic precedes the Promote that depends on it,
    so if an action fails, stop and do not write this status (the next pass recomputes).
    ``deletion_deadlines`` replaces the stored map of "delete this cluster after" times and
    comes back as ``ObservedService.deletion_deadlines``. ``finalized`` is True once a service
    being deleted has no cluster left (drop the finalizer / the record). ``error`` is why the
    pass did not converge (a failed serve query or config parse). ``serve_failures`` are the
    failed Serve apps of the cluster this pass brings up (the pending one, else the active
    one), each with its cause on one line: KubeRay's status only copies Serve's statuses and
    tracebacks, so a runtime that waits on the service reads why from here.
    """

    actions: list[ServiceAction]
    status: RayServiceStatus
    deletion_deadlines: dict[str, datetime]
    requeue_after: float
    events: list[Event]
    changed: bool = False
    error: str | None = None
    finalized: bool = False
    serve_failures: tuple[ServeFailure, ...] = ()


def head_serve_label(svc: RayService, proxy_healthy: bool) -> str:
    """The head pod's ``ray.io/serve`` label value (KubeRay's updateHeadPodServeLabel).

    Workers always carry "true" and rely on their readiness probe; the head's readiness does
    not include the proxy, so its label follows the proxy's health, or is "false" when the
    spec keeps the head out of the serve Service.
    """
    if svc.spec.exclude_head_pod_from_serve_svc:
        return "false"
    return "true" if proxy_healthy else "false"


def cluster_name_of(status: ServiceClusterStatus | None) -> str:
    return (status.ray_cluster_name or "") if status is not None else ""
