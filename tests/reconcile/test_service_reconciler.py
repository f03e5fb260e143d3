"""The pure RayService reconciler: clusters, Serve config, traffic and status, pass by pass."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rayplane.api.raycluster import RayClusterSpec, RayClusterStatus
from rayplane.api.rayservice import RayService
from rayplane.clients.serve_api import parse_serve_state
from rayplane.reconcile.conditions import find_condition
from rayplane.reconcile.events import messages
from rayplane.reconcile.gotime import (
    format_go_duration,
    parse_go_duration,
)
from rayplane.reconcile.hashing import (
    cluster_annotations,
    hash_without_replicas_and_workers_to_delete,
    only_worker_groups_appended,
    service_cluster_hash,
)
from rayplane.reconcile.kuberay import (
    HASH_ANNOTATION,
    KUBERAY_VERSION,
    KUBERAY_VERSION_ANNOTATION,
    NUM_WORKER_GROUPS_ANNOTATION,
    random_suffix,
)
from rayplane.reconcile.service import (
    ApplyServeConfig,
    CreateCluster,
    DeleteCluster,
    ObservedService,
    ObservedServiceCluster,
    Promote,
    RemoveServeEndpoint,
    ServiceOptions,
    ServicePlan,
    SwitchTraffic,
    UpdateCluster,
    head_serve_label,
    reconcile_service,
)
from rayplane.reconcile.service.model import (
    DELETE_OUTDATED,
    DELETE_SERVICE_DELETED,
    DELETE_SUSPEND,
    MSG_NO_ACTIVE,
    REQUEUE_IDLE_SECONDS,
    REQUEUE_SECONDS,
    ServeApp,
    ServeDeployment,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

SERVE_CONFIG = """\
applications:
  - name: fruit
    route_prefix: /fruit
    import_path: fruit.app:deployment_graph
    runtime_env:
      working_dir: "https://example.com/fruit.zip"
    deployments:
      - name: MangoStand
        num_replicas: 1
        user_config:
          price: 3
  - name: math
    route_prefix: /calc
    import_path: conditional_dag.serve_dag
