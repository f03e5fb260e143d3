"""The pure RayService reconciler: (service, observed clusters and serve apps, now) -> plan.

Both runtimes call :func:`reconcile_service` on every pass and carry out the returned
actions: create, update or delete the service's RayClusters, PUT the Serve config to a
cluster's dashboard, and point the serve endpoint (Kubernetes: the Services' selectors;
locally: the controller's stable port) at a cluster. Which cluster is active, when a new
one is built, when traffic moves and what status says are decided here only, so a
zero-downtime upgrade behaves the same on a laptop and on Kubernetes.

The rules are KubeRay's ``RayServiceReconciler`` (ray-operator/controllers/ray/
rayservice_controller.go at feeaf72, about v1.7), blue/green (``NewCluster``) strategy:

1. Managed by another controller (``spec.managedBy``): do nothing.
2. Being deleted: delete every cluster now; the runtime drops its finalizer once none is left.
3. Validate; an invalid spec sets Ready=False/ValidationFailed and stops.
4. The suspend state machine (Suspending -> delete everything -> Suspended -> resume).
5. Ready=False/InitializingTimeout is terminal: only the old clusters are cleaned up.
6. Create the pending cluster if its name is in status but it does not exist; otherwise
   update the active (not during an upgrade) or pending cluster in place when the spec hash
   matches except for worker groups appended at the end (or the creating KubeRay version
   differs, for the active one).
7. Serve on the pending cluster, else on the active one (unless a new cluster is about to
   be prepared): needs HeadPodReady; PUT the config when nothing is cached for the cluster,
   when it has zero apps (head restarted without GCS FT), or when the cache differs from
   spec. A cluster is ready when it has at least one app and every app is RUNNING.
8. Point traffic at the pending cluster when it is ready (else at a ready active one); if
   that is not the active cluster, promote: active := pending.
9. Prepare a new pending cluster ``<svc>-<rand5>`` when there is none at all, or when the
   spec hash differs from the newest cluster's and zero-downtime upgrades are on
   (``upgradeStrategy.type`` NewCluster/NewClusterWithIncrementalUpgrade, or unset and
   ``ENABLE_ZERO_DOWNTIME`` not false). ``None`` never replaces a cluster.
10. Status and conditions; clusters that are neither active nor pending are deleted
    ``rayClusterDeletionDelaySeconds`` after they were first seen so.

Where this differs from KubeRay, on purpose:

* KubeRay keeps the serve-config cache and the deletion timers in memory, so an operator
  restart re-PUTs every config and restarts every timer. Here both are state the runtime
  stores and passes back (``ObservedServiceCluster.cached_serve_config``,
  ``ObservedService.deletion_deadlines`` / ``ServicePlan.deletion_deadlines``).
* A newly named pending cluster is created in the same pass (KubeRay writes the name to
  status and creates it on the next pass); if the runtime loses the status write, the
  cluster is an orphan and the deletion rule removes it.
* The active cluster's application statuses stay in status during an upgrade whenever the
  runtime observed them (KubeRay drops them until the switch).
* A failed serve query does not abort the pass: the rest of status is still computed and
  that cluster's previous application statuses are kept.
* ``lastUpdateTime`` moves whenever anything but itself changes, embedded cluster status
  included (KubeRay ignores changes of the embedded RayClusterStatus, leaving it stale).
* NewClusterWithIncrementalUpgrade runs as NewCluster (no Gateway, no target_capacity
  steps); RollbackInProgress is therefore never set except by suspend, as KubeRay does.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from rayplane.api.common import Condition
from rayplane.api.loading import LoadError, parse_text
from rayplane.api.raycluster import RayClusterSpec, RayClusterStatus
from rayplane.api.rayservice import (
    AppStatus,
    RayService,
    RayServiceStatus,
    ServeDeploymentStatus,
    ServiceClusterStatus,
)
from rayplane.api.validation import FeatureGates, validate_object
from rayplane.reconcile.conditions import (
    FALSE,
    TRUE,
    find_condition,
    format_time,
    is_true,
    remove_condition,
    set_condition,
)
from rayplane.reconcile.hashing import (
    HASH_ANNOTATION,
    KUBERAY_VERSION_ANNOTATION,
    cluster_annotations,
    only_worker_groups_appended,
    service_cluster_hash,
)
from rayplane.reconcile.wire import go_wire

UNKNOWN = "Unknown"

# Requeue periods: KubeRay's ServiceDefaultRequeueDuration, and how long to wait in states
# that only a spec change ends (validation failure, Suspended, InitializingTimeout).
REQUEUE_SECONDS = 2.0
REQUEUE_IDLE_SECONDS = 300.0

# The version written to ray.io/kuberay-version: the KubeRay behaviour level implemented.
KUBERAY_VERSION = "v1.7.0"
KUBERAY_OPERATOR = "ray.io/kuberay-operator"

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

# serviceStatus (deprecated in KubeRay, equivalent to Ready=True). Not running is KubeRay's ""
# which its JSON omits; here it is None, which dumps the same.
RUNNING = "Running"

# Serve application status that counts as ready (ApplicationStatusEnum.RUNNING).
APP_RUNNING = "RUNNING"
DEFAULT_APP_NAME = "default"

INITIALIZING_TIMEOUT_ANNOTATION = "ray.io/initializing-timeout"
SERVE_LABEL = "ray.io/serve"
ORIGINATED_FROM_CR_NAME = "ray.io/originated-from-cr-name"
ORIGINATED_FROM_CRD = "ray.io/originated-from-crd"
HEAD_POD_READY = "HeadPodReady"

# DeleteCluster.reason values.
DELETE_OUTDATED = "Outdated"
DELETE_SUSPEND = "Suspend"
DELETE_SERVICE_DELETED = "ServiceDeleted"

# k8s.io/apimachinery rand.String's alphabet (no vowels, no confusable digits).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix() -> str:
    """Five characters as KubeRay's rand.String(5) makes them; the usual ``rand`` argument."""
    return "".join(random.choices(_SUFFIX_ALPHABET, k=5))


