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
* NewClusterWithIncrementalUpgrade follows KubeRay's steps (:mod:`.incremental`): the
  pending cluster's Serve ``target_capacity`` and the traffic split (:class:`RouteTraffic`)
  move pass by pass, the endpoint stays on the active cluster until the split is complete,
  and a reverted or changed spec rolls back (RollbackInProgress). Differences: traffic does
  not move in the pass that changed a capacity, and only to a pending cluster whose Serve
  reports the capacity asked; the pending cluster keeps its worker ``replicas`` (KubeRay
  clears them so that the autoscaler sizes it from ``target_capacity``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from rayplane.api.common import Condition
from rayplane.api.loading import LoadError, parse_text
from rayplane.api.rayservice import AppStatus, RayService, RayServiceStatus, ServiceClusterStatus
from rayplane.api.validation import validate_object
from rayplane.reconcile import events as reasons
from rayplane.reconcile.conditions import (
    FALSE,
    TRUE,
    find_condition,
    is_true,
    remove_condition,
    set_condition,
)
from rayplane.reconcile.events import Event
from rayplane.reconcile.gotime import (
    format_go_duration,
    format_time,
    parse_go_duration,
    parse_time,
    utc,
)
from rayplane.reconcile.hashing import (
    cluster_annotations,
    only_worker_groups_appended,
    service_cluster_hash,
)
from rayplane.reconcile.kuberay import (
    HASH_ANNOTATION,
    INITIALIZING_TIMEOUT_ANNOTATION,
    KUBERAY_MANAGER,
    KUBERAY_VERSION_ANNOTATION,
    ORIGINATED_FROM_CR_NAME,
    ORIGINATED_FROM_CRD,
)
from rayplane.reconcile.service import incremental
from rayplane.reconcile.service.failures import ServeFailure, serve_failures
from rayplane.reconcile.service.model import (
    APP_RUNNING,
    BOTH_ACTIVE_PENDING_CLUSTERS_EXIST,
    DELETE_OUTDATED,
    DELETE_SERVICE_DELETED,
    DELETE_SUSPEND,
    DESIRED_CLUSTER_SPEC_CHANGED,
    INITIALIZING,
    INITIALIZING_TIMEOUT,
    MSG_BOTH,
    MSG_INITIALIZING,
    MSG_NO_ACTIVE,
    MSG_NO_PENDING,
    MSG_NO_ROLLBACK,
    MSG_NO_UPGRADE,
    MSG_NON_ZERO,
    MSG_RESUME_INITIALIZING,
    MSG_RESUMED,
    MSG_ROLLBACK_CHANGED,
    MSG_ROLLBACK_COMPLETE,
    MSG_ROLLBACK_REVERTED,
    MSG_SUSPEND_COMPLETE,
    MSG_SUSPEND_REQUESTED,
    MSG_SUSPEND_WAITING,
    MSG_SUSPENDED_READY,
    MSG_SUSPENDING_READY,
    MSG_ZERO,
    NO_ACTIVE_CLUSTER,
    NO_PENDING_CLUSTER,
    NON_ZERO_SERVE_ENDPOINTS,
    READY,
    REQUEUE_IDLE_SECONDS,
    REQUEUE_SECONDS,
    RESUMED,
    ROLLBACK_IN_PROGRESS,
    RUNNING,
    SUSPEND_COMPLETE,
    SUSPEND_IN_PROGRESS,
    SUSPEND_REQUESTED,
    SUSPENDED,
    SUSPENDING,
    UNKNOWN,
    UPGRADE_IN_PROGRESS,
    VALIDATION_FAILED,
    ZERO_SERVE_ENDPOINTS,
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
)
from rayplane.reconcile.service.options import ServiceOptions
from rayplane.reconcile.service.status import (
    app_statuses,
    comparable,
    copy_cluster_status,
    why_submit,
    with_cluster,
)

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
        self.events: list[Event] = []
        self.error: str | None = None
        self.serve_failures: tuple[ServeFailure, ...] = ()
        self.requeue = REQUEUE_SECONDS
        # The status under construction.
        prev = self.previous
        self.conditions: list[Condition] = list(prev.conditions or [])
        self.generation = prev.observed_generation
        self.active = copy_cluster_status(prev.active_service_status)
        self.pending = copy_cluster_status(prev.pending_service_status)
        self.endpoints = prev.num_serve_endpoints
        self.service_status = prev.service_status

    # -- driver ---------------------------------------------------------------------------

    def run(self) -> ServicePlan:
        managed_by = self.spec.managed_by
        if managed_by is not None and managed_by != KUBERAY_MANAGER:
            self.note(
                reasons.MANAGED_ELSEWHERE, f"Skipping: the RayService is managed by {managed_by}"
            )
            return self.plan(REQUEUE_IDLE_SECONDS, deadlines=dict(self.observed.deletion_deadlines))
        if self.svc.metadata.deletion_timestamp:
            return self.deleting()

        report = validate_object(self.svc, self.options.gates)
        if report.errors:
            message = "The RayService spec is invalid: " + "; ".join(map(str, report.errors))
            self.set(READY, FALSE, VALIDATION_FAILED, message)
            self.events.append(Event.warning(reasons.INVALID_RAY_SERVICE_SPEC, message))
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

        # Incremental upgrade: both clusters serve; a reverted spec rolls back.
        gradual = self.incremental_options()
        upgrading = (
            gradual is not None
            and is_true(self.previous.conditions, UPGRADE_IN_PROGRESS)
            and active is not None
            and pending is not None
        )
        if upgrading:
            assert active is not None and pending is not None
            self.rollback_state(active, pending)
        rolling_back = upgrading and is_true(self.conditions, ROLLBACK_IN_PROGRESS)

        # Serve: the pending cluster, else the active one unless it is about to be replaced.
        pending_ready = active_ready = False
        pending_apps: dict[str, AppStatus] | None = None
        active_apps: dict[str, AppStatus] | None = None
        if pending is not None:
            pending_ready, pending_apps = self.reconcile_serve(pending, apply=not rolling_back)
        if active is not None:
            if upgrading:
                active_ready, active_apps = self.reconcile_serve(active, apply=rolling_back)
            elif pending is None and not self.should_prepare(active, None, serving_pending=False):
                active_ready, active_apps = self.reconcile_serve(active)
            else:
                active_apps = self.observed_apps(active)

        promote_now = False
        if upgrading and gradual is not None:
            assert active is not None and pending is not None
            promote_now, rolled_back = self.incremental_step(
                gradual, active, pending, pending_ready
            )
            if rolled_back:
                pending, pending_apps = None, None  # dropped: the deletion rule removes it
            # The endpoint stays on the active cluster; the split moves traffic.
            target = active if (active_ready or pending_ready) else None
        else:
            # Traffic goes to the pending cluster once ready, else to a ready active one.
            target = pending if pending_ready else active if active_ready else None
        if promote_now and pending is not None:
            target = pending
        serving = self.observed.serving_cluster
        if target is not None and serving != target.name:
            self.actions.append(SwitchTraffic(target.name))
            self.note(reasons.SWITCHED_TRAFFIC, f"Switching traffic to RayCluster {target.name}")
            serving = target.name

        # Status of both clusters, then promotion.
        self.generation = self.svc.metadata.generation
        self.active = with_cluster(self.active, active, active_apps)
        self.pending = with_cluster(self.pending, pending, pending_apps)
        serving_pending = False
        if target is not None:
            serving_pending = bool(pending_name) and target.name == pending_name
            if target.name != active_name:
                self.actions.append(Promote(active_name or None, target.name))
                self.note(
                    reasons.PROMOTED_RAY_CLUSTER, f"Promoted RayCluster {target.name} to active"
                )
                self.active = self.pending
                self.pending = ServiceClusterStatus()

        prepared: str | None = None
        if self.should_prepare(active, pending, serving_pending=serving_pending):
            prepared = f"{self.svc.name}-{self.rand()}"
            self.pending = ServiceClusterStatus(ray_cluster_name=prepared)
            if gradual is not None:
                # A first cluster serves at full capacity at once; an upgrade's starts at 0.
                first = not self.active.ray_cluster_name
                self.pending.target_capacity = 100 if first else 0
            self.note(
                reasons.PREPARING_RAY_CLUSTER, f"Preparing a new pending RayCluster {prepared}"
            )
        if gradual is not None:
            self.route_traffic()

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
        self.note(reasons.CREATED_RAY_CLUSTER, f"Creating RayCluster {name}")
        return annotations

    def update_cluster(self, cluster: ObservedServiceCluster, role: str) -> ObservedServiceCluster:
        labels, annotations = self.goal_metadata()
        spec = self.spec.ray_cluster_config.model_copy(deep=True)
        self.actions.append(UpdateCluster(cluster.name, spec, labels, annotations))
        self.note(
            reasons.UPDATED_RAY_CLUSTER, f"Updating the {role} RayCluster {cluster.name} in place"
        )
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
        if is_true(self.conditions, ROLLBACK_IN_PROGRESS):
            return False  # the rollback finishes before anything new is built
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
        return app_statuses(cluster.serve_apps)

    def previous_apps(self, name: str) -> dict[str, AppStatus] | None:
        for status in (self.previous.active_service_status, self.previous.pending_service_status):
            if status is not None and status.ray_cluster_name == name:
                return dict(status.application_statuses or {}) or None
        return None

    def reconcile_serve(
        self, cluster: ObservedServiceCluster, *, apply: bool = True
    ) -> tuple[bool, dict[str, AppStatus] | None]:
        """KubeRay's reconcileServe: (ready for traffic, application statuses).

        *apply* False reads only: during an incremental upgrade the active cluster keeps its
        config (and during a rollback, the pending one).
        """
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
        reason = why_submit(cluster.cached_serve_config or "", wanted, apps)
        if reason is None:
            # Only the apps of the config the spec wants can have failed it; apps about to be
            # replaced by a PUT this pass say nothing about the new config.
            self.serve_failures = serve_failures(cluster.name, apps)
        if reason is not None and apply:
            if not wanted:
                self.note(
                    reasons.SERVE_CONFIG_EMPTY,
                    f"Not applying Serve config to {cluster.name}: serveConfigV2 is empty",
                )
            else:
                config = self.parse_serve_config(wanted)
                if config is not None:
                    capacity = self.target_capacity_of(cluster.name)
                    if capacity is not None:
                        config["target_capacity"] = capacity
                    self.actions.append(ApplyServeConfig(cluster.name, config, wanted))
                    self.note(
                        reasons.UPDATED_SERVE_APPLICATIONS,
                        f"Applying Serve config to RayCluster {cluster.name}: {reason}",
                    )
        return ready, app_statuses(apps)

    # -- incremental upgrade ------------------------------------------------------------------

    def incremental_options(self) -> incremental.UpgradeOptions | None:
        """The options when this service upgrades incrementally (type and gate), else None."""
        strategy = self.spec.upgrade_strategy
        if strategy is None or strategy.type != "NewClusterWithIncrementalUpgrade":
            return None
        if not self.options.gates.RayServiceIncrementalUpgrade:
            return None
        return incremental.UpgradeOptions.of(strategy.cluster_upgrade_options)

    def target_capacity_of(self, name: str) -> int | None:
        """The ``target_capacity`` status holds for cluster *name* (PUT with its config)."""
        if self.incremental_options() is None:
            return None
        for status in (self.active, self.pending):
            if status.ray_cluster_name == name:
                return status.target_capacity
        return None

    def rollback_state(
        self, active: ObservedServiceCluster, pending: ObservedServiceCluster
    ) -> None:
        """KubeRay's reconcileRollbackState: a spec back at the active cluster's, or at a
        third one, rolls back; a spec at the pending cluster's resumes the upgrade."""
        goal = service_cluster_hash(self.spec.ray_cluster_config)
        rolling_back = is_true(self.conditions, ROLLBACK_IN_PROGRESS)
        if goal == active.annotations.get(HASH_ANNOTATION):
            message = MSG_ROLLBACK_REVERTED
        elif goal == pending.annotations.get(HASH_ANNOTATION):
            if rolling_back:
                self.conditions = remove_condition(self.conditions, ROLLBACK_IN_PROGRESS)
                self.note(reasons.UPGRADE_RESUMED, "The spec matches the pending cluster again")
            return
        else:
            message = MSG_ROLLBACK_CHANGED
        if not rolling_back:
            self.set(ROLLBACK_IN_PROGRESS, TRUE, DESIRED_CLUSTER_SPEC_CHANGED, message)
            self.note(reasons.ROLLBACK_STARTED, message)

    def incremental_step(
        self,
        options: incremental.UpgradeOptions,
        active: ObservedServiceCluster,
        pending: ObservedServiceCluster,
        pending_ready: bool,
    ) -> tuple[bool, bool]:
        """Move capacity or traffic one step; (promote the pending cluster, rollback done)."""
        rolling_back = is_true(self.conditions, ROLLBACK_IN_PROGRESS)
        progress = incremental.Progress(
            active=_side(self.active, 100),
            pending=_side(self.pending, 0),
            rolling_back=rolling_back,
        )
        at_capacity = pending.serve_target_capacity is None or round(
            pending.serve_target_capacity
        ) == (self.pending.target_capacity or 0)
        out = incremental.step(
            progress,
            options,
            utc(self.now),
            pending_ready=pending_ready and at_capacity,
            pending_head_ready=pending.head_ready,
        )
        if out.capacity is not None:
            cluster = active if out.capacity.role == "active" else pending
            if not self.put_capacity(cluster, out.capacity.goal):
                return False, False  # retried next pass; nothing else moves meanwhile
            status = self.active if out.capacity.role == "active" else self.pending
            status.target_capacity = out.capacity.goal
        self.set_weights(out.active_weight, out.pending_weight)
        if out.rollback_done:
            self.pending = ServiceClusterStatus()
            self.conditions = remove_condition(self.conditions, ROLLBACK_IN_PROGRESS)
            self.set(UPGRADE_IN_PROGRESS, FALSE, NO_PENDING_CLUSTER, MSG_ROLLBACK_COMPLETE)
            self.note(reasons.ROLLBACK_COMPLETE, MSG_ROLLBACK_COMPLETE)
        return out.promote, out.rollback_done

    def put_capacity(self, cluster: ObservedServiceCluster, goal: int) -> bool:
        """KubeRay's applyServeTargetCapacity: PUT the config with the new capacity."""
        if not cluster.head_ready or cluster.serve_apps is None or cluster.serve_error:
            return False
        if not cluster.cached_serve_config or any(
            isinstance(a, ApplyServeConfig) and a.cluster == cluster.name for a in self.actions
        ):
            return False  # its config goes first, alone; the capacity moves on a later pass
        wanted = cluster.cached_serve_config or self.spec.serve_config_v2 or ""
        config = self.parse_serve_config(wanted) if wanted else None
        if config is None:
            return False
        config["target_capacity"] = goal
        self.actions.append(ApplyServeConfig(cluster.name, config, wanted))
        self.note(
            reasons.UPDATED_SERVE_TARGET_CAPACITY,
            f"Setting target_capacity of RayCluster {cluster.name} to {goal}",
        )
        return True

    def set_weights(self, active_weight: int, pending_weight: int) -> None:
        """Record the split as KubeRay reads it back from its HTTPRoute."""
        stamp = format_time(self.now)
        if self.active.traffic_routed_percent != active_weight:
            self.active.traffic_routed_percent = active_weight
            self.active.last_traffic_migrated_time = stamp
        if self.pending.ray_cluster_name and self.pending.traffic_routed_percent != pending_weight:
            self.pending.traffic_routed_percent = pending_weight
            self.pending.last_traffic_migrated_time = stamp

    def route_traffic(self) -> None:
        """The split after this pass, for the Gateway's HTTPRoute or the local endpoint."""
        active = self.active.ray_cluster_name
        if not active or active not in self.clusters:
            return
        if self.active.traffic_routed_percent is None:
            self.set_weights(100, 0)
        weights = [(active, self.active.traffic_routed_percent or 0)]
        pending = self.pending.ray_cluster_name
        if pending and pending in self.clusters:
            weights.append((pending, self.pending.traffic_routed_percent or 0))
        elif weights[0][1] != 100:
            weights = [(active, 100)]
            self.set_weights(100, 0)
        self.actions.append(RouteTraffic(tuple(weights)))

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
        since = parse_time(ready.last_transition_time)
        if since is None:
            return
        spent = utc(self.now) - since
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
            Event.warning(
                reasons.RAY_SERVICE_INITIALIZING_TIMEOUT,
                f"RayService initializing timeout exceeded after "
                f"{format_go_duration(spent)} (configured timeout: "
                f"{format_go_duration(timeout)})",
            )
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
            self.note(reasons.RESUMED, "Resuming from suspend")
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
            self.note(
                reasons.SUSPENDING, "Suspending: every RayCluster of the service will be deleted"
            )
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
        self.note(reasons.SUSPENDED, "Suspended: every RayCluster of the service is gone")
        return True

    def delete_everything(self, reason: str) -> bool:
        """Delete every cluster and the endpoint; True while any of them still exists."""
        for name, cluster in sorted(self.clusters.items()):
            if not cluster.deleting:
                self.actions.append(DeleteCluster(name, reason))
                self.note(reasons.DELETED_RAY_CLUSTER, f"Deleting RayCluster {name} ({reason})")
        if self.observed.serving_cluster is not None:
            self.actions.append(RemoveServeEndpoint())
            self.note(reasons.REMOVED_SERVE_ENDPOINT, "Removing the serve endpoint")
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

    def note(self, reason: str, message: str) -> None:
        self.events.append(Event.normal(reason, message))

    def fail(self, message: str) -> None:
        self.events.append(Event.warning(reasons.RECONCILE_ERROR, message))
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
                deadline = utc(self.now) + delay
                self.note(
                    reasons.SCHEDULED_RAY_CLUSTER_DELETION,
                    f"Scheduled RayCluster {name} for deletion at {format_time(deadline)}",
                )
            deadlines[name] = deadline
            if utc(self.now) >= utc(deadline):
                self.actions.append(DeleteCluster(name, DELETE_OUTDATED))
                self.note(
                    reasons.DELETED_RAY_CLUSTER,
                    f"Deleting RayCluster {name}: neither active nor pending",
                )
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
        changed = comparable(status) != comparable(self.previous)
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
            serve_failures=self.serve_failures,
        )


def _side(status: ServiceClusterStatus, default: int) -> incremental.Side:
    """KubeRay's ptr.Deref defaults: active 100 %, pending 0 %."""
    return incremental.Side(
        target_capacity=default if status.target_capacity is None else status.target_capacity,
        traffic_routed_percent=(
            default if status.traffic_routed_percent is None else status.traffic_routed_percent
        ),
        last_traffic_migrated_time=parse_time(status.last_traffic_migrated_time),
    )