"""
SERVE_CONFIG_V2 = SERVE_CONFIG.replace("price: 3", "price: 4")
APPS = ("fruit", "math")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def group(name: str = "small", **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "groupName": name,
        "replicas": 1,
        "minReplicas": 1,
        "maxReplicas": 5,
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-worker", "image": "ray:2.60.0"}]}},
    }
    doc.update(kw)
    return doc


def service(
    *,
    serve: str | None = SERVE_CONFIG,
    workers: list[dict[str, Any]] | None = None,
    image: str = "ray:2.60.0",
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    generation: int = 1,
    **spec: Any,
) -> RayService:
    """A RayService "demo" with one worker group "small"."""
    metadata: dict[str, Any] = {"name": "demo", "namespace": "default", "generation": generation}
    if annotations:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    body: dict[str, Any] = {
        "rayClusterConfig": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": image}]}},
            },
            "workerGroupSpecs": workers if workers is not None else [group()],
        },
        **spec,
    }
    if serve is not None:
        body["serveConfigV2"] = serve
    return RayService.model_validate(
        {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": metadata, "spec": body}
    )


def edit(svc: RayService, change: Any) -> RayService:
    """A user edit: *change* mutates the spec as wire JSON; generation goes up, status stays."""
    data = svc.model_dump(by_alias=True, exclude_unset=True, mode="json")
    change(data["spec"])
    data["metadata"]["generation"] = (svc.metadata.generation or 0) + 1
    data.pop("status", None)
    edited = RayService.model_validate(data)
    return edited.model_copy(update={"status": svc.status})


def cluster_status(head_ready: bool = True) -> RayClusterStatus:
    state = "True" if head_ready else "False"
    reason = "HeadPodRunningAndReady" if head_ready else "ContainersNotReady"
    return RayClusterStatus.model_validate(
        {
            "state": "ready" if head_ready else None,
            "conditions": [{"type": "HeadPodReady", "status": state, "reason": reason}],
        }
    )


def apps(status: str = "RUNNING", names: tuple[str, ...] = APPS) -> dict[str, ServeApp]:
    dep_status = "HEALTHY" if status == "RUNNING" else "UPDATING"
    return {
        name: ServeApp(status, "", {f"{name}-dep": ServeDeployment(dep_status, "")})
        for name in names
    }


def observed_cluster(
    svc: RayService,
    name: str,
    *,
    head_ready: bool = True,
    serve_apps: dict[str, ServeApp] | None = None,
    cached: str | None = SERVE_CONFIG,
    endpoints: int = 1,
    spec: RayClusterSpec | None = None,
    **kw: Any,
) -> ObservedServiceCluster:
    """A cluster built from *spec* (default: svc's), its head ready and both apps RUNNING."""
    built_from = spec if spec is not None else svc.spec.ray_cluster_config
    kw.setdefault("annotations", cluster_annotations(built_from, KUBERAY_VERSION))
    return ObservedServiceCluster(
        name=name,
        status=cluster_status(head_ready),
        serve_apps=apps() if serve_apps is None else serve_apps,
        cached_serve_config=cached,
        worker_serve_endpoints=endpoints,
        **kw,
    )


def run(
    svc: RayService,
    observed: ObservedService | None = None,
    now: datetime = T0,
    suffix: str = "aaaaa",
    **kw: Any,
) -> ServicePlan:
    return reconcile_service(svc, observed or ObservedService(), now, lambda: suffix, **kw)


def with_status(svc: RayService, p: ServicePlan) -> RayService:
    return svc.model_copy(update={"status": p.status})


def of(p: ServicePlan, kind: type) -> list[Any]:
    return [a for a in p.actions if isinstance(a, kind)]


def cond(p: ServicePlan, type_: str) -> tuple[str, str] | None:
    found = find_condition(p.status.conditions, type_)
    return None if found is None else (found.status, found.reason)


def names(p: ServicePlan) -> tuple[str | None, str | None]:
    active = p.status.active_service_status
    pending = p.status.pending_service_status
    return (
        active.ray_cluster_name if active else None,
        pending.ray_cluster_name if pending else None,
    )


# -- a fake runtime ------------------------------------------------------------------------------


@dataclass
class FakeCluster:
    spec: RayClusterSpec
    annotations: dict[str, str]
    head_ready: bool = False
    apps: dict[str, str] | None = None  # app -> status; None: Serve never started
    cached: str | None = None
    endpoints: int = 0
    head_proxy: bool = False
    deleting: bool = False
    serve_error: str | None = None
    updates: list[RayClusterSpec] = field(default_factory=list)


class FakeRuntime:
    """Carries plans out in memory: clusters, the serve endpoint, the cache, the deadlines."""

    def __init__(self, svc: RayService, options: ServiceOptions | None = None) -> None:
        self.svc = svc
        self.options = options
        self.clusters: dict[str, FakeCluster] = {}
        self.serving: str | None = None
        self.deadlines: dict[str, datetime] = {}
        self.now = T0
        self.suffixes = (f"{c}{c}{c}{c}{c}" for c in "abcdefghijklmnopqrstuvwxyz")
        self.puts: list[tuple[str, dict[str, Any]]] = []
        self.last: ServicePlan | None = None

    def observe(self) -> ObservedService:
        found = []
        for name, c in self.clusters.items():
            status = cluster_status(c.head_ready)
            serve_apps = None
            if c.head_ready:  # a real runtime queries Serve once the head is ready
                serve_apps = {app: ServeApp(s) for app, s in (c.apps or {}).items()}
            found.append(
                ObservedServiceCluster(
                    name=name,
                    deleting=c.deleting,
                    status=status,
                    annotations=dict(c.annotations),
                    serve_apps=serve_apps,
                    serve_error=c.serve_error,
                    worker_serve_endpoints=c.endpoints,
                    head_proxy_healthy=c.head_proxy,
                    cached_serve_config=c.cached,
                )
            )
        return ObservedService.of(
            self.svc, found, serving_cluster=self.serving, deletion_deadlines=self.deadlines
        )

    def step(self, seconds: float = 2) -> ServicePlan:
        self.now += timedelta(seconds=seconds)
        kw = {"options": self.options} if self.options else {}
        p = reconcile_service(self.svc, self.observe(), self.now, lambda: next(self.suffixes), **kw)
        for action in p.actions:
            if isinstance(action, CreateCluster):
                self.clusters.setdefault(
                    action.name, FakeCluster(action.spec, dict(action.annotations))
                )
            elif isinstance(action, UpdateCluster):
                c = self.clusters[action.name]
                c.spec, c.annotations = action.spec, dict(action.annotations)
                c.updates.append(action.spec)
            elif isinstance(action, DeleteCluster):
                self.clusters.pop(action.name, None)
            elif isinstance(action, ApplyServeConfig):
                c = self.clusters[action.cluster]
                c.apps = {app["name"]: "DEPLOYING" for app in action.config["applications"]}
                c.cached = action.config_yaml
                self.puts.append((action.cluster, action.config))
            elif isinstance(action, SwitchTraffic):
                self.serving = action.to_cluster
            elif isinstance(action, RemoveServeEndpoint):
                self.serving = None
        self.deadlines = dict(p.deletion_deadlines)
        self.svc = with_status(self.svc, p)
        self.last = p
        return p

    def boot(self, name: str, endpoints: int = 2) -> None:
        """The cluster's head becomes ready and its proxies answer."""
        c = self.clusters[name]
        c.head_ready, c.endpoints = True, endpoints

    def serve_running(self, name: str) -> None:
        c = self.clusters[name]
        assert c.apps is not None
        c.apps = dict.fromkeys(c.apps, "RUNNING")

    def edit(self, change: Any) -> None:
        self.svc = edit(self.svc, change)

    def bring_up(self) -> str:
        """From nothing to one active cluster serving traffic; returns its name."""
        self.step()
        (name,) = self.clusters
        self.boot(name)
        self.step()  # PUT the config
        self.serve_running(name)
        self.step()  # switch + promote
        assert self.serving == name
        return name


# -- first cluster --------------------------------------------------------------------------------


def test_new_service_names_and_creates_its_first_cluster() -> None:
    svc = service(labels={"team": "ml"}, annotations={"note": "x"})
    p = run(svc)
    assert names(p) == (None, "demo-aaaaa")
    (create,) = p.actions
    assert isinstance(create, CreateCluster)
    assert create.name == "demo-aaaaa"
    assert create.spec == svc.spec.ray_cluster_config
    assert create.labels == {
        "team": "ml",
        "ray.io/originated-from-cr-name": "demo",
        "ray.io/originated-from-crd": "RayService",
    }
    assert create.annotations == {
        "note": "x",
        HASH_ANNOTATION: service_cluster_hash(svc.spec.ray_cluster_config),
        NUM_WORKER_GROUPS_ANNOTATION: "1",
        KUBERAY_VERSION_ANNOTATION: KUBERAY_VERSION,
    }
    assert cond(p, "Ready") == ("False", "Initializing")
    assert cond(p, "UpgradeInProgress") == ("False", "Initializing")
    ready = find_condition(p.status.conditions, "Ready")
    assert ready is not None
    assert ready.message == "RayService is initializing"
    assert ready.observed_generation == 1
    assert p.status.service_status is None
    assert p.status.num_serve_endpoints == 0
    assert p.status.observed_generation == 1
    assert p.changed and p.status.last_update_time == iso(T0)
    assert p.requeue_after == REQUEUE_SECONDS


def test_pending_cluster_named_in_status_but_missing_is_created_again() -> None:
    svc = with_status(service(), run(service()))
    p = run(svc, ObservedService(), T0 + timedelta(seconds=2), suffix="zzzzz")
    assert [a.name for a in of(p, CreateCluster)] == ["demo-aaaaa"]
    assert names(p) == (None, "demo-aaaaa")


def test_serve_config_waits_for_head_pod_ready() -> None:
    rt = FakeRuntime(service())
    rt.step()
    p = rt.step()
    assert of(p, ApplyServeConfig) == []
    pending = p.status.pending_service_status
    assert pending is not None and pending.ray_cluster_status is not None
    assert pending.application_statuses is None


def test_serve_config_is_put_as_json_once_head_is_ready() -> None:
    rt = FakeRuntime(service())
    rt.step()
    rt.boot("demo-aaaaa")
    p = rt.step()
    (apply,) = of(p, ApplyServeConfig)
    assert apply.cluster == "demo-aaaaa"
    assert apply.config_yaml == SERVE_CONFIG
    assert apply.config["applications"][0] == {
        "name": "fruit",
        "route_prefix": "/fruit",
        "import_path": "fruit.app:deployment_graph",
        "runtime_env": {"working_dir": "https://example.com/fruit.zip"},
        "deployments": [{"name": "MangoStand", "num_replicas": 1, "user_config": {"price": 3}}],
    }
    # Cached now: while the apps deploy, no second PUT.
    p = rt.step()
    assert of(p, ApplyServeConfig) == []
    assert len(rt.puts) == 1
    pending = p.status.pending_service_status
    assert pending is not None and pending.application_statuses is not None
    assert {k: v.status for k, v in pending.application_statuses.items()} == {
        "fruit": "DEPLOYING",
        "math": "DEPLOYING",
    }
    assert of(p, SwitchTraffic) == []
    assert cond(p, "Ready") == ("False", "Initializing")


def test_serve_not_queried_yet_means_no_put() -> None:
    svc = with_status(service(), run(service()))
    c = observed_cluster(svc, "demo-aaaaa", cached=None)
    c = replace(c, serve_apps=None)
    p = run(svc, ObservedService(pending=c), T0 + timedelta(seconds=2))
    assert of(p, ApplyServeConfig) == []


def test_all_apps_running_switches_traffic_and_promotes() -> None:
    rt = FakeRuntime(service())
    rt.step()
    rt.boot("demo-aaaaa", endpoints=3)
    rt.step()
    rt.serve_running("demo-aaaaa")
    p = rt.step()
    assert [a for a in p.actions if isinstance(a, SwitchTraffic | Promote)] == [
        SwitchTraffic("demo-aaaaa"),
        Promote(None, "demo-aaaaa"),
    ]
    assert names(p) == ("demo-aaaaa", None)
    active = p.status.active_service_status
    assert active is not None and active.application_statuses is not None
    fruit = active.application_statuses["fruit"]
    assert fruit.status == "RUNNING"
    assert p.status.num_serve_endpoints == 3
    assert cond(p, "Ready") == ("True", "NonZeroServeEndpoints")
    assert cond(p, "UpgradeInProgress") == ("False", "NoPendingCluster")
    assert p.status.service_status == "Running"
    # Steady state: nothing to do, nothing to write.
    steady = rt.step()
    assert steady.actions == []
    assert not steady.changed
    assert steady.status.last_update_time == p.status.last_update_time


def test_running_apps_without_ready_proxies_stay_not_ready() -> None:
    rt = FakeRuntime(service())
    rt.step()
    rt.boot("demo-aaaaa", endpoints=0)
    rt.step()
    rt.serve_running("demo-aaaaa")
    p = rt.step()
    assert names(p) == ("demo-aaaaa", None)
    assert p.status.num_serve_endpoints == 0
    assert cond(p, "Ready") == ("False", "Initializing")
    assert cond(p, "UpgradeInProgress") == ("False", "NoPendingCluster")
    assert p.status.service_status is None


def test_one_app_not_running_blocks_the_switch() -> None:
    rt = FakeRuntime(service())
    rt.step()
    rt.boot("demo-aaaaa")
    rt.step()
    rt.clusters["demo-aaaaa"].apps = {"fruit": "RUNNING", "math": "DEPLOY_FAILED"}
    p = rt.step()
    assert of(p, SwitchTraffic) == [] and of(p, Promote) == []
    assert names(p) == (None, "demo-aaaaa")


def test_zero_apps_never_counts_as_ready() -> None:
    svc = with_status(service(), run(service()))
    c = observed_cluster(svc, "demo-aaaaa", serve_apps={})
    p = run(svc, ObservedService(pending=c), T0 + timedelta(seconds=2))
    assert of(p, SwitchTraffic) == []
    assert len(of(p, ApplyServeConfig)) == 1  # zero apps: PUT again even though cached


def test_unnamed_app_is_reported_as_default_with_deployments() -> None:
    svc = with_status(service(), run(service()))
    c = observed_cluster(
        svc,
        "demo-aaaaa",
        serve_apps={"": ServeApp("DEPLOYING", "", {"Model": ServeDeployment("UPDATING", "2/3")})},
    )
    p = run(svc, ObservedService(pending=c), T0 + timedelta(seconds=2))
    pending = p.status.pending_service_status
    assert pending is not None
    assert pending.model_dump(by_alias=True, exclude_none=True)["applicationStatuses"] == {
        "default": {
            "status": "DEPLOYING",
            "serveDeploymentStatuses": {"Model": {"status": "UPDATING", "message": "2/3"}},
        }
    }


def test_client_serve_state_feeds_the_reconciler_as_is() -> None:
    state = parse_serve_state(
        {
            "controller_info": {"node_id": "n1"},
            "proxies": {},
            "applications": {
                "fruit": {
                    "name": "fruit",
                    "status": "RUNNING",
                    "message": "",
                    "deployments": {"Mango": {"name": "Mango", "status": "HEALTHY", "message": ""}},
                }
            },
        }
    )
    svc = with_status(service(), run(service()))
    c = replace(observed_cluster(svc, "demo-aaaaa"), serve_apps=state.applications)
    p = run(svc, ObservedService(pending=c), T0 + timedelta(seconds=2))
    assert of(p, SwitchTraffic) == [SwitchTraffic("demo-aaaaa")]
    active = p.status.active_service_status
    assert active is not None and active.application_statuses is not None
    deps = active.application_statuses["fruit"].serve_deployment_statuses
    assert deps is not None and deps["Mango"].status == "HEALTHY"


# -- serving --------------------------------------------------------------------------------------


def test_endpoints_dropping_to_zero_and_coming_back() -> None:
    rt = FakeRuntime(service())
    name = rt.bring_up()
    rt.clusters[name].endpoints = 0
    p = rt.step()
    assert cond(p, "Ready") == ("False", "ZeroServeEndpoints")
    ready = find_condition(p.status.conditions, "Ready")
    assert ready is not None and ready.message == "Number of serve endpoints dropped to 0"
    assert p.status.service_status is None
    rt.clusters[name].endpoints = 1
    p = rt.step()
    assert cond(p, "Ready") == ("True", "NonZeroServeEndpoints")
    assert p.status.num_serve_endpoints == 1


def test_head_proxy_counts_unless_excluded() -> None:
    svc = with_status(service(), run(service()))
    c = replace(observed_cluster(svc, "demo-aaaaa", endpoints=2), head_proxy_healthy=True)
    p = run(svc, ObservedService(pending=c), T0 + timedelta(seconds=2))
    assert p.status.num_serve_endpoints == 3

    excluded = service(excludeHeadPodFromServeSvc=True)
    excluded = with_status(excluded, run(excluded))
    p = run(excluded, ObservedService(pending=c), T0 + timedelta(seconds=2))
    assert p.status.num_serve_endpoints == 2
    assert head_serve_label(excluded, proxy_healthy=True) == "false"
    assert head_serve_label(svc, proxy_healthy=True) == "true"
    assert head_serve_label(svc, proxy_healthy=False) == "false"


def test_lost_endpoint_is_pointed_back_at_the_ready_active_cluster() -> None:
    rt = FakeRuntime(service())
    name = rt.bring_up()
    rt.serving = None  # e.g. the runtime lost its port forwarder
    p = rt.step()
    assert p.actions == [SwitchTraffic(name)]
    assert names(p) == (name, None)


def test_head_restart_without_ft_reapplies_the_config() -> None:
    rt = FakeRuntime(service())
    name = rt.bring_up()
    rt.clusters[name].apps = {}  # Serve came back empty with the new head
    p = rt.step()
    (apply,) = of(p, ApplyServeConfig)
    assert apply.cluster == name
    assert "head Pod crashed" in " ".join(messages(p.events))


def test_serve_query_failure_keeps_previous_app_statuses_and_retries() -> None:
    rt = FakeRuntime(service())
    name = rt.bring_up()
    rt.clusters[name].serve_error = "ConnectError: connection refused"
    p = rt.step()
    assert p.error is not None and "connection refused" in p.error
    assert p.requeue_after == REQUEUE_SECONDS
    assert of(p, ApplyServeConfig) == []
    active = p.status.active_service_status
    assert active is not None and active.application_statuses is not None
    assert set(active.application_statuses) == set(APPS)
    assert cond(p, "Ready") == ("True", "NonZeroServeEndpoints")


def test_restarted_controller_with_empty_cache_puts_once_more() -> None:
    rt = FakeRuntime(service())
    name = rt.bring_up()
    rt.clusters[name].cached = None
    p = rt.step()
    assert [a.cluster for a in of(p, ApplyServeConfig)] == [name]


# -- upgrades ---------------------------------------------------------------------------------


def test_serve_config_change_is_applied_in_place() -> None:
    rt = FakeRuntime(service())
    name = rt.bring_up()
    rt.edit(lambda s: s.update(serveConfigV2=SERVE_CONFIG_V2))
    p = rt.step()
    assert of(p, CreateCluster) == []
    (apply,) = of(p, ApplyServeConfig)
    assert apply.cluster == name and apply.config_yaml == SERVE_CONFIG_V2
    assert apply.config["applications"][0]["deployments"][0]["user_config"] == {"price": 4}
    assert names(p) == (name, None)
    assert cond(p, "UpgradeInProgress") == ("False", "NoPendingCluster")
    assert p.status.observed_generation == 2


def _image(image: str) -> Any:
    def change(spec: dict[str, Any]) -> None:
        spec["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] = (
            image
        )

    return change


def test_cluster_change_builds_a_new_cluster_and_switches_when_ready() -> None:
    rt = FakeRuntime(service(rayClusterDeletionDelaySeconds=30))
    old = rt.bring_up()
    rt.edit(_image("ray:2.61.0"))
    p = rt.step()
    (create,) = of(p, CreateCluster)
    new = create.name
    assert new == "demo-bbbbb"
    assert names(p) == (old, new)
    assert cond(p, "UpgradeInProgress") == ("True", "BothActivePendingClustersExist")
    # The old cluster keeps serving meanwhile.
    assert rt.serving == old
    assert cond(p, "Ready") == ("True", "NonZeroServeEndpoints")

    p = rt.step()
    assert p.actions == []  # new cluster booting: nothing to PUT yet, no in-place update
    active = p.status.active_service_status
    assert active is not None and active.application_statuses is not None  # still shown

    rt.boot(new, endpoints=4)
    p = rt.step()
    assert [a.cluster for a in of(p, ApplyServeConfig)] == [new]
    rt.serve_running(new)
    switch_time = rt.now + timedelta(seconds=2)
    p = rt.step()
    assert [a for a in p.actions if isinstance(a, SwitchTraffic | Promote)] == [
        SwitchTraffic(new),
        Promote(old, new),
    ]
    assert names(p) == (new, None)
    assert p.status.num_serve_endpoints == 4
    assert cond(p, "UpgradeInProgress") == ("False", "NoPendingCluster")
    # The old cluster is scheduled, not deleted yet.
    assert of(p, DeleteCluster) == []
    assert p.deletion_deadlines == {old: switch_time + timedelta(seconds=30)}

    p = rt.step(seconds=20)
    assert of(p, DeleteCluster) == []
    assert p.deletion_deadlines == {old: switch_time + timedelta(seconds=30)}
    p = rt.step(seconds=10)
    assert of(p, DeleteCluster) == [DeleteCluster(old, DELETE_OUTDATED)]
    p = rt.step()
    assert p.deletion_deadlines == {}
    assert set(rt.clusters) == {new}


def test_cluster_and_serve_change_together_only_touch_the_new_cluster() -> None:
    rt = FakeRuntime(service())
    old = rt.bring_up()
    rt.edit(_image("ray:2.61.0"))
    rt.edit(lambda s: s.update(serveConfigV2=SERVE_CONFIG_V2))
    p = rt.step()
    assert of(p, ApplyServeConfig) == []  # the old cluster keeps its config
    rt.boot("demo-bbbbb")
    p = rt.step()
    assert [(a.cluster, a.config_yaml) for a in of(p, ApplyServeConfig)] == [
        ("demo-bbbbb", SERVE_CONFIG_V2)
    ]
    assert rt.clusters[old].cached == SERVE_CONFIG


def test_zero_deletion_delay_deletes_the_old_cluster_on_the_switch_pass() -> None:
    rt = FakeRuntime(service(rayClusterDeletionDelaySeconds=0))
    old = rt.bring_up()
    rt.edit(_image("ray:2.61.0"))
    rt.step()
    rt.boot("demo-bbbbb")
    rt.step()
    rt.serve_running("demo-bbbbb")
    p = rt.step()
    assert of(p, DeleteCluster) == [DeleteCluster(old, DELETE_OUTDATED)]


def test_orphan_already_deleting_is_not_deleted_again() -> None:
    svc = service()
    past = T0 - timedelta(minutes=5)
    orphan = replace(observed_cluster(svc, "demo-old"), deleting=True)
    p = run(svc, ObservedService(others=(orphan,), deletion_deadlines={"demo-old": past}))
    assert of(p, DeleteCluster) == []
    assert "demo-old" not in p.deletion_deadlines


def test_deadline_survives_a_controller_restart() -> None:
    svc = service()
    deadline = T0 + timedelta(seconds=40)
    orphan = observed_cluster(svc, "demo-old")
    observed = ObservedService(others=(orphan,), deletion_deadlines={"demo-old": deadline})
    p = run(svc, observed)
    assert p.deletion_deadlines["demo-old"] == deadline
    assert of(p, DeleteCluster) == []
    p = run(svc, observed, now=deadline)
    assert of(p, DeleteCluster) == [DeleteCluster("demo-old", DELETE_OUTDATED)]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda g: g.update(replicas=4), id="replicas"),
        pytest.param(lambda g: g.update(minReplicas=0, maxReplicas=9), id="min-max"),
        pytest.param(
            lambda g: g.update(scaleStrategy={"workersToDelete": ["demo-small-x"]}),
            id="workersToDelete",
        ),
        pytest.param(
            lambda g: g["template"]["spec"].update(
                tolerations=[{"key": "gpu", "operator": "Exists"}]
            ),
            id="tolerations",
        ),
        pytest.param(
            lambda g: g["template"]["spec"].update(schedulingGates=[{"name": "kueue"}]),
            id="schedulingGates",
        ),
    ],
)
def test_autoscaler_and_admission_edits_change_nothing(change: Any) -> None:
    rt = FakeRuntime(service())
    rt.bring_up()
    rt.edit(lambda s: change(s["rayClusterConfig"]["workerGroupSpecs"][0]))
    p = rt.step()
    assert p.actions == []
    assert cond(p, "UpgradeInProgress") == ("False", "NoPendingCluster")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c: c.update(suspend=True), id="cluster-suspend"),
        pytest.param(
            lambda c: c.update(upgradeStrategy={"type": "Recreate"}), id="upgradeStrategy"
        ),
        pytest.param(
            lambda c: c["headGroupSpec"]["template"]["spec"].update(
                tolerations=[{"key": "a", "operator": "Exists"}], schedulingGates=[{"name": "g"}]
            ),
            id="head-tolerations",
        ),
    ],
)
def test_cluster_level_muted_fields_change_nothing(change: Any) -> None:
    rt = FakeRuntime(service())
    rt.bring_up()
    rt.edit(lambda s: change(s["rayClusterConfig"]))
    assert rt.step().actions == []


