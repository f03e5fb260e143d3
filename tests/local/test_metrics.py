"""The local runtime's metrics: /metrics series, Prometheus targets and config, dashboards.

No Ray here: the store holds what the reconcilers would have written, and a head's service
discovery file is written as Ray writes it. The real-Ray path is tests/e2e/test_local_metrics.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rayplane.clients.state_api import (
    cluster_load,
    count_by_node,
    cpus_held,
    parse_nodes,
    pending_demand,
)
from rayplane.local import dashboards, prometheus
from rayplane.local.metrics import LocalMetrics
from rayplane.local.store import Store, StoredNode
from rayplane.reconcile.dashboards import DASHBOARDS
from tests.support import ROOT

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")
needs_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason="no prometheus")


def _cluster(store: Store, name: str, *, labels: dict[str, str] | None = None) -> str:
    body = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {},
    }
    return store.put("RayCluster", "default", name, body).uid


def _head(store: Store, uid: str, name: str, temp_dir: Path, pid: int | None = 1) -> None:
    store.add_node(
        StoredNode(
            name=name,
            cluster_uid=uid,
            group="headgroup",
            kind="head",
            pid=pid,
            create_time=time.time() if pid else None,
            ports={},
            temp_dir=str(temp_dir),
            log_path=str(temp_dir / "log"),
            created=time.time(),
        )
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home" / "state.db")
    yield s
    s.close()


# /metrics ------------------------------------------------------------------------------------


def _samples(metrics: LocalMetrics) -> str:
    return metrics.metrics.exposition().decode()


def test_kuberay_series_follow_the_store(store: Store) -> None:
    metrics = LocalMetrics(store)
    uid = _cluster(store, "rc", labels={"ray.io/originated-from-crd": "RayJob"})
    created = store.get_by_uid(uid)
    assert created is not None
    provisioned_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created.created + 42))
    store.set_status(
        uid,
        {
            "conditions": [
                {
                    "type": "RayClusterProvisioned",
                    "status": "True",
                    "lastTransitionTime": provisioned_at,
                }
            ]
        },
    )
    text = _samples(metrics)
    assert 'kuberay_cluster_info{name="rc",namespace="default",owner_kind="RayJob"} 1.0' in text
    assert 'kuberay_cluster_condition_provisioned{condition="true",name="rc"' in text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("kuberay_cluster_provisioned_duration_seconds{")
    )
    assert 41 <= float(line.split()[-1]) <= 43

    store.remove(uid)
    text = _samples(metrics)
    assert 'name="rc"' not in text  # a deleted cluster's series go with it


def test_job_duration_and_status(store: Store) -> None:
    metrics = LocalMetrics(store)
    body = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j"}, "spec": {}}
    uid = store.put("RayJob", "ns1", "j", body).uid
    store.set_status(
        uid,
        {
            "jobDeploymentStatus": "Complete",
            "startTime": "2026-01-01T00:00:00Z",
            "endTime": "2026-01-01T00:01:30Z",
        },
    )
    text = _samples(metrics)
    assert (
        'kuberay_job_deployment_status{deployment_status="Complete",name="j",namespace="ns1"}'
        in (text)
    )
    assert (
        'kuberay_job_execution_duration_seconds{job_deployment_status="Complete",name="j",'
        'namespace="ns1",retry_count="0"} 90.0'
    ) in text


def test_events_and_reconciles_are_counted(store: Store) -> None:
    store.event("uid", "Old", "before this controller", "Warning")
    metrics = LocalMetrics(store)
    store.event("uid", "CrashLoop", "node died", "Warning")
    # The autoscaler is another process with its own connection to the store.
    child = Store(store.path)
    child.event("uid", "Autoscaler", "scaled workers to 2")
    child.close()
    store.event("uid", "CrashLoop", "node died again", "Warning")
    metrics.reconciled("RayCluster", 0.01, ok=False)
    text = _samples(metrics)
    assert 'rayplane_events_total{reason="CrashLoop",type="Warning"} 2.0' in text
    assert 'rayplane_events_total{reason="Autoscaler",type="Normal"} 1.0' in text
    assert 'reason="Old"' not in text
    assert 'reason="CrashLoop",type="Warning"} 2.0' in _samples(metrics)  # counted once
    assert 'controller_runtime_reconcile_total{controller="raycluster",result="error"} 1.0' in text


def test_metrics_listen_on_loopback_only(store: Store, tmp_path: Path) -> None:
    metrics = LocalMetrics(store)
    home = tmp_path / "home"
    address = metrics.serve(home)
    try:
        assert address.startswith("127.0.0.1:")
        assert (home / "controller.metrics").read_text().strip() == address
        reply = httpx.get(f"http://{address}/metrics", timeout=5)
        assert "controller_runtime_reconcile_total" in reply.text
    finally:
        metrics.close(home)
    assert not (home / "controller.metrics").exists()


# Prometheus targets and config ------------------------------------------------------------------


def _discovery(temp_dir: Path, targets: list[str]) -> None:
    session = temp_dir / "session_latest"
    session.mkdir(parents=True, exist_ok=True)
    content = [{"labels": {"job": "ray"}, "targets": targets}]
    (session / prometheus.SERVICE_DISCOVERY_FILE).write_text(json.dumps(content))


def test_targets_are_relabelled_per_cluster_and_removed_with_it(
    store: Store, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    prometheus.sync_targets(home, store)
    assert not prometheus.folder(home).exists()  # nothing until `metrics up`

    prometheus.folder(home).mkdir()
    a, b = _cluster(store, "a"), _cluster(store, "b")
    _head(store, a, "a-head", tmp_path / "ta")
    _head(store, b, "b-head", tmp_path / "tb")
    _discovery(tmp_path / "ta", ["127.0.0.1:1001", "127.0.0.1:1002"])
    _discovery(tmp_path / "tb", ["127.0.0.1:2001"])
    (home / "controller.metrics").write_text("127.0.0.1:3001\n")
    prometheus.sync_targets(home, store)

    targets = prometheus.folder(home) / "targets"
    written = json.loads((targets / "ray-default-a.json").read_text())
    assert written == [
        {
            "targets": ["127.0.0.1:1001", "127.0.0.1:1002"],
            "labels": {"job": "ray", "__meta_ray_io_cluster": "a", "__meta_namespace": "default"},
        }
    ]
    assert json.loads((targets / "controller.json").read_text())[0]["targets"] == ["127.0.0.1:3001"]

    store.mark_deleting("RayCluster", "default", "b")
    prometheus.sync_targets(home, store)
    assert sorted(p.name for p in targets.glob("*.json")) == [
        "controller.json",
        "ray-default-a.json",
    ]


def test_a_half_written_discovery_file_keeps_the_last_targets(store: Store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    prometheus.folder(home).mkdir(parents=True)
    uid = _cluster(store, "a")
    _head(store, uid, "a-head", tmp_path / "ta")
    _discovery(tmp_path / "ta", ["127.0.0.1:1001"])
    prometheus.sync_targets(home, store)
    (tmp_path / "ta" / "session_latest" / prometheus.SERVICE_DISCOVERY_FILE).write_text('[{"lab')
    prometheus.sync_targets(home, store)
    kept = prometheus.folder(home) / "targets" / "ray-default-a.json"
    assert json.loads(kept.read_text())[0]["targets"] == ["127.0.0.1:1001"]


@needs_promtool
def test_the_config_is_valid_for_prometheus(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (prometheus.folder(home) / "targets").mkdir(parents=True)
    config = prometheus.folder(home) / "prometheus.yml"
    config.write_text(prometheus.render_config(home, 2.0))
    result = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    parsed = yaml.safe_load(config.read_text())
    ray_job = next(j for j in parsed["scrape_configs"] if j["job_name"] == "ray")
    assert {"source_labels": ["__meta_ray_io_cluster"], "target_label": "ray_io_cluster"} in (
        ray_job["relabel_configs"]
    )


def test_heads_point_their_dashboard_at_the_homes_prometheus(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert prometheus.dashboard_env(home, {}) == {}  # no Prometheus ever: Ray's default
    prometheus.folder(home).mkdir(parents=True)
    (prometheus.folder(home) / "port").write_text("19090\n")
    assert prometheus.dashboard_env(home, {}) == {"RAY_PROMETHEUS_HOST": "http://127.0.0.1:19090"}
    mine = {"RAY_PROMETHEUS_HOST": "http://prom.example:9090"}
    assert prometheus.dashboard_env(home, mine) == {}  # the container's env wins


# the Prometheus process ---------------------------------------------------------------------------


@needs_prometheus
def test_down_stops_only_the_process_up_started(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        found = prometheus.up(home, port=0, scrape_interval_s=5)
        assert prometheus.running(home) == found
        assert httpx.get(f"{found.url}/-/ready", timeout=5).status_code == 200
        stopped = prometheus.down(home)
        assert stopped == found
        assert prometheus.running(home) is None
        assert bystander.poll() is None
        assert prometheus.down(home) is None  # twice is fine
    finally:
        bystander.kill()
        bystander.wait()


@needs_prometheus
def test_down_never_signals_a_reused_pid(tmp_path: Path) -> None:
    home = tmp_path / "home"
    prometheus.folder(home).mkdir(parents=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # The recorded Prometheus died and its PID now names another process.
        state = {"pid": bystander.pid, "create_time": 1.0, "port": 1}
        (prometheus.folder(home) / "process.json").write_text(json.dumps(state))
        assert prometheus.down(home) is None
        time.sleep(0.2)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_up_without_the_binary_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(prometheus.PrometheusError, match="apt-get install prometheus"):
        prometheus.up(tmp_path / "home")


# dashboards -------------------------------------------------------------------------------------


def _datasource_uses(dashboard: dict[str, Any]) -> set[str]:
    uses = set()
    for panel in dashboard.get("panels") or []:
        source = panel.get("datasource")
        uid = source.get("uid") if isinstance(source, dict) else source
        if uid:
            uses.add(str(uid))
    return uses


def test_exported_dashboards_are_grafana_json_with_their_datasource(tmp_path: Path) -> None:
    written, origin = dashboards.export([], tmp_path / "out")
    assert "generated by the installed Ray" in origin
    names = {p.relative_to(tmp_path / "out").as_posix() for p in written}
    assert {f"rayplane/{n}" for n in DASHBOARDS} <= names
    assert "ray/default_grafana_dashboard.json" in names
    for path in written:
        assert dashboards.check(path) == [], path
        dashboard = json.loads(path.read_text())
        variables = dashboards.datasource_variables(dashboard)
        # every panel reads through the datasource variable, so importing asks for one
        assert _datasource_uses(dashboard) <= {f"${{{v}}}" for v in variables} | {
            f"${v}" for v in variables
        }, path
    ray_default = json.loads((tmp_path / "out/ray/default_grafana_dashboard.json").read_text())
    cluster_var = next(v for v in ray_default["templating"]["list"] if v["name"] == "Cluster")
    assert "ray_io_cluster" in json.dumps(cluster_var)  # what our relabelling fills in


def test_dashboards_are_copied_from_a_running_head(tmp_path: Path) -> None:
    source = tmp_path / "t" / dashboards.RAY_DASHBOARDS
    source.mkdir(parents=True)
    (source / "default_grafana_dashboard.json").write_text(
        json.dumps({"panels": [], "templating": {"list": [{"name": "d", "type": "datasource"}]}})
    )
    written, origin = dashboards.export([("default/a", tmp_path / "t")], tmp_path / "out")
    assert "default/a" in origin
    assert (tmp_path / "out/ray/default_grafana_dashboard.json") in written
    broken = tmp_path / "broken.json"
    broken.write_text('{"panels": [')
    assert dashboards.check(broken)


# `top`'s reader -----------------------------------------------------------------------------------


def test_node_rows_from_the_dashboard_summary() -> None:
    data = {
        "summary": [
            {"raylet": {"nodeId": "w1", "instanceId": "rc-worker-x", "nodeTypeName": "wg",
                        "state": "ALIVE", "objectStoreUsedMemory": 10,
                        "objectStoreAvailableMemory": 90}},
            {"raylet": {"nodeId": "h", "instanceId": "rc-head-y", "nodeTypeName": "headgroup",
                        "isHeadNode": True, "state": "ALIVE"}},
        ],
        "nodeLogicalResources": {"w1": "1.5/2.0 CPU\n1.00GiB/4.00GiB memory\n0B/80MiB x"},
    }  # fmt: skip
    rows = parse_nodes(data)
    assert [r.name for r in rows] == ["rc-head-y", "rc-worker-x"]  # the head first
    worker = rows[1]
    assert (worker.cpu_used, worker.cpu_total, worker.memory) == (1.5, 2.0, "1.00GiB/4.00GiB")
    assert (worker.object_store_used, worker.object_store_total) == (10, 100)
    assert rows[0].cpu_used is None  # unknown stays unknown, not 0


def test_state_counts_and_pending_demand() -> None:
    listed = {"result": {"result": [{"node_id": "a"}, {"node_id": "a"}, {"node_id": "b"}]}}
    assert count_by_node(listed) == {"a": 2, "b": 1}
    tasks = {"result": {"result": [
        {"node_id": "a", "type": "NORMAL_TASK", "required_resources": {"CPU": 1.0}},
        {"node_id": "a", "type": "ACTOR_TASK", "required_resources": {"CPU": 1.0}},
    ]}}  # fmt: skip
    actors = {"result": {"result": [{"node_id": "b", "required_resources": {"CPU": 0.5}}]}}
    assert cpus_held(tasks, actors) == {"a": 1.0, "b": 0.5}  # an actor's call holds nothing more
    report = (
        "Resources\n---\nTotal Usage:\n 1.0/1.0 CPU\n\nPending Demands:\n"
        " {'CPU': 0.5}: 2+ pending tasks/actors\n {'GPU': 1.0}: 1+ pending tasks/actors\n"
    )
    assert pending_demand(report) == [
        "{'CPU': 0.5}: 2+ pending tasks/actors",
        "{'GPU': 1.0}: 1+ pending tasks/actors",
    ]
    assert pending_demand("Pending Demands:\n (no resource demands)\n") == []


# deploy/ for the operator -------------------------------------------------------------------------


@needs_promtool
def test_the_gcs_prometheus_rules_load(tmp_path: Path) -> None:
    rule = yaml.safe_load((ROOT / "deploy/prometheus/prometheusrule-gcs.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    plain = tmp_path / "rules.yml"
    plain.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run(
        ["promtool", "check", "rules", str(plain)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {r.get("alert") for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "MissingMetricRayGlobalControlStore" in alerts


def test_pod_monitors_relabel_the_cluster_as_kuberay_does() -> None:
    for name in ("podmonitor-ray-head.yaml", "podmonitor-ray-workers.yaml"):
        monitor = yaml.safe_load((ROOT / "deploy/prometheus" / name).read_text())
        endpoint = monitor["spec"]["podMetricsEndpoints"][0]
        assert endpoint["port"] == "metrics"  # the port name the operator's Pods carry
        relabel = endpoint["relabelings"][0]
        assert relabel["sourceLabels"] == ["__meta_kubernetes_pod_label_ray_io_cluster"]
        assert relabel["targetLabel"] == "ray_io_cluster"


def test_top_reader_survives_a_failing_state_api() -> None:
    summary = {
        "result": True,
        "data": {
            "summary": [{"raylet": {"nodeId": "h", "instanceId": "rc-head", "isHeadNode": True}}],
            "nodeLogicalResources": {"h": "1.0/2.0 CPU\n0B/1.00GiB memory"},
        },
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/nodes":
            return httpx.Response(200, json=summary)
        if request.url.path.startswith("/api/v0/"):
            return httpx.Response(500, text="state API timed out")
        status = "Pending Demands:\n {'CPU': 4.0}: 1+ pending tasks/actors\n"
        return httpx.Response(200, json={"result": True, "data": {"clusterStatus": status}})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        load = cluster_load(client, "http://dashboard")
    (node,) = load.nodes
    assert (node.name, node.cpu_used, node.running_tasks, node.alive_actors) == (
        "rc-head",
        1.0,
        None,  # unknown, not a misleading 0
        None,
    )
    assert load.pending_demand == ["{'CPU': 4.0}: 1+ pending tasks/actors"]
    assert any("state API" in p for p in load.problems)