# -- observed state ---------------------------------------------------------------------------


class DeploymentView(Protocol):
    """What the reconciler reads of a Serve deployment (clients.serve.DeploymentInfo fits)."""

    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str: ...


class AppView(Protocol):
    """What the reconciler reads of a Serve application (clients.serve.ApplicationInfo fits)."""

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
      declarative`` (``ServeState.applications`` from clients.serve as is, or
      :class:`ServeApp` values), None when not queried (the runtime queries once the head is ready);
      ``serve_error`` says why the query failed, if it did.
    * ``worker_serve_endpoints``: ready worker nodes whose Serve proxy answers
      ``/-/healthz`` (KubeRay: ready worker pods, whose readiness probe includes it).
    * ``head_proxy_healthy``: the head's proxy answers ``/-/healthz``; it counts as an
      endpoint unless ``excludeHeadPodFromServeSvc``.
    * ``cached_serve_config``: the serveConfigV2 text last PUT successfully to this cluster,
      stored by the runtime after carrying out :class:`ApplyServeConfig`.
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
        active_name = _cluster_name(status.active_service_status)
        pending_name = _cluster_name(status.pending_service_status)
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


@dataclass(frozen=True)
class ServiceOptions:
    """Operator-level settings that change the rules.

    ``zero_downtime`` is KubeRay's ENABLE_ZERO_DOWNTIME environment variable (only consulted
    when ``upgradeStrategy.type`` is unset); ``gates`` are the feature gates validation uses.
    """

    gates: FeatureGates = field(default_factory=FeatureGates)
    zero_downtime: bool = True
    kuberay_version: str = KUBERAY_VERSION


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
    pass did not converge (a failed serve query or config parse).
    """

    actions: list[ServiceAction]
    status: RayServiceStatus
    deletion_deadlines: dict[str, datetime]
    requeue_after: float
    events: list[str]
    changed: bool = False
    error: str | None = None
    finalized: bool = False


def head_serve_label(svc: RayService, proxy_healthy: bool) -> str:
    """The head pod's ``ray.io/serve`` label value (KubeRay's updateHeadPodServeLabel).

    Workers always carry "true" and rely on their readiness probe; the head's readiness does
    not include the proxy, so its label follows the proxy's health, or is "false" when the
    spec keeps the head out of the serve Service.
    """
    if svc.spec.exclude_head_pod_from_serve_svc:
        return "false"
    return "true" if proxy_healthy else "false"


# -- the reconciler -------------------------------------------------------------------------


def reconcile_service(
    svc: RayService,
    observed: ObservedService,
    now: datetime,
    rand: Callable[[], str],
    *,
    options: ServiceOptions | None = None,
) -> ServicePlan:
    """Plan one pass for *svc*; pure apart from *rand*, which names new clusters.

    The order is KubeRay's (see the module docstring); status is computed from what the
    pass started with plus the decisions it made, as KubeRay's in-memory object is.
    """
    return _Pass(svc, observed, now, rand, options or ServiceOptions()).run()


class _Pass:
    """The bookkeeping of one pass: the status being built, actions, events."""

    def __init__(
        self,
        svc: RayService,
        observed: ObservedService,
        now: datetime,
        rand: Callable[[], str],
        options: ServiceOptions,
    ) -> None:
        self.svc = svc
        self.spec = svc.spec
        self.observed = observed
        self.now = now
        self.rand = rand
        self.options = options
        self.previous = svc.status or RayServiceStatus()
        self.clusters = observed.existing()
        self.actions: list[ServiceAction] = []
        self.events: list[str] = []
        self.error: str | None = None
        self.requeue = REQUEUE_SECONDS
        # The status under construction.
        prev = self.previous
        self.conditions: list[Condition] = list(prev.conditions or [])
        self.generation = prev.observed_generation
        self.active = _copy_cluster_status(prev.active_service_status)
        self.pending = _copy_cluster_status(prev.pending_service_status)
        self.endpoints = prev.num_serve_endpoints
        self.service_status = prev.service_status

    # -- driver ---------------------------------------------------------------------------

    def run(self) -> ServicePlan:
        managed_by = self.spec.managed_by
        if managed_by is not None and managed_by != KUBERAY_OPERATOR:
            self.events.append(f"Skipping: the RayService is managed by {managed_by}")
            return self.plan(REQUEUE_IDLE_SECONDS, deadlines=dict(self.observed.deletion_deadlines))
        if self.svc.metadata.deletion_timestamp:
            return self.deleting()

        report = validate_object(self.svc, self.options.gates)
        if report.errors:
            message = "The RayService spec is invalid: " + "; ".join(map(str, report.errors))
            self.set(READY, FALSE, VALIDATION_FAILED, message)
            self.events.append(f"Warning: {message}")
            self.requeue = REQUEUE_IDLE_SECONDS
            return self.finish()

        if self.suspend_machine():
            return self.finish(orphans=False)

        if self.initializing_timed_out():
            self.requeue = REQUEUE_SECONDS if self.clusters else REQUEUE_IDLE_SECONDS
            return self.finish()

        self.reconcile()
        return self.finish()

    def reconcile(self) -> None:
        """Steps 6-10 of the module docstring: clusters, Serve, traffic, promotion, status."""
        active_name = self.active.ray_cluster_name or ""
        pending_name = self.pending.ray_cluster_name or ""
        active = self.clusters.get(active_name) if active_name else None
        pending = self.clusters.get(pending_name) if pending_name else None

        # Get or create the pending cluster; else update clusters in place where allowed.
        if pending_name and pending is None:
            annotations = self.create_cluster(pending_name)
            pending = ObservedServiceCluster(name=pending_name, annotations=annotations)
        else:
            if active is not None and self.should_update(active, is_active=True):
                active = self.update_cluster(active, "active")
            if pending is not None and self.should_update(pending, is_active=False):
                pending = self.update_cluster(pending, "pending")

        # Serve: the pending cluster, else the active one unless it is about to be replaced.
        pending_ready = active_ready = False
        pending_apps: dict[str, AppStatus] | None = None
        active_apps: dict[str, AppStatus] | None = None
        if pending is not None:
            pending_ready, pending_apps = self.reconcile_serve(pending)
        if active is not None:
            if pending is None and not self.should_prepare(active, None, serving_pending=False):
                active_ready, active_apps = self.reconcile_serve(active)
            else:
                active_apps = self.observed_apps(active)

        # Traffic goes to the pending cluster once ready, else to a ready active one.
        target = pending if pending_ready else active if active_ready else None
        serving = self.observed.serving_cluster
        if target is not None and serving != target.name:
            self.actions.append(SwitchTraffic(target.name))
            self.events.append(f"Switching traffic to RayCluster {target.name}")
            serving = target.name

        # Status of both clusters, then promotion.
        self.generation = self.svc.metadata.generation
        self.active = _with_cluster(self.active, active, active_apps)
        self.pending = _with_cluster(self.pending, pending, pending_apps)
        serving_pending = False
        if target is not None:
            serving_pending = bool(pending_name) and target.name == pending_name
            if target.name != active_name:
                self.actions.append(Promote(active_name or None, target.name))
                self.events.append(f"Promoted RayCluster {target.name} to active")
                self.active = self.pending
                self.pending = ServiceClusterStatus()

        prepared: str | None = None
        if self.should_prepare(active, pending, serving_pending=serving_pending):
            prepared = f"{self.svc.name}-{self.rand()}"
            self.pending = ServiceClusterStatus(ray_cluster_name=prepared)
            self.events.append(f"Preparing a new pending RayCluster {prepared}")

        serving_cluster = self.clusters.get(serving) if serving else None
        self.endpoints = self.serve_endpoints(serving_cluster) if serving_cluster else 0
        self.calculate_conditions()
        self.service_status = RUNNING if is_true(self.conditions, READY) else None

        if prepared is not None and self.pending.ray_cluster_name == prepared:
            self.create_cluster(prepared)

    # -- clusters ---------------------------------------------------------------------------

    def goal_metadata(self) -> tuple[dict[str, str], dict[str, str]]:
        """Labels and annotations of a cluster built for this service (constructRayCluster...)."""
        labels = dict(self.svc.metadata.labels or {})
        labels[ORIGINATED_FROM_CR_NAME] = self.svc.name
        labels[ORIGINATED_FROM_CRD] = "RayService"
        annotations = dict(self.svc.metadata.annotations or {})
        annotations.update(
            cluster_annotations(self.spec.ray_cluster_config, self.options.kuberay_version)
        )
        return labels, annotations

    def create_cluster(self, name: str) -> dict[str, str]:
        """Plan the creation of *name*; returns the annotations it will carry."""
        labels, annotations = self.goal_metadata()
        spec = self.spec.ray_cluster_config.model_copy(deep=True)
        self.actions.append(CreateCluster(name, spec, labels, annotations))
        self.events.append(f"Creating RayCluster {name}")
        return annotations

    def update_cluster(self, cluster: ObservedServiceCluster, role: str) -> ObservedServiceCluster:
        labels, annotations = self.goal_metadata()
        spec = self.spec.ray_cluster_config.model_copy(deep=True)
        self.actions.append(UpdateCluster(cluster.name, spec, labels, annotations))
        self.events.append(f"Updating the {role} RayCluster {cluster.name} in place")
        # The rest of the pass sees the updated cluster, as KubeRay's mutated object does.
        return replace(cluster, annotations=annotations)

    def hash_equal(self, cluster: ObservedServiceCluster) -> bool:
        goal = service_cluster_hash(self.spec.ray_cluster_config)
        return cluster.annotations.get(HASH_ANNOTATION, "") == goal

    def appended_only(self, cluster: ObservedServiceCluster) -> bool:
        return only_worker_groups_appended(self.spec.ray_cluster_config, cluster.annotations)

    def should_update(self, cluster: ObservedServiceCluster, *, is_active: bool) -> bool:
        """KubeRay's shouldUpdateCluster."""
        if is_active:
            if is_true(self.previous.conditions, UPGRADE_IN_PROGRESS):
                return False  # during an upgrade only the pending cluster follows the spec
            if cluster.annotations.get(KUBERAY_VERSION_ANNOTATION) != self.options.kuberay_version:
                return True
        if self.hash_equal(cluster):
            return False
        return self.appended_only(cluster)

    def should_prepare(
        self,
        active: ObservedServiceCluster | None,
        pending: ObservedServiceCluster | None,
        *,
        serving_pending: bool,
    ) -> bool:
        """KubeRay's shouldPrepareNewCluster: is a new pending cluster needed?"""
        if serving_pending:
            return False
        if active is None and pending is None:
            return True  # nothing exists yet (new service, or its clusters were lost)
        cluster = pending if pending is not None else active
        assert cluster is not None
        if self.hash_equal(cluster) or self.appended_only(cluster):
            return False
        return self.zero_downtime()

    def zero_downtime(self) -> bool:
        strategy = self.spec.upgrade_strategy
        if strategy is not None and strategy.type is not None:
            allowed = {"NewCluster"}
            if self.options.gates.RayServiceIncrementalUpgrade:
                allowed.add("NewClusterWithIncrementalUpgrade")
            return strategy.type in allowed
        return self.options.zero_downtime

    # -- serve --------------------------------------------------------------------------------

    def observed_apps(self, cluster: ObservedServiceCluster) -> dict[str, AppStatus] | None:
        if cluster.serve_apps is None or cluster.serve_error:
            return self.previous_apps(cluster.name)
        return _app_statuses(cluster.serve_apps)

    def previous_apps(self, name: str) -> dict[str, AppStatus] | None:
        for status in (self.previous.active_service_status, self.previous.pending_service_status):
            if status is not None and status.ray_cluster_name == name:
                return dict(status.application_statuses or {}) or None
        return None

    def reconcile_serve(
        self, cluster: ObservedServiceCluster
    ) -> tuple[bool, dict[str, AppStatus] | None]:
        """KubeRay's reconcileServe: (ready for traffic, application statuses)."""
        if not cluster.head_ready:
            return False, None
        if cluster.serve_error:
            self.fail(
                f"failed to get Serve application statuses from RayCluster {cluster.name}: "
                f"{cluster.serve_error}"
            )
            return False, self.previous_apps(cluster.name)
        if cluster.serve_apps is None:
            return False, None
        apps = cluster.serve_apps
        ready = bool(apps) and all(app.status == APP_RUNNING for app in apps.values())
        wanted = self.spec.serve_config_v2 or ""
        reason = _why_submit(cluster.cached_serve_config or "", wanted, apps)
        if reason is not None:
            if not wanted:
                self.events.append(
                    f"Not applying Serve config to {cluster.name}: serveConfigV2 is empty"
                )
            else:
                config = self.parse_serve_config(wanted)
                if config is not None:
                    self.actions.append(ApplyServeConfig(cluster.name, config, wanted))
                    self.events.append(
                        f"Applying Serve config to RayCluster {cluster.name}: {reason}"
                    )
        return ready, _app_statuses(apps)

    def parse_serve_config(self, text: str) -> dict[str, Any] | None:
        try:
            docs = parse_text(text, "spec.serveConfigV2")
        except LoadError as exc:
            self.fail(str(exc))
            return None
        raw = docs[0].raw if docs else {}
        if not isinstance(raw, dict):
            self.fail("spec.serveConfigV2 is not a YAML mapping")
            return None
        # JSON types only (YAML timestamps and the like become strings), as PUT sends JSON.
        parsed: dict[str, Any] = json.loads(json.dumps(raw, default=str))
        return parsed

    def serve_endpoints(self, cluster: ObservedServiceCluster) -> int:
        head = cluster.head_proxy_healthy and not self.spec.exclude_head_pod_from_serve_svc
        return cluster.worker_serve_endpoints + (1 if head else 0)

    # -- conditions ---------------------------------------------------------------------------

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        """KubeRay's setCondition: meta.SetStatusCondition stamped with observedGeneration."""
        conditions = set_condition(self.conditions, type_, status, reason, message, self.now)
        self.conditions = [
            c.model_copy(update={"observed_generation": self.generation}) if c.type == type_ else c
            for c in conditions
        ]

    def calculate_conditions(self) -> None:
        if not self.conditions:
            self.set(READY, FALSE, INITIALIZING, MSG_INITIALIZING)
            self.set(UPGRADE_IN_PROGRESS, FALSE, INITIALIZING, MSG_INITIALIZING)
        if (self.endpoints or 0) > 0:
            self.set(READY, TRUE, NON_ZERO_SERVE_ENDPOINTS, MSG_NON_ZERO)
        elif is_true(self.conditions, READY):
            self.set(READY, FALSE, ZERO_SERVE_ENDPOINTS, MSG_ZERO)
        else:
            self.mark_initializing_timeout()

        if self.active.ray_cluster_name and self.pending.ray_cluster_name:
            self.set(UPGRADE_IN_PROGRESS, TRUE, BOTH_ACTIVE_PENDING_CLUSTERS_EXIST, MSG_BOTH)
        elif self.active.ray_cluster_name:
            self.set(UPGRADE_IN_PROGRESS, FALSE, NO_PENDING_CLUSTER, MSG_NO_PENDING)
        else:
            current = find_condition(self.conditions, UPGRADE_IN_PROGRESS)
            if current is None or current.reason not in (INITIALIZING, INITIALIZING_TIMEOUT):
                self.set(UPGRADE_IN_PROGRESS, UNKNOWN, NO_ACTIVE_CLUSTER, MSG_NO_ACTIVE)

    def mark_initializing_timeout(self) -> None:
        """KubeRay's markFailedOnInitializingTimeout; terminal once set."""
        timeout = parse_go_duration(self.svc.annotation(INITIALIZING_TIMEOUT_ANNOTATION) or "")
        if timeout is None:
            return
        ready = find_condition(self.conditions, READY)
        if ready is None or ready.status != FALSE or ready.reason != INITIALIZING:
            return
        since = _parse_time(ready.last_transition_time)
        if since is None:
            return
        spent = _aware(self.now) - since
        if spent < timeout:
            return
        self.active = self.active.model_copy(update={"ray_cluster_name": None})
        self.pending = self.pending.model_copy(update={"ray_cluster_name": None})
        message = (
            f"RayService failed to become ready within the configured timeout of "
            f"{format_go_duration(timeout)}. Time spent initializing: {format_go_duration(spent)}"
        )
        self.set(READY, FALSE, INITIALIZING_TIMEOUT, message)
        self.events.append(
            f"Warning: RayService initializing timeout exceeded after "
            f"{format_go_duration(spent)} (configured timeout: "
            f"{format_go_duration(timeout)})"
        )

    def initializing_timed_out(self) -> bool:
        ready = find_condition(self.conditions, READY)
        return ready is not None and ready.status == FALSE and ready.reason == INITIALIZING_TIMEOUT

    # -- suspend ------------------------------------------------------------------------------

    def suspend_machine(self) -> bool:
        """KubeRay's handleSuspend; True when suspension owns this pass (stop after it)."""
        suspend = bool(self.spec.suspend)
        if is_true(self.conditions, SUSPENDED):
            if suspend:
                self.requeue = REQUEUE_IDLE_SECONDS
                return True
            self.generation = self.svc.metadata.generation
            self.set(SUSPENDED, FALSE, RESUMED, MSG_RESUMED)
            # Remove + set gives Ready a fresh lastTransitionTime: the initializing timeout
            # counts again from the resume.
            self.conditions = remove_condition(self.conditions, READY)
            self.set(READY, FALSE, INITIALIZING, MSG_RESUME_INITIALIZING)
            self.conditions = remove_condition(self.conditions, UPGRADE_IN_PROGRESS)
            self.set(UPGRADE_IN_PROGRESS, FALSE, INITIALIZING, MSG_RESUME_INITIALIZING)
            self.events.append("Resuming from suspend")
            return False
        if not is_true(self.conditions, SUSPENDING):
            if not suspend:
                return False
            # Stage the transition only; deletion starts once Suspending is stored.
            self.generation = self.svc.metadata.generation
            self.set(SUSPENDING, TRUE, SUSPEND_REQUESTED, MSG_SUSPEND_REQUESTED)
            self.set(READY, FALSE, SUSPEND_IN_PROGRESS, MSG_SUSPENDING_READY)
            self.set(UPGRADE_IN_PROGRESS, FALSE, SUSPEND_IN_PROGRESS, MSG_NO_UPGRADE)
            self.set(ROLLBACK_IN_PROGRESS, FALSE, SUSPEND_IN_PROGRESS, MSG_NO_ROLLBACK)
            self.active = ServiceClusterStatus()
            self.pending = ServiceClusterStatus()
            self.endpoints = 0
            self.service_status = None
            self.events.append("Suspending: every RayCluster of the service will be deleted")
            return True
        # Suspending is stored: delete everything, whatever spec.suspend says now.
        remaining = self.delete_everything(DELETE_SUSPEND)
        if remaining:
            self.set(SUSPENDING, TRUE, SUSPEND_IN_PROGRESS, MSG_SUSPEND_WAITING)
            return True
        self.set(SUSPENDING, FALSE, SUSPEND_COMPLETE, MSG_SUSPEND_COMPLETE)
        self.set(SUSPENDED, TRUE, SUSPEND_COMPLETE, MSG_SUSPEND_COMPLETE)
        self.set(READY, FALSE, SUSPEND_COMPLETE, MSG_SUSPENDED_READY)
        self.set(UPGRADE_IN_PROGRESS, FALSE, SUSPEND_COMPLETE, MSG_NO_UPGRADE)
        self.set(ROLLBACK_IN_PROGRESS, FALSE, SUSPEND_COMPLETE, MSG_NO_ROLLBACK)
        self.events.append("Suspended: every RayCluster of the service is gone")
        return True

    def delete_everything(self, reason: str) -> bool:
        """Delete every cluster and the endpoint; True while any of them still exists."""
        for name, cluster in sorted(self.clusters.items()):
            if not cluster.deleting:
                self.actions.append(DeleteCluster(name, reason))
                self.events.append(f"Deleting RayCluster {name} ({reason})")
        if self.observed.serving_cluster is not None:
            self.actions.append(RemoveServeEndpoint())
            self.events.append("Removing the serve endpoint")
        return bool(self.clusters) or self.observed.serving_cluster is not None

    def deleting(self) -> ServicePlan:
        """The RayService is being deleted: every cluster goes now, without the delay."""
        remaining = self.delete_everything(DELETE_SERVICE_DELETED)
        status = self.previous
        return ServicePlan(
            actions=self.actions,
            status=status,
            deletion_deadlines={},
            requeue_after=REQUEUE_SECONDS,
            events=self.events,
            changed=False,
            finalized=not remaining,
        )

    # -- outcome ------------------------------------------------------------------------------

    def fail(self, message: str) -> None:
        self.events.append(f"Warning: {message}")
        if self.error is None:
            self.error = message

    def clean_up_orphans(self) -> dict[str, datetime]:
        """Delete clusters neither active nor pending, rayClusterDeletionDelaySeconds late.

        KubeRay keeps the deadline in memory; here it is in the plan for the runtime to
        store, so a restarted controller neither forgets nor restarts the countdown.
        """
        in_use = {self.active.ray_cluster_name, self.pending.ray_cluster_name} - {None, ""}
        delay = timedelta(seconds=max(0, self.spec.ray_cluster_deletion_delay_seconds))
        known = self.observed.deletion_deadlines
        deadlines: dict[str, datetime] = {}
        for name, cluster in sorted(self.clusters.items()):
            if name in in_use or cluster.deleting:
                continue
            deadline = known.get(name)
            if deadline is None:
                deadline = _aware(self.now) + delay
                self.events.append(
                    f"Scheduled RayCluster {name} for deletion at {format_time(deadline)}"
                )
            deadlines[name] = deadline
            if _aware(self.now) >= _aware(deadline):
                self.actions.append(DeleteCluster(name, DELETE_OUTDATED))
                self.events.append(f"Deleting RayCluster {name}: neither active nor pending")
        return deadlines

    def status(self) -> RayServiceStatus:
        fields: dict[str, Any] = {
            "conditions": self.conditions or None,
            "active_service_status": self.active,
            "pending_service_status": self.pending,
            "num_serve_endpoints": self.endpoints,
            "observed_generation": self.generation,
            "service_status": self.service_status,
            "last_update_time": self.previous.last_update_time,
        }
        extras = dict(self.previous.model_extra or {})
        return RayServiceStatus.model_validate(
            {**extras, **{k: v for k, v in fields.items() if v is not None}}
        )

    def finish(self, *, orphans: bool = True) -> ServicePlan:
        deadlines = self.clean_up_orphans() if orphans else {}
        return self.plan(self.requeue, deadlines=deadlines)

    def plan(self, requeue: float, *, deadlines: dict[str, datetime]) -> ServicePlan:
        status = self.status()
        changed = _comparable(status) != _comparable(self.previous)
        if changed:
            status = status.model_copy(update={"last_update_time": format_time(self.now)})
        return ServicePlan(
            actions=self.actions,
            status=status,
            deletion_deadlines=deadlines,
            requeue_after=REQUEUE_SECONDS if self.error else requeue,
            events=self.events,
            changed=changed,
            error=self.error,
        )