def test_upgrade_strategy_none_never_replaces_the_cluster() -> None:
    rt = FakeRuntime(service(upgradeStrategy={"type": "None"}))
    name = rt.bring_up()
    rt.edit(_image("ray:2.61.0"))
    p = rt.step()
    assert p.actions == []
    assert names(p) == (name, None)
    # Serve config changes still go in place.
    rt.edit(lambda s: s.update(serveConfigV2=SERVE_CONFIG_V2))
    p = rt.step()
    assert [a.cluster for a in of(p, ApplyServeConfig)] == [name]
    assert of(p, CreateCluster) == []


def test_zero_downtime_disabled_by_the_operator_unless_the_spec_asks() -> None:
    off = ServiceOptions(zero_downtime=False)
    rt = FakeRuntime(service(), options=off)
    rt.bring_up()
    rt.edit(_image("ray:2.61.0"))
    assert of(rt.step(), CreateCluster) == []

    rt = FakeRuntime(service(upgradeStrategy={"type": "NewCluster"}), options=off)
    rt.bring_up()
    rt.edit(_image("ray:2.61.0"))
    assert len(of(rt.step(), CreateCluster)) == 1


def test_appended_worker_group_updates_the_active_cluster_in_place() -> None:
    rt = FakeRuntime(service())
    name = rt.bring_up()
    rt.edit(lambda s: s["rayClusterConfig"]["workerGroupSpecs"].append(group("gpu")))
    p = rt.step()
    (update,) = of(p, UpdateCluster)
    assert update.name == name
    assert [g.group_name for g in update.spec.worker_group_specs] == ["small", "gpu"]
    assert update.annotations[NUM_WORKER_GROUPS_ANNOTATION] == "2"
    assert update.annotations[HASH_ANNOTATION] == service_cluster_hash(update.spec)
    assert of(p, CreateCluster) == []
    assert names(p) == (name, None)
    assert rt.step().actions == []  # the cluster now carries the new hash


