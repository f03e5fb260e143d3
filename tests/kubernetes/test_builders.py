"""The object builders follow KubeRay's rules (ray-operator at feeaf72), one rule at a time."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rayplane.api.raycluster import RayCluster
from rayplane.api.rayjob import RayJob
from rayplane.api.rayservice import RayService
from rayplane.kubernetes.builders import (
    BuildError,
    BuildOptions,
    Slot,
    autoscaler_rbac,
    cluster_serve_service,
    head_pod,
    head_service,
    headless_worker_service,
    job_submit_command,
    owner_head_service,
    pods_for,
    rayjob_cluster,
    rayservice_cluster,
    rayservice_serve_service,
    redis_cleanup_job,
    service_ports,
    submitter_job,
    worker_pod,
)
from rayplane.kubernetes.builders import names as N
from rayplane.kubernetes.builders.hashes import spec_hash
from rayplane.kubernetes.builders.probes import (
    parse_generic_version,
    supports_unified_health_check,
)
from rayplane.reconcile.cluster import CreateNode
from rayplane.reconcile.gostrings import go_json, go_quote
from rayplane.reconcile.kuberay import random_suffix
from rayplane.reconcile.raystart import build_ray_start
from tests.kubernetes import (
    IMAGE,
    assert_valid,
    cluster_spec,
    env_names,
    env_of,
    head_group,
    load_resource,
    raycluster,
    rayjob,
    worker_group,
)

UID = "0c9b7a54-5a8e-4f8e-9d4f-0a1b2c3d4e5f"
FQDN = "demo-head-svc.ray.svc.cluster.local"


def cluster(raw: dict[str, Any] | None = None, gates: str = "", **kwargs: Any) -> RayCluster:
    raw = copy.deepcopy(raw) if raw is not None else raycluster(**kwargs)
    raw["metadata"]["uid"] = UID
    resource = load_resource(raw, gates)
    assert isinstance(resource, RayCluster)
    return resource


def ray(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


def workers(c: RayCluster, index: int = 0, **options: Any) -> dict[str, Any]:
    group = c.spec.worker_group_specs[index]
    return worker_pod(c, group, Slot(0), BuildOptions(**options))


# -- names --------------------------------------------------------------------------------------


def test_pod_names_are_kuberays() -> None:
    assert N.head_pod_name("demo") == "demo-head-"
    assert N.head_pod_name("demo", deterministic=True) == "demo-head"
    assert N.worker_pod_generate_name("demo", "gpu") == "demo-gpu-worker-"
    # Prefix cut to its first 50 characters, then lowercased.
    long = "a" * 40 + "-Group-Name-XYZ"
    assert N.worker_pod_generate_name(long[:40], long[41:]) == (long[:50] + "-worker-").lower()


def test_check_name_keeps_the_end_and_fixes_the_first_character() -> None:
    assert N.check_name("x" * 10 + "y" * 50) == "y" * 50
    assert N.check_name("1abc") == "rabc"
    assert N.check_name("-abc") == "rabc"
    assert N.check_label("-" + "a" * 70) == "a" * 63
    assert N.check_label(".abc") == "rabc"


def test_stable_suffix_uses_the_kubernetes_alphabet() -> None:
    suffix = N.stable_suffix("seed")
    assert suffix == N.stable_suffix("seed") != N.stable_suffix("other")
    assert len(suffix) == 5 and set(suffix) <= set(N.SUFFIX_ALPHABET)
    assert len(random_suffix()) == 5


# -- head Pod -----------------------------------------------------------------------------------


def test_head_pod_identity_labels_and_owner() -> None:
    pod = head_pod(cluster())
    meta = pod["metadata"]
    assert meta["generateName"] == "demo-head-" and "name" not in meta
    assert meta["namespace"] == "ray"
    assert meta["labels"] == {
        "ray.io/is-ray-node": "yes",
        "ray.io/cluster": "demo",
        "ray.io/node-type": "head",
        "ray.io/group": "headgroup",
        "ray.io/identifier": "demo-head",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "name": "demo",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert meta["annotations"]["ray.io/ft-enabled"] == "false"
    assert meta["annotations"]["ray.io/upgrade-strategy-recreate-hash"]


def test_deterministic_head_pod_name() -> None:
    pod = head_pod(cluster(), BuildOptions(deterministic_head_pod_name=True))
    assert pod["metadata"]["name"] == "demo-head"
    assert "generateName" not in pod["metadata"]


def test_user_labels_cannot_override_cluster_node_type_or_group() -> None:
    head = head_group()
    head["template"]["metadata"] = {
        "labels": {
            "ray.io/cluster": "other",
            "ray.io/node-type": "worker",
            "ray.io/group": "mine",
            "ray.io/identifier": "custom-id",
            "team": "data",
        }
    }
    labels = head_pod(cluster(headGroupSpec=head))["metadata"]["labels"]
    assert labels["ray.io/cluster"] == "demo"
    assert labels["ray.io/node-type"] == "head"
    assert labels["ray.io/group"] == "headgroup"
    assert labels["ray.io/identifier"] == "custom-id"  # overridable in KubeRay too
    assert labels["team"] == "data"


def test_group_labels_win_over_template_labels() -> None:
    group = worker_group(labels={"team": "group"})
    group["template"]["metadata"] = {"labels": {"team": "template", "tier": "x"}}
    labels = workers(cluster(workerGroupSpecs=[group]))["metadata"]["labels"]
    assert labels["team"] == "group" and labels["tier"] == "x"
    assert labels["ray.io/worker-group-replica-index"] == "0"


def test_head_env_is_injected_in_kuberays_order() -> None:
    c = cluster()
    container = ray(head_pod(c))
    start = build_ray_start(c.spec, None, head_address=None).kuberay_shell()
    assert env_names(container) == [
        "RAY_CLUSTER_NAME",
        "RAY_CLUSTER_NAMESPACE",
        "RAY_CLOUD_INSTANCE_ID",
        "RAY_NODE_TYPE_NAME",
        "KUBERAY_GEN_RAY_START_CMD",
        "RAY_PORT",
        "RAY_ADDRESS",
        "RAY_USAGE_STATS_KUBERAY_IN_USE",
        "RAY_USAGE_STATS_EXTRA_TAGS",
        "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE",
    ]
    env = env_of(container)
    assert env["RAY_CLUSTER_NAME"] == {
        "fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}
    }
    assert env["RAY_NODE_TYPE_NAME"] == {
        "fieldRef": {"fieldPath": "metadata.labels['ray.io/group']"}
    }
    assert env["RAY_CLUSTER_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["RAY_CLOUD_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["KUBERAY_GEN_RAY_START_CMD"] == start
    assert start.startswith("ray start --head  --block ")
    assert env["RAY_PORT"] == "6379"
    assert env["RAY_ADDRESS"] == "127.0.0.1:6379"
    assert env["RAY_USAGE_STATS_KUBERAY_IN_USE"] == "1"
    assert env["RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE"] == "1"
    assert env["RAY_USAGE_STATS_EXTRA_TAGS"].endswith(";kuberay_crd=RayCluster")


def test_user_env_comes_first_and_keeps_its_values() -> None:
    head = head_group()
    head["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_ADDRESS", "value": "mine:1"},
        {"name": "PYTHONPATH", "value": "/app"},
    ]
    env = env_of(ray(head_pod(cluster(headGroupSpec=head))))
    assert env["RAY_ADDRESS"] == "mine:1"
    assert env["PYTHONPATH"] == "/app"


def test_head_command_is_bash_with_ulimit_and_ray_start() -> None:
    c = cluster()
    container = ray(head_pod(c))
    start = build_ray_start(c.spec, None, head_address=None).kuberay_shell()
    assert container["command"] == ["/bin/bash", "-c", "--"]
    assert container["args"] == [f"ulimit -n ${{RAY_START_ULIMIT_OPEN_FILES:-65536}}; {start}"]


def test_login_shell_option() -> None:
    assert ray(head_pod(cluster(), BuildOptions(login_shell=True)))["command"][1] == "-cl"


def test_user_command_runs_before_ray_start() -> None:
    head = head_group()
    head["template"]["spec"]["containers"][0]["command"] = ["echo"]
    head["template"]["spec"]["containers"][0]["args"] = ["hello"]
    args = ray(head_pod(cluster(headGroupSpec=head)))["args"][0]
    assert args.startswith(" echo  hello  && ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; ")
    assert "ray start --head" in args


def test_user_ray_start_command_is_left_alone_but_still_recorded() -> None:
    head = head_group()
    head["template"]["spec"]["containers"][0]["args"] = ["ray start --head --block"]
    container = ray(head_pod(cluster(headGroupSpec=head)))
    assert container["args"] == ["ray start --head --block"]
    assert "command" not in container
    assert env_of(container)["KUBERAY_GEN_RAY_START_CMD"].startswith("ray start --head")


def test_overwrite_container_cmd_annotation() -> None:
    head = head_group()
    head["template"]["spec"]["containers"][0]["command"] = ["my-entrypoint"]
    c = cluster(headGroupSpec=head, annotations={"ray.io/overwrite-container-cmd": "true"})
    pod = head_pod(c)
    assert ray(pod)["command"] == ["my-entrypoint"] and "args" not in ray(pod)
    assert pod["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"


def test_shared_memory_is_sized_by_the_memory_limit() -> None:
    pod = head_pod(cluster())
    assert {"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}} in pod[
        "spec"
    ]["volumes"]
    assert {"mountPath": "/dev/shm", "name": "shared-mem"} in ray(pod)["volumeMounts"]


def test_shared_memory_falls_back_to_the_request_then_to_no_limit() -> None:
    head = head_group()
    head["template"]["spec"]["containers"][0]["resources"] = {"requests": {"memory": "3Gi"}}
    volumes = head_pod(cluster(headGroupSpec=head))["spec"]["volumes"]
    assert volumes[0]["emptyDir"] == {"medium": "Memory", "sizeLimit": "3Gi"}
    del head["template"]["spec"]["containers"][0]["resources"]
    volumes = head_pod(cluster(headGroupSpec=head))["spec"]["volumes"]
    assert volumes[0]["emptyDir"] == {"medium": "Memory"}


def test_no_shared_memory_with_plasma_directory_or_a_user_mount() -> None:
    pod = head_pod(cluster(headGroupSpec=head_group(rayStartParams={"plasma-directory": "/p"})))
    assert "volumes" not in pod["spec"]
    head = head_group()
    head["template"]["spec"]["volumes"] = [{"name": "mine", "emptyDir": {}}]
    head["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "mine", "mountPath": "/dev/shm"}
    ]
    pod = head_pod(cluster(headGroupSpec=head))
    assert pod["spec"]["volumes"] == [{"name": "mine", "emptyDir": {}}]


def test_metrics_port_added_once() -> None:
    assert ray(head_pod(cluster()))["ports"] == [{"name": "metrics", "containerPort": 8080}]
    head = head_group()
    head["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "metrics", "containerPort": 9090}
    ]
    assert ray(head_pod(cluster(headGroupSpec=head)))["ports"] == [
        {"name": "metrics", "containerPort": 9090}
    ]


def test_numeric_quantities_become_strings() -> None:
    head = head_group()
    head["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 2, "memory": "1Gi"}}
    assert ray(head_pod(cluster(headGroupSpec=head)))["resources"]["limits"]["cpu"] == "2"


# -- probes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "parsed", "http"),
    [
        ("2.53.0", (2, 53, 0), True),
        ("2.60.0", (2, 60, 0), True),
        ("2.53", (2, 53), True),
        ("v2.53.0rc1", (2, 53, 0), True),
        ("3.0", (3, 0), True),
        ("2.52.1", (2, 52, 1), False),
        ("2.47.1", (2, 47, 1), False),
        ("2", None, False),
        ("nightly", None, False),
        (None, None, False),
    ],
)
def test_ray_version_decides_the_probe_kind(
    version: str | None, parsed: tuple[int, ...] | None, http: bool
) -> None:
    assert parse_generic_version(version) == parsed
    assert supports_unified_health_check(version) is http


def test_http_probes_for_new_ray() -> None:
    container = ray(head_pod(cluster(rayVersion="2.53.0")))
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/api/healthz", "port": 52365},
        "initialDelaySeconds": 10,
        "timeoutSeconds": 5,
        "periodSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 10,
    }
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/api/healthz", "port": 52365},
        "initialDelaySeconds": 30,
        "timeoutSeconds": 5,
        "periodSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 120,
    }
    worker = ray(workers(cluster(rayVersion="2.53.0")))
    assert worker["readinessProbe"]["timeoutSeconds"] == 2
    assert worker["livenessProbe"]["timeoutSeconds"] == 2


def test_exec_probes_for_old_ray() -> None:
    raylet = (
        "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success"
    )
    gcs = "wget --tries 1 -T 10 -q -O- http://localhost:8265/api/gcs_healthz | grep success"
    c = cluster(rayVersion="2.47.1")
    head = ray(head_pod(c))
    assert head["livenessProbe"]["exec"] == {"command": ["bash", "-c", f"{raylet} && {gcs}"]}
    assert head["readinessProbe"]["exec"] == {"command": ["bash", "-c", f"{raylet} && {gcs}"]}
    assert ray(workers(c))["readinessProbe"]["exec"] == {"command": ["bash", "-c", raylet]}


def test_probe_ports_follow_ray_start_params() -> None:
    c = cluster(
        rayVersion="2.47.1",
        headGroupSpec=head_group(
            rayStartParams={"dashboard-agent-listen-port": "50000", "dashboard-port": "9000"}
        ),
    )
    command = ray(head_pod(c))["readinessProbe"]["exec"]["command"][2]
    assert "localhost:50000/api/local_raylet_healthz" in command
    assert "localhost:9000/api/gcs_healthz" in command


def test_user_probes_are_kept_and_injection_can_be_disabled() -> None:
    head = head_group()
    probe = {"tcpSocket": {"port": 6379}}
    head["template"]["spec"]["containers"][0]["readinessProbe"] = probe
    container = ray(head_pod(cluster(headGroupSpec=head)))
    assert container["readinessProbe"] == probe and "livenessProbe" in container
    container = ray(head_pod(cluster(), BuildOptions(probes_injection=False)))
    assert "readinessProbe" not in container and "livenessProbe" not in container


# -- workers ------------------------------------------------------------------------------------


def test_worker_pod_address_env_and_labels() -> None:
    c = cluster()
    pod = workers(c)
    assert pod["metadata"]["generateName"] == "demo-workers-worker-"
    assert pod["metadata"]["labels"]["ray.io/node-type"] == "worker"
    assert pod["metadata"]["labels"]["ray.io/group"] == "workers"
    assert pod["metadata"]["labels"]["ray.io/identifier"] == "demo-worker"
    container = ray(pod)
    assert env_names(container)[:2] == ["FQ_RAY_IP", "RAY_IP"]
    env = env_of(container)
    assert env["FQ_RAY_IP"] == FQDN
    assert env["RAY_IP"] == "demo-head-svc"
    assert env["RAY_ADDRESS"] == f"{FQDN}:6379"
    assert "RAY_USAGE_STATS_EXTRA_TAGS" not in env
    start = build_ray_start(c.spec, c.spec.worker_group_specs[0], head_address=f"{FQDN}:6379")
    assert env["KUBERAY_GEN_RAY_START_CMD"] == start.kuberay_shell()
    assert f"--address={FQDN}:6379" in container["args"][0]


def test_worker_follows_the_head_port_custom_service_name_and_domain() -> None:
    head = head_group(
        rayStartParams={"port": "6380"}, headService={"metadata": {"name": "my-head"}}
    )
    pod = workers(cluster(headGroupSpec=head), cluster_domain="corp.internal")
    env = env_of(ray(pod))
    assert env["FQ_RAY_IP"] == "my-head.ray.svc.corp.internal"
    assert env["RAY_ADDRESS"] == "my-head.ray.svc.corp.internal:6380"
    assert env["RAY_PORT"] == "6380"


def test_wait_gcs_ready_init_container() -> None:
    group = worker_group()
    group["template"]["spec"]["containers"][0]["env"] = [{"name": "TLS", "value": "1"}]
    pod = workers(cluster(workerGroupSpecs=[group]))
    (init,) = pod["spec"]["initContainers"]
    assert init["name"] == "wait-gcs-ready"
    assert init["image"] == IMAGE
    assert init["command"] == ["/bin/bash", "-c", "--"]
    assert f"ray health-check --address {FQDN}:6379 > /dev/null 2>&1" in init["args"][0]
    assert "sleep 5" in init["args"][0]
    assert init["resources"] == {
        "limits": {"cpu": "200m", "memory": "256Mi"},
        "requests": {"cpu": "200m", "memory": "256Mi"},
    }
    assert env_names(init) == ["TLS", "FQ_RAY_IP", "RAY_IP"]
    assert "initContainers" not in workers(cluster(), init_container_injection=False)["spec"]


def test_user_init_containers_get_the_head_address_too() -> None:
    head = head_group()
    head["template"]["spec"]["initContainers"] = [{"name": "prep", "image": "busybox"}]
    (init,) = head_pod(cluster(headGroupSpec=head))["spec"]["initContainers"]
    assert env_of(init) == {"FQ_RAY_IP": FQDN, "RAY_IP": "demo-head-svc"}


def test_multi_host_replicas_share_a_name() -> None:
    c = cluster(workerGroupSpecs=[worker_group("tpu", replicas=2, numOfHosts=2)])
    action = CreateNode("tpu", "worker", count=4, num_of_hosts=2, replica_indices=(0, 1))
    pods = pods_for(c, action, replica_name=lambda g: f"{g}-r{len(g)}")
    assert len(pods) == 4
    labels = [p["metadata"]["labels"] for p in pods]
    assert [lab["ray.io/worker-group-replica-index"] for lab in labels] == ["0", "0", "1", "1"]
    assert [lab["ray.io/replica-host-index"] for lab in labels] == ["0", "1", "0", "1"]
    assert {lab["ray.io/worker-group-replica-name"] for lab in labels} == {"tpu-r3"}
    random_names = pods_for(c, action)
    assert random_names[0]["metadata"]["labels"]["ray.io/worker-group-replica-name"].startswith(
        "tpu-"
    )


def test_pods_for_single_host_and_unknown_group() -> None:
    c = cluster()
    pods = pods_for(c, CreateNode("workers", "worker", count=2, replica_indices=(3, 5)))
    assert [p["metadata"]["labels"]["ray.io/worker-group-replica-index"] for p in pods] == [
        "3",
        "5",
    ]
    assert pods_for(c, CreateNode("headgroup", "head"))[0]["metadata"]["generateName"]
    with pytest.raises(BuildError, match="no worker group"):
        pods_for(c, CreateNode("nope", "worker"))


def test_missing_container_is_a_build_error() -> None:
    c = cluster()
    c.spec.head_group_spec.template.spec.containers = []
    with pytest.raises(BuildError, match="no container"):
        head_pod(c)


def test_owner_needs_a_uid() -> None:
    c = load_resource(raycluster())
    assert isinstance(c, RayCluster)
    with pytest.raises(BuildError, match="uid"):
        head_pod(c)


# -- autoscaling ----------------------------------------------------------------------------------


def test_autoscaler_sidecar() -> None:
    c = cluster(enableInTreeAutoscaling=True)
    pod = head_pod(c)
    assert pod["spec"]["serviceAccountName"] == "demo"
    ray_container, sidecar = pod["spec"]["containers"]
    assert sidecar["name"] == "autoscaler"
    assert sidecar["image"] == IMAGE
    assert sidecar["resources"] == {
        "limits": {"cpu": "500m", "memory": "512Mi"},
        "requests": {"cpu": "500m", "memory": "512Mi"},
    }
    start = (
        "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
        "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
    )
    assert sidecar["command"] == ["/bin/bash", "-c", "--"]
    assert sidecar["args"] == [start]
    env = env_of(sidecar)
    assert env["KUBERAY_CRD_VER"] == "v1"
    assert env["KUBERAY_GEN_AUTOSCALER_START_CMD"] == start
    assert env["RAY_HEAD_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["RAY_CLUSTER_NAME"] == {
        "fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}
    }
    logs = {"mountPath": "/tmp/ray", "name": "ray-logs"}
    assert logs in ray_container["volumeMounts"] and logs in sidecar["volumeMounts"]
    assert {"name": "ray-logs", "emptyDir": {}} in pod["spec"]["volumes"]
    assert "--no-monitor" in env_of(ray_container)["KUBERAY_GEN_RAY_START_CMD"]
    assert "RAY_enable_autoscaler_v2" not in env_of(ray_container)


def test_no_autoscaler_without_in_tree_autoscaling() -> None:
    pod = head_pod(cluster())
    assert len(pod["spec"]["containers"]) == 1
    assert "serviceAccountName" not in pod["spec"]
    assert "--no-monitor" not in ray(pod)["args"][0]
    assert autoscaler_rbac(cluster()) == []


def test_autoscaler_options_are_merged() -> None:
    options = {
        "image": "my/autoscaler:1",
        "imagePullPolicy": "Always",
        "resources": {"limits": {"cpu": 1, "memory": "1Gi"}},
        "env": [{"name": "EXTRA", "value": "1"}],
        "command": ["python"],
        "args": ["-m", "x"],
        "version": "v2",
    }
    c = cluster(enableInTreeAutoscaling=True, autoscalerOptions=options)
    pod = head_pod(c)
    sidecar = pod["spec"]["containers"][1]
    assert sidecar["image"] == "my/autoscaler:1"
    assert sidecar["imagePullPolicy"] == "Always"
    assert sidecar["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}}
    assert env_names(sidecar)[-1] == "EXTRA"
    assert sidecar["command"] == ["python"] and sidecar["args"] == ["-m", "x"]
    # An explicit v2 turns it on in Ray and makes every pod restartPolicy Never.
    assert env_of(ray(pod))["RAY_enable_autoscaler_v2"] == "true"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert workers(c)["spec"]["restartPolicy"] == "Never"
    v1 = cluster(enableInTreeAutoscaling=True, autoscalerOptions={"version": "v1"})
    assert env_of(ray(head_pod(v1)))["RAY_enable_autoscaler_v2"] == "false"
    assert "restartPolicy" not in workers(v1)["spec"]


def test_autoscaler_rbac() -> None:
    c = cluster(name="x" * 53, enableInTreeAutoscaling=True)
    sa, role, binding = autoscaler_rbac(c)
    clipped = "x" * 50
    assert sa["kind"] == "ServiceAccount" and sa["metadata"]["name"] == clipped
    assert role["metadata"]["name"] == clipped
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
        {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
    ]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": clipped, "namespace": "ray"}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": clipped,
    }
    for obj in (sa, role, binding):
        assert obj["metadata"]["labels"]["ray.io/cluster"] == c.name
        assert obj["metadata"]["ownerReferences"][0]["uid"] == UID
    assert head_pod(c)["spec"]["serviceAccountName"] == clipped
    assert_valid([sa, role, binding])


def test_user_service_account_is_bound_not_created() -> None:
    head = head_group()
    head["template"]["spec"]["serviceAccountName"] = "raydata"
    c = cluster(headGroupSpec=head, enableInTreeAutoscaling=True)
    kinds = [o["kind"] for o in autoscaler_rbac(c)]
    assert kinds == ["Role", "RoleBinding"]
    assert autoscaler_rbac(c)[1]["subjects"][0]["name"] == "raydata"
    assert head_pod(c)["spec"]["serviceAccountName"] == "raydata"


# -- GCS fault tolerance --------------------------------------------------------------------------


def test_ft_by_annotation() -> None:
    head = head_group(rayStartParams={"redis-password": "secret"})
    head["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}
    ]
    c = cluster(headGroupSpec=head, annotations={"ray.io/ft-enabled": "true"})
    pod = head_pod(c)
    assert pod["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    assert pod["metadata"]["annotations"]["ray.io/external-storage-namespace"] == UID
    env = env_of(ray(pod))
    assert env["RAY_external_storage_namespace"] == UID
    assert env["REDIS_PASSWORD"] == "secret"
    assert env["RAY_REDIS_ADDRESS"] == "redis:6379"
    worker_env = env_of(ray(workers(c)))
    assert worker_env["RAY_gcs_rpc_server_reconnect_timeout_s"] == "600"
    assert "RAY_external_storage_namespace" not in worker_env


def test_ft_storage_namespace_annotation_and_worker_override() -> None:
    group = worker_group()
    group["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_gcs_rpc_server_reconnect_timeout_s", "value": "60"}
    ]
    c = cluster(
        workerGroupSpecs=[group],
        annotations={"ray.io/ft-enabled": "true", "ray.io/external-storage-namespace": "ns1"},
    )
    assert env_of(ray(head_pod(c)))["RAY_external_storage_namespace"] == "ns1"
    assert env_of(ray(workers(c)))["RAY_gcs_rpc_server_reconnect_timeout_s"] == "60"


def test_ft_by_options() -> None:
    options = {
        "redisAddress": "redis://redis:6379",
        "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}}},
        "externalStorageNamespace": "store",
    }
    c = cluster(gcsFaultToleranceOptions=options)
    pod = head_pod(c)
    container = ray(pod)
    env = env_of(container)
    assert env["RAY_external_storage_namespace"] == "store"
    assert env["RAY_REDIS_ADDRESS"] == "redis://redis:6379"
    assert env["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "redis", "key": "password"}}
    assert "--redis-password=$REDIS_PASSWORD" in env["KUBERAY_GEN_RAY_START_CMD"]
    assert pod["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    names = env_names(container)
    assert names.index("REDIS_PASSWORD") < names.index("KUBERAY_GEN_RAY_START_CMD")
    assert_valid([pod])


def test_embedded_ft_mounts_its_claim() -> None:
    c = cluster(
        gates="GCSFaultToleranceEmbeddedStorage=true",
        gcsFaultToleranceOptions={"backend": "rocksdb", "storage": {"subPath": "gcs"}},
    )
    pod = head_pod(c)
    env = env_of(ray(pod))
    assert env["RAY_gcs_storage"] == "rocksdb" and env["RAY_gcs_storage_path"] == "/data/gcs"
    assert {"name": "gcs-storage", "mountPath": "/data/gcs", "subPath": "gcs"} in ray(pod)[
        "volumeMounts"
    ]
    assert {"name": "gcs-storage", "persistentVolumeClaim": {"claimName": "demo-gcs-pvc"}} in pod[
        "spec"
    ]["volumes"]


def test_redis_cleanup_job() -> None:
    c = cluster(annotations={"ray.io/ft-enabled": "true"}, enableInTreeAutoscaling=True)
    job = redis_cleanup_job(c)
    assert job["metadata"]["name"] == "demo-redis-cleanup"
    assert job["metadata"]["labels"]["ray.io/node-type"] == "redis-cleanup"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "RayCluster"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 300
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    (container,) = pod_spec["containers"]  # the autoscaler is dropped
    assert "livenessProbe" not in container and "readinessProbe" not in container
    assert container["resources"]["limits"] == {"cpu": "200m", "memory": "256Mi"}
    env = env_of(container)
    assert env["RAY_redis_db_connect_retries"] == "120"
    assert env["RAY_redis_db_connect_wait_milliseconds"] == "500"
    script = container["args"][0]
    assert "from ray._private.gcs_utils import cleanup_redis_storage" in script
    assert "username=" not in script
    assert_valid([job])

    with_user = cluster(
        gcsFaultToleranceOptions={"redisAddress": "r:6379", "redisUsername": {"value": "u"}}
    )
    script = redis_cleanup_job(with_user)["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "username=os.getenv('REDIS_USERNAME', parsed.username)" in script


# -- Services -------------------------------------------------------------------------------------


def test_head_service_defaults() -> None:
    svc = head_service(cluster())
    assert svc["metadata"]["name"] == "demo-head-svc"
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert svc["spec"]["ports"] == [
        {"name": "client", "port": 10001, "appProtocol": "tcp"},
        {"name": "dashboard", "port": 8265, "appProtocol": "tcp"},
        {"name": "gcs-server", "port": 6379, "appProtocol": "tcp"},
        {"name": "metrics", "port": 8080, "appProtocol": "tcp"},
        {"name": "serve", "port": 8000, "appProtocol": "tcp"},
    ]
    selector = {
        "ray.io/cluster": "demo",
        "ray.io/node-type": "head",
        "ray.io/identifier": "demo-head",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    assert svc["spec"]["selector"] == selector == svc["metadata"]["labels"]
    assert "type" not in svc["spec"]


def test_head_service_uses_the_named_container_ports() -> None:
    head = head_group()
    head["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "gcs", "containerPort": 6380},
        {"name": "dashboard", "containerPort": 8266},
        {"containerPort": 5000},
    ]
    c = cluster(headGroupSpec=head)
    assert service_ports(c) == {"gcs": 6380, "dashboard": 8266, "5000-port": 5000, "metrics": 8080}
    names = [p["name"] for p in head_service(c)["spec"]["ports"]]
    assert names == ["5000-port", "dashboard", "gcs", "metrics"]


def test_head_service_type_and_cluster_ip_option() -> None:
    svc = head_service(cluster(headGroupSpec=head_group(serviceType="NodePort")))
    assert svc["spec"]["type"] == "NodePort" and "clusterIP" not in svc["spec"]
    svc = head_service(cluster(), BuildOptions(head_cluster_ip_service=True))
    assert "clusterIP" not in svc["spec"]


def test_head_service_annotations_and_app_name_label() -> None:
    head = head_group()
    head["template"]["metadata"] = {"labels": {"app.kubernetes.io/name": "myapp"}}
    c = cluster(headGroupSpec=head, headServiceAnnotations={"a": "b"})
    svc = head_service(c)
    assert svc["metadata"]["annotations"] == {"a": "b"}
    assert svc["spec"]["selector"]["app.kubernetes.io/name"] == "myapp"
    assert head_pod(c)["metadata"]["labels"]["app.kubernetes.io/name"] == "myapp"


def test_custom_head_service() -> None:
    custom = {
        "metadata": {"name": "my-head", "annotations": {"x": "1"}, "labels": {"l": "v"}},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "extra", "port": 9999}]},
    }
    c = cluster(headGroupSpec=head_group(headService=custom), headServiceAnnotations={"x": "2"})
    svc = head_service(c)
    assert svc["metadata"]["name"] == "my-head"
    assert svc["metadata"]["annotations"] == {"x": "2"}
    assert svc["metadata"]["labels"]["l"] == "v"
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["ports"][0] == {"name": "extra", "port": 9999}
    assert len(svc["spec"]["ports"]) == 6
    assert "clusterIP" not in svc["spec"]
    assert svc["spec"]["selector"]["ray.io/cluster"] == "demo"
    assert_valid([svc])


def test_headless_worker_service() -> None:
    svc = headless_worker_service(cluster())
    assert svc["metadata"]["name"] == "demo-headless"
    assert svc["metadata"]["labels"] == {"ray.io/headless-worker-svc": "demo"}
    assert svc["spec"] == {
        "clusterIP": "None",
        "selector": {"ray.io/cluster": "demo", "ray.io/node-type": "worker"},
        "type": "ClusterIP",
        "publishNotReadyAddresses": True,
    }


def test_cluster_serve_service() -> None:
    svc = cluster_serve_service(cluster())
    assert svc["metadata"]["name"] == "demo-serve-svc"
    assert svc["metadata"]["labels"] == {
        "ray.io/originated-from-cr-name": "demo",
        "ray.io/originated-from-crd": "RayCluster",
        "ray.io/serve": "demo-serve",
    }
    assert svc["spec"] == {
        "selector": {"ray.io/cluster": "demo"},
        "ports": [{"name": "serve", "port": 8000}],
    }
    head = head_group()
    head["template"]["spec"]["containers"][0]["ports"] = [{"name": "gcs", "containerPort": 6379}]
    with pytest.raises(BuildError, match="port named 'serve'"):
        cluster_serve_service(cluster(headGroupSpec=head))


# -- RayService ---------------------------------------------------------------------------------


def rayservice(**spec: Any) -> RayService:
    raw = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "svc", "namespace": "ray", "uid": UID, "labels": {"team": "a"}},
        "spec": {"serveConfigV2": "applications: []\n", "rayClusterConfig": cluster_spec()},
    }
    raw["spec"].update(spec)
    resource = load_resource(raw)
    assert isinstance(resource, RayService)
    return resource


def test_rayservice_cluster_and_pods() -> None:
    service = rayservice()
    child = rayservice_cluster(service, "svc-abcde", uid="child-uid")
    assert child.metadata.labels == {
        "team": "a",
        "ray.io/originated-from-cr-name": "svc",
        "ray.io/originated-from-crd": "RayService",
    }
    annotations = child.metadata.annotations or {}
    assert annotations["ray.io/num-worker-groups"] == "1"
    assert annotations["ray.io/hash-without-replicas-and-workers-to-delete"]
    assert (child.metadata.owner_references or [])[0]["kind"] == "RayService"

    head = head_pod(child)
    assert head["metadata"]["labels"]["ray.io/serve"] == "false"
    env = env_of(ray(head))
    assert env["RAY_timeout_ms_task_wait_for_death_info"] == "0"
    assert env["RAY_gcs_server_request_timeout_seconds"] == "5"
    assert env["RAY_SERVE_KV_TIMEOUT_S"] == "5"
    assert env["RAY_USAGE_STATS_EXTRA_TAGS"].endswith("kuberay_crd=RayService")
    assert "httpGet" in ray(head)["readinessProbe"]  # the head's proxy is checked otherwise

    worker = worker_pod(child, child.spec.worker_group_specs[0])
    assert worker["metadata"]["labels"]["ray.io/serve"] == "true"
    readiness = ray(worker)["readinessProbe"]
    assert "httpGet" not in readiness and readiness["failureThreshold"] == 1
    check = readiness["exec"]["command"][2]
    assert check.endswith(
        "wget --tries 1 -T 10 -q -O- http://localhost:8000/-/healthz | grep success"
    )
    assert "httpGet" in ray(worker)["livenessProbe"]


def test_rayservice_services() -> None:
    service = rayservice()
    child = rayservice_cluster(service, "svc-abcde", uid="child-uid")
    head = owner_head_service(service, child)
    assert head["metadata"]["name"] == "svc-head-svc"
    assert head["metadata"]["labels"] == {
        "ray.io/originated-from-cr-name": "svc",
        "ray.io/originated-from-crd": "RayService",
        "ray.io/node-type": "head",
        "ray.io/identifier": "svc-head",
    }
    assert head["spec"]["selector"]["ray.io/cluster"] == "svc-abcde"
    assert head["metadata"]["ownerReferences"][0]["uid"] == UID
    serve = rayservice_serve_service(service, child)
    assert serve["metadata"]["name"] == "svc-serve-svc"
    assert serve["spec"]["selector"] == {"ray.io/cluster": "svc-abcde", "ray.io/serve": "true"}
    assert serve["spec"]["ports"] == [{"name": "serve", "port": 8000}]
    assert serve["metadata"]["labels"]["ray.io/serve"] == "svc-serve"
    assert_valid([head, serve])


def test_rayservice_custom_serve_service_keeps_same_named_ports() -> None:
    custom = {
        "metadata": {"labels": {"x": "y"}},
        "spec": {"ports": [{"name": "serve", "port": 8000, "appProtocol": "kubernetes.io/h2c"}]},
    }
    service = rayservice(serveService=custom)
    child = rayservice_cluster(service, "svc-abcde", uid="child-uid")
    serve = rayservice_serve_service(service, child)
    assert serve["metadata"]["name"] == "svc-serve-svc"
    assert serve["metadata"]["labels"]["x"] == "y"
    assert serve["spec"]["ports"] == [
        {"name": "serve", "port": 8000, "appProtocol": "kubernetes.io/h2c"}
    ]


def test_rayservice_hash_ignores_replicas() -> None:
    one = rayservice()
    spec = one.spec.ray_cluster_config
    scaled = spec.model_copy(deep=True)
    scaled.worker_group_specs[0].replicas = 7
    assert spec_hash(spec) == spec_hash(scaled)
    changed = spec.model_copy(deep=True)
    changed.ray_version = "2.61.0"
    assert spec_hash(spec) != spec_hash(changed)


# -- RayJob ---------------------------------------------------------------------------------------


def job(**spec: Any) -> RayJob:
    raw = rayjob(**spec)
    raw["metadata"]["uid"] = UID
    resource = load_resource(raw)
    assert isinstance(resource, RayJob)
    return resource


def test_rayjob_cluster_labels() -> None:
    child = rayjob_cluster(job(), "job-abcde", "job-xyz12", uid="c")
    assert child.metadata.labels == {
        "ray.io/originated-from-cr-name": "job",
        "ray.io/originated-from-crd": "RayJob",
        "ray.io/job-submission-mode": "K8sJobMode",
    }
    env = env_of(ray(head_pod(child)))
    assert env["RAY_USAGE_STATS_EXTRA_TAGS"].endswith("kuberay_crd=RayJob")
    assert "RAY_SERVE_KV_TIMEOUT_S" not in env


def test_submitter_job() -> None:
    rj = job()
    dash = "job-abcde-head-svc.ray.svc.cluster.local:8265"
    assert rj.spec.ray_cluster_spec is not None
    manifest = submitter_job(rj, "job-xyz12", dash, ("job-abcde", rj.spec.ray_cluster_spec))
    assert manifest["metadata"]["name"] == "job"
    assert manifest["metadata"]["labels"] == {
        "ray.io/originated-from-cr-name": "job",
        "ray.io/originated-from-crd": "RayJob",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    assert manifest["metadata"]["ownerReferences"][0]["kind"] == "RayJob"
    assert manifest["spec"]["backoffLimit"] == 2
    template = manifest["spec"]["template"]
    assert template["metadata"]["labels"] == manifest["metadata"]["labels"]
    assert template["spec"]["restartPolicy"] == "Never"
    (container,) = template["spec"]["containers"]
    assert container["name"] == "ray-job-submitter"
    assert container["image"] == IMAGE
    assert container["resources"] == {
        "limits": {"cpu": "1", "memory": "1Gi"},
        "requests": {"cpu": "500m", "memory": "200Mi"},
    }
    assert container["command"] == ["/bin/bash", "-ce", "--"]
    address = f"http://{dash}"
    expected = (
        'until python -c "import urllib.request; r=urllib.request.urlopen('
        f"'{address}/api/gcs_healthz', timeout=10); exit(0 if b'success' in r.read() else 1)\""
        " >/dev/null 2>&1 ; do echo "
        f'"Waiting for Ray Dashboard GCS to become healthy at {address} ..."'
        " ; sleep 2 ; done ; "
        f"if ! ray job status --address {address} job-xyz12 >/dev/null 2>&1 ; then "
        f"ray job submit --address {address} --no-wait --submission-id job-xyz12 -- "
        "python /home/ray/samples/sample_code.py ; fi ; "
        f"ray job logs --address {address} --follow job-xyz12"
    )
    assert container["args"] == [expected]
    assert env_of(container) == {
        "PYTHONUNBUFFERED": "1",
        "RAY_DASHBOARD_ADDRESS": dash,
        "RAY_JOB_SUBMISSION_ID": "job-xyz12",
    }
    assert_valid([manifest])


def test_submit_command_options() -> None:
    rj = job(
        runtimeEnvYAML="pip:\n  - requests==2.26.0\nenv_vars:\n  A: '<b>'\n",
        metadata={"owner": "me"},
        entrypointNumCpus=1.5,
        entrypointNumGpus=1,
        entrypointResources='{"R": 1}',
    )
    text = job_submit_command(rj, "id1", "h:8265", cluster_spec=rj.spec.ray_cluster_spec)
    runtime = '{"env_vars":{"A":"\\u003cb\\u003e"},"pip":["requests==2.26.0"]}'
    assert f"--runtime-env-json {go_quote(runtime)}" in text
    assert '--metadata-json "{\\"owner\\":\\"me\\"}"' in text
    assert "--entrypoint-num-cpus 1.500000 --entrypoint-num-gpus 1.000000" in text
    assert '--entrypoint-resources "{\\"R\\": 1}"' in text


def test_metadata_needs_ray_2_6() -> None:
    spec = cluster_spec()
    spec["rayVersion"] = "2.5.0"
    rj = job(metadata={"a": "b"}, rayClusterSpec=spec)
    with pytest.raises(BuildError, match=r"2\.6\.0"):
        job_submit_command(rj, "id", "h:1", cluster_spec=rj.spec.ray_cluster_spec)


def test_submitter_template_and_backoff_from_the_user() -> None:
    template = {
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "mine", "image": "x", "command": ["my-submit"]}],
        }
    }
    rj = job(submitterPodTemplate=template, submitterConfig={"backoffLimit": 5})
    manifest = submitter_job(rj, "id", "h:8265", None)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["my-submit"] and "args" not in container
    assert env_names(container) == [
        "PYTHONUNBUFFERED",
        "RAY_DASHBOARD_ADDRESS",
        "RAY_JOB_SUBMISSION_ID",
    ]
    assert manifest["spec"]["backoffLimit"] == 5


def test_sidecar_mode_cluster() -> None:
    rj = job(submissionMode="SidecarMode")
    child = rayjob_cluster(rj, "job-abcde", "job-xyz12", uid="c")
    assert (child.metadata.annotations or {})["ray.io/disable-provisioned-head-restart"] == "true"
    template = child.spec.head_group_spec.template.spec
    assert template.restart_policy == "Never"
    sidecar = template.containers[-1]
    assert sidecar.name == "ray-job-submitter"
    assert sidecar.args is not None and "http://127.0.0.1:8265" in sidecar.args[0]
    assert "--no-wait" not in sidecar.args[0]
    pod = head_pod(child)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["ray-head", "ray-job-submitter"]
    assert pod["spec"]["restartPolicy"] == "Never"


# -- token auth -----------------------------------------------------------------------------------


def test_token_auth_env() -> None:
    c = cluster(authOptions={"mode": "token"}, enableInTreeAutoscaling=True, rayVersion="2.60.0")
    pod = head_pod(c)
    token = {"secretKeyRef": {"name": "demo", "key": "auth_token"}}
    assert env_of(ray(pod))["RAY_AUTH_MODE"] == "token"
    assert env_of(ray(pod))["RAY_AUTH_TOKEN"] == token
    assert env_of(pod["spec"]["containers"][1])["RAY_AUTH_TOKEN"] == token
    init = workers(c)["spec"]["initContainers"][0]
    assert env_of(init)["RAY_AUTH_TOKEN"] == token


# -- quoting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\tnew\n", '"tab\\tnew\\n"'),
        ("\x01", '"\\x01"'),
        ("é", '"é"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_go_json_escapes_html() -> None:
    assert go_json({"b": "<&>", "a": 1}) == '{"a":1,"b":"\\u003c\\u0026\\u003e"}'


def test_builders_produce_schema_valid_objects() -> None:
    c = cluster(enableInTreeAutoscaling=True, annotations={"ray.io/ft-enabled": "true"})
    assert_valid(
        [head_pod(c), workers(c), head_service(c), redis_cleanup_job(c), *autoscaler_rbac(c)]
    )
    assert head_pod(c)["spec"]["containers"][0]["image"] == IMAGE


def test_worker_group_without_template_labels() -> None:
    c = cluster(headGroupSpec=head_group(), workerGroupSpecs=[worker_group(replicas=0)])
    assert workers(c)["metadata"]["labels"]["ray.io/group"] == "workers"