# -- helpers ------------------------------------------------------------------------------------


def _why_submit(cached: str, wanted: str, apps: Mapping[str, AppView]) -> str | None:
    """KubeRay's checkIfNeedSubmitServeApplications: why to PUT the config, or None."""
    if not cached:
        return "Nothing has been cached for the cluster."
    if not apps:
        return (
            "No Serve application found in the RayCluster. A possible reason is that the head "
            "Pod crashed and GCS FT was not enabled."
        )
    if cached != wanted:
        return "Current V2 Serve config doesn't match cached Serve config."
    return None


def _app_statuses(apps: Mapping[str, AppView]) -> dict[str, AppStatus]:
    """Serve's applications in KubeRay's status shape; the unnamed app is "default"."""
    result: dict[str, AppStatus] = {}
    for name, app in apps.items():
        deployments = {
            dep: ServeDeploymentStatus(status=d.status or None, message=d.message or None)
            for dep, d in app.deployments.items()
        }
        result[name or DEFAULT_APP_NAME] = AppStatus(
            status=app.status or None,
            message=app.message or None,
            serve_deployment_statuses=deployments or None,
        )
    return result


def _cluster_name(status: ServiceClusterStatus | None) -> str:
    return (status.ray_cluster_name or "") if status is not None else ""


def _copy_cluster_status(status: ServiceClusterStatus | None) -> ServiceClusterStatus:
    return status.model_copy(deep=True) if status is not None else ServiceClusterStatus()