def test_changed_existing_group_with_appended_group_builds_a_new_cluster() -> None:
    rt = FakeRuntime(service())
    rt.bring_up()

    def change(spec: dict[str, Any]) -> None:
        groups = spec["rayClusterConfig"]["workerGroupSpecs"]
        groups[0]["rayStartParams"] = {"num-cpus": "2"}
        groups.append(group("gpu"))

    rt.edit(change)
    p = rt.step()
    assert of(p, UpdateCluster) == []
    assert len(of(p, CreateCluster)) == 1


def test_removed_worker_group_builds_a_new_cluster() -> None:
    rt = FakeRuntime(service(workers=[group("a"), group("b")]))
    rt.bring_up()
    rt.edit(lambda s: s["rayClusterConfig"]["workerGroupSpecs"].pop())
    assert len(of(rt.step(), CreateCluster)) == 1


def test_appended_group_during_an_upgrade_updates_only_the_pending_cluster() -> None:
    rt = FakeRuntime(service())
    old = rt.bring_up()
    rt.edit(_image("ray:2.61.0"))
    rt.step()
    rt.edit(lambda s: s["rayClusterConfig"]["workerGroupSpecs"].append(group("gpu")))
    p = rt.step()
    assert [a.name for a in of(p, UpdateCluster)] == ["demo-bbbbb"]
    assert rt.clusters[old].updates == []


