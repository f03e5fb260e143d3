"""`render` and `rayplane render`: every object the operator would create, schema-valid.

Each case renders a resource and checks (1) every object against the Kubernetes 1.31
OpenAPI schemas (kubernetes-validate, strict) or, for ray.io objects, rayplane's CRD
schema and validation; (2) what was rendered: which objects, with which names, owners,
labels and counts.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from rayplane.api.validation import validate
from rayplane.cli.render_cmd import render_cmd
from rayplane.kubernetes.builders import BuildError, BuildOptions
from rayplane.kubernetes.builders.names import SUFFIX_ALPHABET
from rayplane.kubernetes.render import is_cleanup_job, render
from tests.kubernetes import (
    IMAGE,
    assert_valid,
    by_kind,
    cluster_spec,
    env_of,
    head_group,
    load_resource,
    raycluster,
    rayjob,
    rayservice_from_seed,
    worker_group,
)
from tests.support import EXAMPLES, example


def rendered(raw: dict[str, Any], gates: str = "", **options: Any) -> list[dict[str, Any]]:
    objects = render(load_resource(raw, gates), BuildOptions(**options))
    assert_valid(objects)
    return objects


def inventory(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


def labels(obj: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = obj["metadata"].get("labels") or {}
    return out


def pods_of(objects: list[dict[str, Any]], node_type: str) -> list[dict[str, Any]]:
    return [o for o in by_kind(objects, "Pod") if labels(o)["ray.io/node-type"] == node_type]


def suffix_of(name: str, prefix: str) -> str:
    assert name.startswith(prefix), (name, prefix)
    suffix = name[len(prefix) :]
    assert len(suffix) == 5 and set(suffix) <= set(SUFFIX_ALPHABET), name
    return suffix


# -- the seed examples --------------------------------------------------------------------------


def test_seed_raycluster() -> None:
    objects = rendered(example("raycluster-basic.yaml"))
    names = inventory(objects)
    # The head template names its ServiceAccount (raydata): bound, not created.
    assert names[:3] == [
        "Role/raycluster-basic",
        "RoleBinding/raycluster-basic",
        "Service/raycluster-basic-head-svc",
    ]
    (head,) = pods_of(objects, "head")
    suffix_of(head["metadata"]["name"], "raycluster-basic-head-")
    assert head["metadata"]["namespace"] == "raydata"
    assert head["spec"]["serviceAccountName"] == "raydata"
    assert [c["name"] for c in head["spec"]["containers"]] == ["ray-head", "autoscaler"]
    start = env_of(head["spec"]["containers"][0])["KUBERAY_GEN_RAY_START_CMD"]
    assert start == (
        "ray start --head  --block  --dashboard-agent-listen-port=52365  "
        "--dashboard-host=0.0.0.0  --memory=4294967296  --metrics-export-port=8080  "
        "--no-monitor  --num-cpus=2 "
    )
    # rayVersion 2.47.1 predates the unified health endpoint: exec probes.
    assert "exec" in head["spec"]["containers"][0]["readinessProbe"]
    worker_pods = pods_of(objects, "worker")
    assert len(worker_pods) == 2  # replicas 2 within [1, 10]
    assert len({p["metadata"]["name"] for p in worker_pods}) == 2
    for pod in worker_pods:
        suffix_of(pod["metadata"]["name"], "raycluster-basic-workers-worker-")
        assert pod["spec"]["serviceAccountName"] == "raydata"
        assert pod["spec"]["initContainers"][0]["name"] == "wait-gcs-ready"
        env = env_of(pod["spec"]["containers"][0])
        assert env["RAY_ADDRESS"] == "raycluster-basic-head-svc.raydata.svc.cluster.local:6379"
    assert [labels(p)["ray.io/worker-group-replica-index"] for p in worker_pods] == ["0", "1"]
    assert not any(is_cleanup_job(o) for o in objects)


def test_seed_rayservice_with_ft() -> None:
    objects = rendered(rayservice_from_seed())
    names = inventory(objects)
    cluster_name = names[0].removeprefix("RayCluster/")
    suffix_of(cluster_name, "mistral-")
    assert names == [
        f"RayCluster/{cluster_name}",
        f"Service/{cluster_name}-head-svc",
        names[2],
        names[3],
        f"Job/{cluster_name}-redis-cleanup",
        "Service/mistral-head-svc",
        "Service/mistral-serve-svc",
    ]
    rc = objects[0]
    assert rc["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    assert rc["metadata"]["ownerReferences"][0]["kind"] == "RayService"
    head, worker = by_kind(objects, "Pod")
    assert head["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    head_env = env_of(head["spec"]["containers"][0])
    assert head_env["RAY_REDIS_ADDRESS"] == "redis.mistral.svc.cluster.local:6379"
    assert head_env["RAY_external_storage_namespace"] == rc_uid(objects)
    assert "--num-cpus=0" in head_env["KUBERAY_GEN_RAY_START_CMD"]
    assert labels(head)["ray.io/serve"] == "false" and labels(worker)["ray.io/serve"] == "true"
    worker_env = env_of(worker["spec"]["containers"][0])
    assert worker_env["RAY_gcs_rpc_server_reconnect_timeout_s"] == "600"
    assert "--num-gpus=1" in worker_env["KUBERAY_GEN_RAY_START_CMD"]
    assert worker["spec"]["containers"][0]["readinessProbe"]["failureThreshold"] == 1
    serve = objects[-1]
    assert serve["spec"]["selector"] == {"ray.io/cluster": cluster_name, "ray.io/serve": "true"}


def rc_uid(objects: list[dict[str, Any]]) -> str:
    uid: str = objects[1]["metadata"]["ownerReferences"][0]["uid"]
    return uid


def test_seed_rayjob_completed() -> None:
    raw = example("rayjob-pod-identity.yaml")
    raw["spec"]["entrypoint"] = "python /app/job.py"
    spec = raw["spec"]["rayClusterSpec"]
    spec["headGroupSpec"]["template"]["spec"]["containers"] = [{"name": "ray-head", "image": IMAGE}]
    group = spec["workerGroupSpecs"][0]
    group.update(groupName="workers", replicas=1, minReplicas=1, maxReplicas=1)
    group["template"]["spec"]["containers"] = [{"name": "ray-worker", "image": IMAGE}]
    # A submitterPodTemplate replaces the default submitter pod entirely, so it needs the
    # container (Kubernetes requires one; KubeRay would crash on its absence): validation
    # refuses it before any builder runs.
    paths = {f.path for f in validate(raw).errors}
    assert paths == {"spec.submitterPodTemplate.spec.containers"}
    submitter = raw["spec"]["submitterPodTemplate"]["spec"]
    submitter["containers"] = [{"name": "submit", "image": IMAGE}]
    submitter["restartPolicy"] = "Never"
    objects = rendered(raw)
    for pod in by_kind(objects, "Pod"):
        assert pod["spec"]["serviceAccountName"] == "raydata"
    (job,) = by_kind(objects, "Job")
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == "raydata"
    (container,) = pod_spec["containers"]
    assert container["name"] == "submit"
    assert container["command"] == ["/bin/bash", "-ce", "--"]
    assert "-- python /app/job.py ;" in container["args"][0]


# -- a spread of specs ----------------------------------------------------------------------------


def _autoscaling() -> dict[str, Any]:
    return raycluster(enableInTreeAutoscaling=True)


def _ft_options() -> dict[str, Any]:
    return raycluster(
        gcsFaultToleranceOptions={
            "redisAddress": "redis:6379",
            "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "r", "key": "p"}}},
        }
    )


def _multi_host() -> dict[str, Any]:
    return raycluster(workerGroupSpecs=[worker_group("tpu", replicas=2, numOfHosts=4)])


def _custom_ports() -> dict[str, Any]:
    head = head_group(rayStartParams={"port": "6380"})
    head["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "gcs-server", "containerPort": 6380},
        {"name": "dashboard", "containerPort": 8265},
        {"name": "serve", "containerPort": 8000},
        {"name": "serve-grpc", "containerPort": 9000},
    ]
    return raycluster(headGroupSpec=head, annotations={"ray.io/enable-serve-service": "true"})


def _ingress() -> dict[str, Any]:
    return raycluster(
        headGroupSpec=head_group(
            enableIngress=True, ingressOptions={"host": "ray.example.com", "path": "/ray"}
        ),
        annotations={"kubernetes.io/ingress.class": "nginx"},
    )


def _suspended() -> dict[str, Any]:
    return raycluster(suspend=True)


def _two_groups() -> dict[str, Any]:
    return raycluster(
        workerGroupSpecs=[
            worker_group("cpu", replicas=20, minReplicas=1, maxReplicas=3),
            worker_group("gpu", replicas=0, minReplicas=1, maxReplicas=2),
            worker_group("off", replicas=5, suspend=True),
        ]
    )


CASES: dict[str, tuple[Callable[[], dict[str, Any]], list[str]]] = {
    "basic": (raycluster, ["Service/demo-head-svc", "Pod", "Pod", "Pod"]),
    "autoscaling": (
        _autoscaling,
        ["ServiceAccount/demo", "Role/demo", "RoleBinding/demo", "Service/demo-head-svc"]
        + ["Pod"] * 3,
    ),
    "ft-annotation": (
        lambda: raycluster(annotations={"ray.io/ft-enabled": "true"}),
        ["Service/demo-head-svc", "Pod", "Pod", "Pod", "Job/demo-redis-cleanup"],
    ),
    "ft-options": (
        _ft_options,
        ["Service/demo-head-svc", "Pod", "Pod", "Pod", "Job/demo-redis-cleanup"],
    ),
    "multi-host": (
        _multi_host,
        ["Service/demo-head-svc", "Service/demo-headless"] + ["Pod"] * 9,
    ),
    "custom-ports": (
        _custom_ports,
        ["Service/demo-head-svc", "Service/demo-serve-svc", "Pod", "Pod", "Pod"],
    ),
    "ingress": (
        _ingress,
        ["Ingress/demo-head-ingress", "Service/demo-head-svc", "Pod", "Pod", "Pod"],
    ),
    "suspended": (_suspended, ["Service/demo-head-svc"]),
    "two-groups": (_two_groups, ["Service/demo-head-svc"] + ["Pod"] * 5),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cluster_cases(case: str) -> None:
    make, expected = CASES[case]
    objects = rendered(make())
    assert [
        name if "/" in name and name.split("/")[0] != "Pod" else o["kind"]
        for name, o in zip(inventory(objects), objects, strict=True)
    ] == expected
    names = inventory(objects)
    assert len(set(names)) == len(names)
    for obj in objects:
        owners = obj["metadata"]["ownerReferences"]
        assert owners[0]["kind"] == "RayCluster" and owners[0]["controller"] is True


def test_worker_counts_are_clamped_and_suspended_groups_empty() -> None:
    objects = rendered(_two_groups())
    groups = Counter(labels(p)["ray.io/group"] for p in pods_of(objects, "worker"))
    assert groups == {"cpu": 3, "gpu": 1}


def test_multi_host_pods() -> None:
    objects = rendered(_multi_host())
    pods = pods_of(objects, "worker")
    replicas = Counter(labels(p)["ray.io/worker-group-replica-name"] for p in pods)
    assert sorted(replicas.values()) == [4, 4]
    for name in replicas:
        suffix_of(name, "tpu-")
    hosts = sorted(labels(p)["ray.io/replica-host-index"] for p in pods)
    assert hosts == ["0", "0", "1", "1", "2", "2", "3", "3"]


def test_custom_ports_reach_workers_and_services() -> None:
    objects = rendered(_custom_ports())
    head_svc, serve_svc = by_kind(objects, "Service")
    assert [p["name"] for p in head_svc["spec"]["ports"]] == [
        "dashboard",
        "gcs-server",
        "metrics",
        "serve",
        "serve-grpc",
    ]
    assert serve_svc["spec"]["ports"] == [
        {"name": "serve", "port": 8000},
        {"name": "serve-grpc", "port": 9000},
    ]
    (worker, *_) = pods_of(objects, "worker")
    env = env_of(worker["spec"]["containers"][0])
    assert env["RAY_ADDRESS"].endswith(":6380") and env["RAY_PORT"] == "6380"


def test_ingress() -> None:
    (ingress,) = by_kind(rendered(_ingress()), "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert "kubernetes.io/ingress.class" not in (ingress["metadata"].get("annotations") or {})
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "ray.example.com"
    assert rule["http"]["paths"] == [
        {
            "path": "/ray",
            "pathType": "Prefix",
            "backend": {"service": {"name": "demo-head-svc", "port": {"number": 8265}}},
        }
    ]


def test_embedded_gcs_store_gets_a_claim_and_no_cleanup() -> None:
    raw = raycluster(
        gcsFaultToleranceOptions={"backend": "rocksdb", "storage": {"size": "5Gi"}},
    )
    objects = rendered(raw, gates="GCSFaultToleranceEmbeddedStorage=true")
    (pvc,) = by_kind(objects, "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == "demo-gcs-pvc"
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "5Gi"}},
    }
    assert not any(is_cleanup_job(o) for o in objects)


def test_http_probes_and_operator_options() -> None:
    objects = rendered(
        raycluster(),
        deterministic_head_pod_name=True,
        init_container_injection=False,
        cluster_domain="example.internal",
    )
    (head,) = pods_of(objects, "head")
    assert head["metadata"]["name"] == "demo-head"
    assert "httpGet" in head["spec"]["containers"][0]["readinessProbe"]  # rayVersion 2.60.0
    for worker in pods_of(objects, "worker"):
        assert "initContainers" not in worker["spec"]
        env = env_of(worker["spec"]["containers"][0])
        assert env["FQ_RAY_IP"] == "demo-head-svc.ray.svc.example.internal"


def test_render_is_deterministic() -> None:
    raw = rayservice_from_seed()
    assert render(load_resource(raw)) == render(load_resource(copy.deepcopy(raw)))


def test_managed_by_another_controller_renders_nothing() -> None:
    raw = raycluster(managedBy="kueue.x-k8s.io/multikueue")
    assert render(load_resource(raw)) == []


def test_cleanup_job_can_be_left_out() -> None:
    raw = raycluster(annotations={"ray.io/ft-enabled": "true"})
    resource = load_resource(raw)
    assert any(is_cleanup_job(o) for o in render(resource))
    assert not any(is_cleanup_job(o) for o in render(resource, include_cleanup=False))
    no_cleanup = render(resource, BuildOptions(gcs_ft_redis_cleanup=False))
    assert not any(is_cleanup_job(o) for o in no_cleanup)


# -- RayJob ---------------------------------------------------------------------------------------


def test_rayjob_k8s_job_mode() -> None:
    objects = rendered(rayjob())
    names = inventory(objects)
    cluster_name = names[0].removeprefix("RayCluster/")
    suffix_of(cluster_name, "job-")
    assert names[-2:] == ["Job/job", "Service/job-head-svc"]
    rc = objects[0]
    assert labels(rc) == {
        "ray.io/originated-from-cr-name": "job",
        "ray.io/originated-from-crd": "RayJob",
        "ray.io/job-submission-mode": "K8sJobMode",
    }
    (submitter,) = by_kind(objects, "Job")
    env = env_of(submitter["spec"]["template"]["spec"]["containers"][0])
    dashboard = f"{cluster_name}-head-svc.ray.svc.cluster.local:8265"
    assert env["RAY_DASHBOARD_ADDRESS"] == dashboard
    suffix_of(env["RAY_JOB_SUBMISSION_ID"], "job-")
    args = submitter["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert f"--submission-id {env['RAY_JOB_SUBMISSION_ID']}" in args
    assert f"http://{dashboard}" in args
    head_svc = objects[-1]
    assert head_svc["spec"]["selector"]["ray.io/cluster"] == cluster_name
    assert head_svc["metadata"]["ownerReferences"][0]["kind"] == "RayJob"
    for pod in by_kind(objects, "Pod"):
        assert pod["metadata"]["ownerReferences"][0]["name"] == cluster_name


def test_rayjob_modes() -> None:
    http = inventory(rendered(rayjob(submissionMode="HTTPMode")))
    assert not any(n.startswith("Job/") for n in http)
    sidecar = rendered(rayjob(submissionMode="SidecarMode"))
    assert not by_kind(sidecar, "Job")
    (head,) = pods_of(sidecar, "head")
    assert head["spec"]["containers"][-1]["name"] == "ray-job-submitter"
    fixed = rendered(rayjob(jobId="my-id"))
    (submitter,) = by_kind(fixed, "Job")
    env = env_of(submitter["spec"]["template"]["spec"]["containers"][0])
    assert env["RAY_JOB_SUBMISSION_ID"] == "my-id"
    assert rendered(rayjob(suspend=True, shutdownAfterJobFinishes=True)) == []


def test_rayjob_with_cluster_selector() -> None:
    raw = rayjob(clusterSelector={"ray.io/cluster": "shared"})
    del raw["spec"]["rayClusterSpec"]
    objects = rendered(raw)
    assert inventory(objects) == ["Job/job"]
    env = env_of(objects[0]["spec"]["template"]["spec"]["containers"][0])
    assert env["RAY_DASHBOARD_ADDRESS"] == "shared-head-svc.ray.svc.cluster.local:8265"


def test_rayjob_without_a_dashboard_port_fails_like_kuberay() -> None:
    spec = cluster_spec()
    spec["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "gcs-server", "containerPort": 6379}
    ]
    with pytest.raises(BuildError, match="dashboard"):
        render(load_resource(rayjob(rayClusterSpec=spec)))


# -- RayService ---------------------------------------------------------------------------------


def test_rayservice_without_serve_port_fails_like_kuberay() -> None:
    raw = rayservice_from_seed()
    ports = raw["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    ports["ports"] = [p for p in ports["ports"] if p["name"] != "serve"]
    with pytest.raises(BuildError, match="port named 'serve'"):
        render(load_resource(raw))


def test_rayservice_incremental_upgrade_names_the_serve_service_per_cluster() -> None:
    raw = rayservice_from_seed()
    raw["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] = True
    raw["spec"]["upgradeStrategy"] = {
        "type": "NewClusterWithIncrementalUpgrade",
        "clusterUpgradeOptions": {
            "maxSurgePercent": 50,
            "stepSizePercent": 10,
            "intervalSeconds": 30,
            "gatewayClassName": "istio",
        },
    }
    objects = rendered(raw)
    cluster_name = objects[0]["metadata"]["name"]
    assert inventory(objects)[-3:] == [
        f"Service/{cluster_name}-serve-svc",
        f"Gateway/{raw['metadata']['name']}-gateway",
        f"HTTPRoute/{raw['metadata']['name']}-httproute",
    ]
    route = objects[-1]["spec"]["rules"][0]
    assert route["backendRefs"][0]["name"] == f"{cluster_name}-serve-svc"
    assert route["backendRefs"][0]["weight"] == 100
    assert objects[-2]["spec"]["gatewayClassName"] == "istio"


# -- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> Callable[..., Any]:
    app = typer.Typer()
    app.command("render")(render_cmd)
    app.command("noop")(lambda: None)  # more than one command: `render` stays a subcommand
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(app, ["render", *args], input=stdin)

    return run


def test_cli_renders_yaml(cli: Callable[..., Any]) -> None:
    result = cli("-f", str(EXAMPLES / "raycluster-basic.yaml"))
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [d["kind"] for d in docs] == ["Role", "RoleBinding", "Service", "Pod", "Pod", "Pod"]


def test_cli_renders_json_and_notes_the_cleanup_job(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump(raycluster(annotations={"ray.io/ft-enabled": "true"})))
    result = cli("-f", str(path), "-o", "json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["kind"] == "List"
    assert listed["items"][-1]["metadata"]["name"] == "demo-redis-cleanup"
    assert "created only when RayCluster/demo is deleted" in result.stderr


def test_cli_refuses_invalid_resources(cli: Callable[..., Any]) -> None:
    result = cli("-f", str(EXAMPLES / "rayjob-pod-identity.yaml"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "spec.entrypoint" in result.stderr
    assert "nothing was rendered" in result.stderr


def test_cli_reports_render_errors(cli: Callable[..., Any]) -> None:
    raw = rayservice_from_seed()
    head = raw["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["ports"] = [{"name": "dashboard", "containerPort": 8265}]
    result = cli("-f", "-", stdin=yaml.safe_dump(raw))
    assert result.exit_code == 1
    assert "port named 'serve'" in result.stderr


def test_cli_skips_other_kinds_and_checks_the_format(cli: Callable[..., Any]) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    text = yaml.safe_dump_all([secret, raycluster()])
    result = cli("-f", "-", stdin=text)
    assert result.exit_code == 0, result.output
    assert "Secret s" in result.stderr and "skipped" in result.stderr
    assert cli("-f", "-", "-o", "wide", stdin=text).exit_code == 2
    assert cli("-f", "-", stdin="").exit_code == 2