def _with_cluster(
    status: ServiceClusterStatus,
    cluster: ObservedServiceCluster | None,
    apps: dict[str, AppStatus] | None,
) -> ServiceClusterStatus:
    """The cluster's status and this pass's application statuses (KubeRay's calculateStatus)."""
    return status.model_copy(
        update={
            "ray_cluster_status": cluster.status if cluster is not None else None,
            "application_statuses": apps or None,
        }
    )


# Counts KubeRay's RayServiceStatus declares `omitempty` (see cluster.OMITTED_WHEN_ZERO).
OMITTED_WHEN_ZERO = ("numServeEndpoints", "observedGeneration")


def status_wire(status: RayServiceStatus) -> dict[str, Any]:
    """The status as KubeRay's operator writes it: JSON names, zero counts left out."""
    return go_wire(status, OMITTED_WHEN_ZERO)


def _comparable(status: RayServiceStatus) -> dict[str, Any]:
    dumped = status_wire(status)
    dumped.pop("lastUpdateTime", None)
    for key in ("activeServiceStatus", "pendingServiceStatus"):
        if not dumped.get(key):
            dumped.pop(key, None)
    return dumped


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


# -- Go durations (the initializing-timeout annotation and its message) -------------------------

_GO_DURATION = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+"
)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(text: str) -> timedelta | None:
    """A positive timeout as KubeRay reads the annotation: a Go duration, else whole seconds.

    None for anything else (validation reports it; KubeRay then ignores the annotation).
    """
    text = text.strip()
    if _GO_DURATION.fullmatch(text):
        if text.startswith("-"):
            return None
        total = sum(
            float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text)
        )
        return timedelta(seconds=total) if total > 0 else None
    if re.fullmatch(r"[+-]?[0-9]+", text) and int(text) > 0:
        return timedelta(seconds=int(text))
    return None


def format_go_duration(span: timedelta) -> str:
    """Go's time.Duration.String() (e.g. "5m0s", "1h0m0s", "2.5s", "300ms"), to microseconds."""
    nanos = (span.days * 86400 + span.seconds) * 10**9 + span.microseconds * 1000
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos == 0:
        return "0s"
    if nanos < 10**9:
        for unit, scale in (("ms", 10**6), ("\u00b5s", 10**3), ("ns", 1)):
            if nanos >= scale:
                return sign + _fraction(nanos, scale) + unit
    seconds, rest = divmod(nanos, 10**9)
    text = _fraction(seconds % 60 * 10**9 + rest, 10**9) + "s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes // 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _fraction(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")