def test_other_kuberay_version_updates_the_active_cluster() -> None:
    svc = service()
    svc = with_status(svc, run(svc))
    c = observed_cluster(svc, "demo-aaaaa")
    active_svc = with_status(svc, run(svc, ObservedService(pending=c), T0 + timedelta(seconds=2)))
    annotations = {**c.annotations, KUBERAY_VERSION_ANNOTATION: "v1.4.2"}
    old = replace(c, annotations=annotations)
    p = run(active_svc, ObservedService(active=old, serving_cluster="demo-aaaaa"))
    (update,) = of(p, UpdateCluster)
    assert update.annotations[KUBERAY_VERSION_ANNOTATION] == KUBERAY_VERSION
    assert of(p, CreateCluster) == []


def test_another_change_during_an_upgrade_replaces_the_pending_cluster() -> None:
    rt = FakeRuntime(service())
    old = rt.bring_up()
    rt.edit(_image("ray:2.61.0"))
    rt.step()
    rt.edit(_image("ray:2.62.0"))
    p = rt.step()
    assert [a.name for a in of(p, CreateCluster)] == ["demo-ccccc"]
    assert names(p) == (old, "demo-ccccc")
    assert set(p.deletion_deadlines) == {"demo-bbbbb"}


def test_lost_active_cluster_is_rebuilt() -> None:
    rt = FakeRuntime(service())
    old = rt.bring_up()
    del rt.clusters[old]
    p = rt.step()
    assert [a.name for a in of(p, CreateCluster)] == ["demo-bbbbb"]
    assert names(p) == (old, "demo-bbbbb")
    assert p.status.num_serve_endpoints == 0
    assert cond(p, "Ready") == ("False", "ZeroServeEndpoints")


