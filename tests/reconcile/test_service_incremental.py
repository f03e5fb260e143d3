"""NewClusterWithIncrementalUpgrade through the pure RayService reconciler, pass by pass."""

from __future__ import annotations

from typing import Any

from rayplane.reconcile.service import ApplyServeConfig, RouteTraffic, ServicePlan
from tests.reconcile.test_service_reconciler import FakeRuntime, cond, group, of, service

OPTIONS = {
    "maxSurgePercent": 100,
    "stepSizePercent": 50,
    "intervalSeconds": 2,
    "gatewayClassName": "istio",
}


def incremental_service(**options: Any) -> Any:
    svc = service(
        rayClusterDeletionDelaySeconds=0,
        upgradeStrategy={
            "type": "NewClusterWithIncrementalUpgrade",
            "clusterUpgradeOptions": {**OPTIONS, **options},
        },
    )
    svc.spec.ray_cluster_config.enable_in_tree_autoscaling = True
    return svc


class Recorder(FakeRuntime):
    """The fake runtime, also keeping each pass's traffic split and the capacities PUT."""

    def __init__(self, svc: Any) -> None:
        super().__init__(svc)
        self.splits: list[tuple[tuple[str, int], ...]] = []

    def step(self, seconds: float = 2) -> ServicePlan:
        for c in self.clusters.values():  # Serve finishes deploying between passes
            if c.head_ready and c.apps:
                c.apps = dict.fromkeys(c.apps, "RUNNING")
        p = super().step(seconds)
        for route in of(p, RouteTraffic):
            if not self.splits or self.splits[-1] != route.weights:
                self.splits.append(route.weights)
        return p


def upgrade(rt: Recorder) -> str:
    """Edit the cluster spec and bring the new cluster's head up; returns its name."""
    rt.edit(lambda spec: spec["rayClusterConfig"]["workerGroupSpecs"].append(group("extra")))
    rt.edit(
        lambda spec: spec["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][
            0
        ].update(image="ray:2.61.0")
    )
    rt.step()
    new = rt.svc.status.pending_service_status.ray_cluster_name  # type: ignore[union-attr]
    assert new
    rt.boot(new)
    return new


def test_traffic_moves_in_steps_and_the_old_cluster_goes_last() -> None:
    rt = Recorder(incremental_service())
    old = rt.bring_up()
    new = upgrade(rt)
    assert cond(rt.last, "UpgradeInProgress") == ("True", "BothActivePendingClustersExist")  # type: ignore[arg-type]
    for _ in range(30):
        rt.step()
        assert rt.serving in (old, new)
        active = rt.svc.status.active_service_status  # type: ignore[union-attr]
        if active and active.ray_cluster_name == new:
            break
    else:
        raise AssertionError(f"never promoted; splits {rt.splits}")
    assert rt.serving == new
    assert [tuple(w for _, w in s) for s in rt.splits] == [
        (100,),
        (100, 0),
        (50, 50),
        (0, 100),
        (100,),
    ]
    assert [s[0][0] for s in rt.splits] == [old, old, old, old, new]
    capacities = [
        (c, cfg.get("target_capacity"))
        for c, cfg in rt.puts
        if c != old or "target_capacity" in cfg
    ]
    # the new cluster starts at 0 and is raised by maxSurge, the old one drops to 0 last
    assert capacities[-3:] == [(new, 0), (new, 100), (old, 0)]
    status = rt.svc.status.active_service_status  # type: ignore[union-attr]
    assert status.target_capacity == 100 and status.traffic_routed_percent == 100
    rt.step()
    assert old not in rt.clusters  # deleted after rayClusterDeletionDelaySeconds (0)


def test_traffic_never_moves_to_a_new_cluster_whose_apps_are_not_running() -> None:
    rt = Recorder(incremental_service())
    rt.bring_up()
    new = upgrade(rt)
    rt.clusters[new].apps = None  # Serve never comes up there
    for _ in range(10):
        rt.step()
        rt.clusters[new].apps = {}
    assert rt.splits[-1][-1] == (new, 0)
    assert cond(rt.last, "UpgradeInProgress")[0] == "True"  # type: ignore[arg-type,index]


def test_reverting_the_spec_mid_upgrade_rolls_traffic_back() -> None:
    rt = Recorder(incremental_service(stepSizePercent=25))
    old = rt.bring_up()
    original = rt.svc
    new = upgrade(rt)
    while len(rt.splits[-1]) < 2 or rt.splits[-1][1][1] < 50:
        rt.step()
    rt.edit(lambda spec: spec.update(original.model_dump(by_alias=True, mode="json")["spec"]))
    rt.step()
    assert cond(rt.last, "RollbackInProgress") == ("True", "DesiredClusterSpecChanged")  # type: ignore[arg-type]
    for _ in range(30):
        rt.step()
        if not rt.svc.status.pending_service_status.ray_cluster_name:  # type: ignore[union-attr]
            break
    shares = [s[0][1] for s in rt.splits]
    peak = shares.index(min(shares))
    assert shares[peak:] == sorted(shares[peak:])  # only back towards the old cluster
    assert rt.splits[-1] == ((old, 100),)
    assert rt.svc.status.active_service_status.ray_cluster_name == old  # type: ignore[union-attr]
    assert cond(rt.last, "UpgradeInProgress") == ("False", "NoPendingCluster")  # type: ignore[arg-type]
    assert cond(rt.last, "RollbackInProgress") is None
    assert rt.svc.status.pending_service_status.application_statuses is None  # type: ignore[union-attr]
    for _ in range(3):
        rt.step()
    assert set(rt.clusters) == {old}  # the new one is deleted, and no other is built
    assert new not in rt.clusters


def test_the_first_config_put_and_a_capacity_change_are_never_in_one_pass() -> None:
    rt = Recorder(incremental_service())
    rt.bring_up()
    new = upgrade(rt)
    for _ in range(10):
        p = rt.step()
        puts = [a.cluster for a in of(p, ApplyServeConfig)]
        assert len(puts) == len(set(puts)), p.actions
    assert [c for c, cfg in rt.puts if c == new][:2] == [new, new]
    first, second = [cfg["target_capacity"] for c, cfg in rt.puts if c == new][:2]
    assert (first, second) == (0, 100)