def test_observed_service_of_sorts_clusters_by_status_names() -> None:
    rt = FakeRuntime(service())
    old = rt.bring_up()
    rt.edit(_image("ray:2.61.0"))
    rt.step()
    rt.clusters["demo-zzzzz"] = FakeCluster(RayClusterSpec(), {})
    observed = rt.observe()
    assert observed.active is not None and observed.active.name == old
    assert observed.pending is not None and observed.pending.name == "demo-bbbbb"
    assert [c.name for c in observed.others] == ["demo-zzzzz"]
    assert set(observed.existing()) == {old, "demo-bbbbb", "demo-zzzzz"}


# -- validation, suspend, timeout, deletion -------------------------------------------------------


def test_invalid_spec_sets_validation_failed_and_does_nothing() -> None:
    svc = service(rayClusterDeletionDelaySeconds=-1)
    p = run(svc)
    assert p.actions == []
    assert cond(p, "Ready") == ("False", "ValidationFailed")
    ready = find_condition(p.status.conditions, "Ready")
    assert ready is not None
    assert ready.message.startswith("The RayService spec is invalid: ")
    assert "rayClusterDeletionDelaySeconds" in ready.message
    assert p.requeue_after == REQUEUE_IDLE_SECONDS


def test_invalid_serve_config_yaml_is_a_validation_failure() -> None:
    p = run(service(serve="applications: [unclosed"))
    assert cond(p, "Ready") == ("False", "ValidationFailed")
    assert p.actions == []


def test_managed_by_another_controller_is_left_alone() -> None:
    svc = service(managedBy="kueue.x-k8s.io/multikueue")
    p = run(svc)
    assert p.actions == [] and not p.changed
    assert p.status.conditions is None


def test_suspend_stages_then_deletes_then_suspends_then_resumes() -> None:
    rt = FakeRuntime(service())
    rt.bring_up()
    rt.edit(lambda s: s.update(suspend=True))

    staged = rt.step()
    assert staged.actions == []  # deletion waits until Suspending is stored
    assert cond(staged, "Suspending") == ("True", "SuspendRequested")
    assert cond(staged, "Ready") == ("False", "SuspendInProgress")
    assert cond(staged, "UpgradeInProgress") == ("False", "SuspendInProgress")
    assert cond(staged, "RollbackInProgress") == ("False", "SuspendInProgress")
    assert names(staged) == (None, None)
    assert staged.status.num_serve_endpoints == 0
    assert staged.status.service_status is None

    deleting = rt.step()
    assert deleting.actions == [
        DeleteCluster("demo-aaaaa", DELETE_SUSPEND),
        RemoveServeEndpoint(),
    ]
    assert cond(deleting, "Suspending") == ("True", "SuspendInProgress")

    done = rt.step()
    assert done.actions == []
    assert cond(done, "Suspending") == ("False", "SuspendComplete")
    assert cond(done, "Suspended") == ("True", "SuspendComplete")
    assert cond(done, "Ready") == ("False", "SuspendComplete")
    ready = find_condition(done.status.conditions, "Ready")
    assert ready is not None and ready.message == "RayService is suspended."

    still = rt.step()
    assert still.actions == [] and not still.changed
    assert still.requeue_after == REQUEUE_IDLE_SECONDS

    rt.edit(lambda s: s.update(suspend=False))
    resume_time = rt.now + timedelta(seconds=2)
    resumed = rt.step()
    assert cond(resumed, "Suspended") == ("False", "RayServiceResumed")
    assert cond(resumed, "Ready") == ("False", "Initializing")
    ready = find_condition(resumed.status.conditions, "Ready")
    assert ready is not None
    assert ready.message == "RayService is initializing after resuming from suspend."
    assert ready.last_transition_time == iso(resume_time)
    assert [a.name for a in of(resumed, CreateCluster)] == ["demo-bbbbb"]
    assert names(resumed) == (None, "demo-bbbbb")
    assert cond(resumed, "UpgradeInProgress") == ("False", "Initializing")


def test_suspend_completes_even_if_unsuspended_midway() -> None:
    rt = FakeRuntime(service())
    rt.bring_up()
    rt.edit(lambda s: s.update(suspend=True))
    rt.step()
    rt.edit(lambda s: s.update(suspend=False))
    p = rt.step()
    assert of(p, DeleteCluster) == [DeleteCluster("demo-aaaaa", DELETE_SUSPEND)]
    p = rt.step()
    assert cond(p, "Suspended") == ("True", "SuspendComplete")
    p = rt.step()
    assert cond(p, "Suspended") == ("False", "RayServiceResumed")
    assert len(of(p, CreateCluster)) == 1


def test_suspend_waits_for_clusters_still_terminating() -> None:
    rt = FakeRuntime(service())
    rt.bring_up()
    rt.edit(lambda s: s.update(suspend=True))
    rt.step()
    rt.step()
    rt.clusters["demo-aaaaa"] = FakeCluster(RayClusterSpec(), {}, deleting=True)
    p = rt.step()
    assert p.actions == []  # not asked to go twice
    assert cond(p, "Suspending") == ("True", "SuspendInProgress")


def test_initializing_timeout_is_terminal_and_cleans_up() -> None:
    rt = FakeRuntime(service(annotations={"ray.io/initializing-timeout": "5m"}))
    rt.step()
    rt.boot("demo-aaaaa")
    start = find_condition(rt.svc.status.conditions if rt.svc.status else None, "Ready")
    assert start is not None and start.last_transition_time == iso(T0 + timedelta(seconds=2))
    p = rt.step(seconds=299)  # 4m59s after the first pass
    assert cond(p, "Ready") == ("False", "Initializing")
    p = rt.step(seconds=1)
    assert cond(p, "Ready") == ("False", "InitializingTimeout")
    ready = find_condition(p.status.conditions, "Ready")
    assert ready is not None
    assert ready.message == (
        "RayService failed to become ready within the configured timeout of 5m0s. "
        "Time spent initializing: 5m0s"
    )
    assert names(p) == (None, None)
    assert cond(p, "UpgradeInProgress") == ("False", "Initializing")
    assert set(p.deletion_deadlines) == {"demo-aaaaa"}

    # Terminal: later passes only clean up, even when the cluster would now be ready.
    rt.serve_running("demo-aaaaa")
    p = rt.step()
    assert p.actions == []
    p = rt.step(seconds=60)
    assert p.actions == [DeleteCluster("demo-aaaaa", DELETE_OUTDATED)]
    p = rt.step()
    assert p.actions == [] and p.requeue_after == REQUEUE_IDLE_SECONDS
    assert cond(p, "Ready") == ("False", "InitializingTimeout")


def test_initializing_timeout_does_not_fire_once_ready() -> None:
    rt = FakeRuntime(service(annotations={"ray.io/initializing-timeout": "30"}))
    rt.bring_up()
    rt.clusters["demo-aaaaa"].endpoints = 0
    p = rt.step(seconds=600)
    assert cond(p, "Ready") == ("False", "ZeroServeEndpoints")


def test_service_being_deleted_deletes_every_cluster_now() -> None:
    rt = FakeRuntime(service())
    rt.bring_up()
    meta = rt.svc.metadata.model_copy(update={"deletion_timestamp": iso(T0)})
    rt.svc = rt.svc.model_copy(update={"metadata": meta})
    p = rt.step()
    assert p.actions == [
        DeleteCluster("demo-aaaaa", DELETE_SERVICE_DELETED),
        RemoveServeEndpoint(),
    ]
    assert not p.finalized
    p = rt.step()
    assert p.actions == [] and p.finalized


def test_condition_times_and_generations() -> None:
    rt = FakeRuntime(service())
    name = rt.bring_up()
    ready = find_condition(rt.svc.status.conditions if rt.svc.status else None, "Ready")
    assert ready is not None
    became_ready = ready.last_transition_time
    rt.edit(lambda s: s.update(serveConfigV2=SERVE_CONFIG_V2))
    p = rt.step()
    ready = find_condition(p.status.conditions, "Ready")
    assert ready is not None
    assert ready.last_transition_time == became_ready
    assert ready.observed_generation == 2
    assert [c.type for c in p.status.conditions or []] == ["Ready", "UpgradeInProgress"]
    assert names(p) == (name, None)


def test_no_active_cluster_outside_initialization_is_unknown() -> None:
    svc = service()
    status = run(svc).status.model_copy(deep=True)
    conditions = [
        c.model_copy(update={"reason": "NonZeroServeEndpoints"})
        if c.type == "UpgradeInProgress"
        else c
        for c in status.conditions or []
    ]
    svc = svc.model_copy(update={"status": status.model_copy(update={"conditions": conditions})})
    p = run(svc, ObservedService(pending=observed_cluster(svc, "demo-aaaaa", head_ready=False)))
    upgrade = find_condition(p.status.conditions, "UpgradeInProgress")
    assert upgrade is not None
    assert (upgrade.status, upgrade.reason, upgrade.message) == (
        "Unknown",
        "NoActiveCluster",
        MSG_NO_ACTIVE,
    )


def test_empty_serve_config_is_not_put() -> None:
    svc = with_status(service(serve=None), run(service(serve=None)))
    c = observed_cluster(svc, "demo-aaaaa", serve_apps={}, cached=None)
    p = run(svc, ObservedService(pending=c), T0 + timedelta(seconds=2))
    assert of(p, ApplyServeConfig) == []


# -- hashing ---------------------------------------------------------------------------------------


def _spec(**kw: Any) -> RayClusterSpec:
    return service(**kw).spec.ray_cluster_config


def test_hash_format_and_stability() -> None:
    digest = hash_without_replicas_and_workers_to_delete(_spec())
    assert len(digest) == 32
    assert set(digest) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUV")
    assert digest == hash_without_replicas_and_workers_to_delete(_spec())


def test_hash_ignores_explicit_defaults_but_sees_real_changes() -> None:
    base = _spec()
    explicit = _spec(workers=[group(numOfHosts=1)])
    assert service_cluster_hash(base) == service_cluster_hash(explicit)
    assert service_cluster_hash(base) != service_cluster_hash(_spec(image="ray:2.61.0"))
    assert service_cluster_hash(base) != service_cluster_hash(_spec(workers=[group(suspend=True)]))
    assert service_cluster_hash(base) != service_cluster_hash(_spec(workers=[group(numOfHosts=2)]))


def test_suspend_is_muted_only_for_the_service_hash() -> None:
    base = _spec()
    suspended = base.model_copy(update={"suspend": True})
    assert service_cluster_hash(base) == service_cluster_hash(suspended)
    assert hash_without_replicas_and_workers_to_delete(
        base
    ) != hash_without_replicas_and_workers_to_delete(suspended)


def test_hashing_does_not_mutate_the_spec() -> None:
    spec = _spec(workers=[group(scaleStrategy={"workersToDelete": ["x"]})])
    before = copy.deepcopy(spec.model_dump())
    service_cluster_hash(spec)
    assert spec.model_dump() == before


def test_only_worker_groups_appended() -> None:
    one = _spec()
    annotations = cluster_annotations(one, KUBERAY_VERSION)
    two = _spec(workers=[group(), group("gpu")])
    assert only_worker_groups_appended(two, annotations)
    assert only_worker_groups_appended(one, annotations)  # same spec: trivially
    changed_first = _spec(workers=[group(rayStartParams={"num-cpus": "1"}), group("gpu")])
    assert not only_worker_groups_appended(changed_first, annotations)
    assert not only_worker_groups_appended(_spec(workers=[]), annotations)
    # KubeRay: an unreadable count means "update in place".
    assert only_worker_groups_appended(two, {HASH_ANNOTATION: "x"})
    assert only_worker_groups_appended(two, {**annotations, NUM_WORKER_GROUPS_ANNOTATION: "?"})


# -- Go durations, names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300),
        ("1h30m", 5400),
        ("90s", 90),
        ("1.5h", 5400),
        ("+2m", 120),
        ("120", 120),
        ("500ms", 0.5),
        ("", None),
        ("0", None),
        ("0s", None),
        ("-5m", None),
        ("-10", None),
        ("5 minutes", None),
        ("m", None),
    ],
)
def test_parse_go_duration(text: str, seconds: float | None) -> None:
    parsed = parse_go_duration(text)
    assert (parsed.total_seconds() if parsed is not None else None) == seconds


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=300), "5m0s"),
        (timedelta(hours=1), "1h0m0s"),
        (timedelta(seconds=90, milliseconds=500), "1m30.5s"),
        (timedelta(seconds=59, microseconds=123456), "59.123456s"),
        (timedelta(milliseconds=300), "300ms"),
        (timedelta(microseconds=1500), "1.5ms"),
        (timedelta(microseconds=7), "7\u00b5s"),
        (timedelta(hours=26, minutes=3, seconds=4), "26h3m4s"),
        (-timedelta(seconds=2), "-2s"),
    ],
)
def test_format_go_duration(span: timedelta, text: str) -> None:
    assert format_go_duration(span) == text


def test_random_suffix_uses_kubernetes_alphabet() -> None:
    suffixes = {random_suffix() for _ in range(50)}
    assert all(len(s) == 5 and set(s) <= set("bcdfghjklmnpqrstvwxz2456789") for s in suffixes)
    assert len(suffixes) > 1


def test_fake_runtime_names_are_predictable() -> None:
    counter = itertools.count()
    svc = service()
    p = reconcile_service(svc, ObservedService(), T0, lambda: f"n{next(counter):04d}")
    assert names(p) == (None, "demo-n0000")
