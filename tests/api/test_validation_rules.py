"""KubeRay's validation rules (kuberay-contract.md section 5), one mutation per rule.

Each case takes a minimal valid document, breaks exactly one rule, and checks that
validation fails with an error at the field a user has to change. The controls check that
the unmutated documents, and near misses that KubeRay accepts, pass.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayplane.api.validation import FeatureGates, Report, validate

Op = Callable[[dict[str, Any], dict[str, Any]], None]  # (document, its RayClusterSpec)
KINDS = ("RayCluster", "RayJob", "RayService")
PREFIX = {
    "RayCluster": "spec",
    "RayJob": "spec.rayClusterSpec",
    "RayService": "spec.rayClusterConfig",
}
ALPHA = FeatureGates(
    GCSFaultToleranceEmbeddedStorage=True,
    RayClusterNetworkPolicy=True,
    RayClusterMTLS=True,
    RayClusterHistoryServer=True,
)
ROCKSDB = FeatureGates(GCSFaultToleranceEmbeddedStorage=True)

HEAD_C = "headGroupSpec.template.spec.containers.0"
W0 = "workerGroupSpecs.0"
W0_C = "workerGroupSpecs.0.template.spec.containers.0"
# Expected paths; {c} is where the kind keeps its RayClusterSpec.
HEAD_ENV = "{c}.headGroupSpec.template.spec.containers[0].env"
GCS = "{c}.gcsFaultToleranceOptions"
WP = "{c}.workerGroupSpecs[0]"


# ---------------------------------------------------------------- document surgery


def _keys(path: str | list[str | int]) -> list[str | int]:
    if isinstance(path, list):
        return path
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _put(obj: Any, path: str | list[str | int], value: Any) -> None:
    keys = _keys(path)
    value = copy.deepcopy(value)  # table values are shared between cases
    for key in keys[:-1]:
        if isinstance(key, str) and key not in obj:
            obj[key] = {}
        obj = obj[key]
    obj[keys[-1]] = value


def _get(obj: Any, path: str | list[str | int]) -> Any:
    for key in _keys(path):
        obj = obj[key]
    return obj


def S(path: str | list[str | int], value: Any) -> Op:
    """Set a field of the cluster spec."""
    return lambda doc, cluster: _put(cluster, path, value)


def D(path: str) -> Op:
    """Delete a field of the cluster spec."""

    def op(doc: dict[str, Any], cluster: dict[str, Any]) -> None:
        keys = _keys(path)
        del _get(cluster, keys[:-1])[keys[-1]]

    return op


def J(path: str | list[str | int], value: Any) -> Op:
    """Set a field of the document itself (not of its cluster spec)."""
    return lambda doc, cluster: _put(doc, path, value)


def ANN(key: str, value: str) -> Op:
    return J(["metadata", "annotations", key], value)


def ENV(container: str, name: str, value: str = "x") -> Op:
    """Append an env var to the container at *container* (a cluster-spec path)."""

    def op(doc: dict[str, Any], cluster: dict[str, Any]) -> None:
        _get(cluster, container).setdefault("env", []).append({"name": name, "value": value})

    return op


def MOUNT(container: str, name: str, mount_path: str) -> Op:
    def op(doc: dict[str, Any], cluster: dict[str, Any]) -> None:
        _get(cluster, container).setdefault("volumeMounts", []).append(
            {"name": name, "mountPath": mount_path}
        )

    return op


def DUP_GROUP(doc: dict[str, Any], cluster: dict[str, Any]) -> None:
    cluster["workerGroupSpecs"].append(dict(cluster["workerGroupSpecs"][0]))


V2 = [S("enableInTreeAutoscaling", True), S("autoscalerOptions", {"version": "v2"})]
FT_OPTS = S("gcsFaultToleranceOptions", {"redisAddress": "redis:6379"})


def ROCKS(**extra: Any) -> Op:
    return S("gcsFaultToleranceOptions", {"backend": "rocksdb", **extra})


def K8S_AUTH(version: str = "2.55.0", **auth: Any) -> list[Op]:
    return [
        S("rayVersion", version),
        S("authOptions", {"mode": "token", "enableK8sTokenAuth": True, **auth}),
    ]


def _mutated(kind: str, make: Callable[[str], dict[str, Any]], ops: list[Op]) -> dict[str, Any]:
    doc = make(kind)
    cluster = _get(doc, PREFIX[kind])
    for op in ops:
        op(doc, cluster)
    return doc


def assert_rejected(doc: dict[str, Any], path: str, gates: FeatureGates | None = None) -> Report:
    report = validate(doc, gates)
    paths = [f.path for f in report.errors]
    assert not report.ok, f"expected an error at {path}, but the document validated"
    assert path in paths, f"expected an error at {path}; got {[str(f) for f in report.errors]}"
    for finding in report.errors:
        assert str(finding).startswith(f"{finding.path}: "), str(finding)
    return report


def assert_accepted(doc: dict[str, Any], gates: FeatureGates | None = None) -> Report:
    report = validate(doc, gates)
    assert report.ok, [str(f) for f in report.errors]
    assert report.errors == []
    return report


def case(
    name: str,
    path: str,
    *ops: Op | list[Op],
    gates: FeatureGates | None = None,
    kinds: tuple[str, ...] = KINDS,
) -> Any:
    flat: list[Op] = []
    for op in ops:
        flat.extend(op if isinstance(op, list) else [op])
    return pytest.param(flat, path, gates, kinds, id=name)


# ---------------------------------------------------------------- controls


@pytest.mark.parametrize("kind", KINDS)
def test_minimal_documents_are_valid(make: Callable[[str], dict[str, Any]], kind: str) -> None:
    report = assert_accepted(make(kind))
    assert report.warnings == []
    assert report.resource is not None and report.resource.kind == kind


# ---------------------------------------------------------------- names and status


@pytest.mark.parametrize(
    ("kind", "limit"), [("RayCluster", 53), ("RayJob", 47), ("RayService", 47)]
)
def test_name_length_limit(make: Callable[[str], dict[str, Any]], kind: str, limit: int) -> None:
    doc = make(kind)
    doc["metadata"]["name"] = "a" * limit
    assert_accepted(doc)
    doc["metadata"]["name"] = "a" * (limit + 1)
    report = assert_rejected(doc, "metadata.name")
    assert str(limit) in str(report.errors[0])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["Demo", "1demo", "demo-", "de_mo", "de.mo", ""])
def test_name_must_be_dns1035(make: Callable[[str], dict[str, Any]], kind: str, name: str) -> None:
    doc = make(kind)
    doc["metadata"]["name"] = name
    assert_rejected(doc, "metadata.name")


def _conditions(**states: str) -> dict[str, Any]:
    return {"conditions": [{"type": t, "status": s} for t, s in states.items()]}


def test_suspending_and_suspended_cannot_both_be_true(raycluster: dict[str, Any]) -> None:
    raycluster["status"] = _conditions(RayClusterSuspending="True", RayClusterSuspended="True")
    assert_rejected(raycluster, "status.conditions")


@pytest.mark.parametrize(
    "states",
    [
        {"RayClusterSuspending": "True", "RayClusterSuspended": "False"},
        {"RayClusterSuspended": "True"},
    ],
)
def test_one_suspend_condition_is_fine(raycluster: dict[str, Any], states: dict[str, str]) -> None:
    raycluster["status"] = _conditions(**states)
    assert_accepted(raycluster)


# ---------------------------------------------------------------- RayClusterSpec rules

CLUSTER_RULES = [
    # containers
    case(
        "head-no-containers",
        "{c}.headGroupSpec.template.spec.containers",
        S(HEAD_C.rsplit(".", 1)[0], []),
    ),
    case(
        "head-containers-missing",
        "{c}.headGroupSpec.template.spec.containers",
        D(HEAD_C.rsplit(".", 1)[0]),
    ),
    case(
        "head-template-missing",
        "{c}.headGroupSpec.template.spec.containers",
        D("headGroupSpec.template"),
    ),
    case("worker-no-containers", f"{WP}.template.spec.containers", S(W0_C.rsplit(".", 1)[0], [])),
    # replicas
    case("min-above-max", f"{WP}.minReplicas", S(f"{W0}.minReplicas", 3)),
    case("min-negative", f"{WP}.minReplicas", S(f"{W0}.minReplicas", -1)),
    case("max-negative", f"{WP}.maxReplicas", S(f"{W0}.maxReplicas", -1)),
    case("replicas-negative", f"{WP}.replicas", S(f"{W0}.replicas", -1)),
    case("num-of-hosts-zero", f"{WP}.numOfHosts", S(f"{W0}.numOfHosts", 0)),
    case("group-name-missing", f"{WP}.groupName", D(f"{W0}.groupName")),
    case("group-name-repeated", "{c}.workerGroupSpecs[1].groupName", DUP_GROUP),
    # rayStartParams vs group resources
    case(
        "head-num-cpus-and-resources",
        "{c}.headGroupSpec.rayStartParams.num-cpus",
        S("headGroupSpec.rayStartParams.num-cpus", "1"),
        S("headGroupSpec.resources", {"CPU": "1"}),
    ),
    case(
        "worker-num-gpus-and-resources",
        f"{WP}.rayStartParams.num-gpus",
        S(f"{W0}.rayStartParams.num-gpus", "1"),
        S(f"{W0}.resources", {"GPU": "1"}),
    ),
    case(
        "worker-memory-and-resources",
        f"{WP}.rayStartParams.memory",
        S(f"{W0}.rayStartParams.memory", "1000"),
        S(f"{W0}.resources", {"memory": "1Gi"}),
    ),
    case(
        "worker-resources-param-and-resources",
        f"{WP}.rayStartParams.resources",
        S(f"{W0}.rayStartParams.resources", '"{\\"TPU\\": 1}"'),
        S(f"{W0}.resources", {"TPU": "1"}),
    ),
    case(
        "resources-param-not-json",
        "{c}.headGroupSpec.rayStartParams.resources",
        S("headGroupSpec.rayStartParams.resources", "TPU=1"),
    ),
    case(
        "group-resources-not-quantity", f"{WP}.resources.CPU", S(f"{W0}.resources", {"CPU": "two"})
    ),
    case(
        "container-resources-not-quantity",
        "{c}.headGroupSpec.template.spec.containers[0].resources.limits.cpu",
        S(f"{HEAD_C}.resources", {"limits": {"cpu": "two"}}),
    ),
    # labels
    case(
        "head-rayStartParams-labels",
        "{c}.headGroupSpec.rayStartParams.labels",
        S("headGroupSpec.rayStartParams.labels", "a=b"),
    ),
    case(
        "worker-rayStartParams-labels",
        f"{WP}.rayStartParams.labels",
        S(f"{W0}.rayStartParams.labels", "a=b"),
    ),
    case("label-key-space", f"{WP}.labels[bad key]", S(f"{W0}.labels", {"bad key": "v"})),
    case("label-key-leading-dash", f"{WP}.labels[-zone]", S(f"{W0}.labels", {"-zone": "v"})),
    case(
        "label-key-bad-prefix",
        f"{WP}.labels[Bad_Prefix/zone]",
        S(f"{W0}.labels", {"Bad_Prefix/zone": "v"}),
    ),
    case("label-key-too-long", f"{WP}.labels.{'k' * 64}", S(f"{W0}.labels", {"k" * 64: "v"})),
    case("label-value-space", f"{WP}.labels.zone", S(f"{W0}.labels", {"zone": "us east"})),
    case("label-value-too-long", f"{WP}.labels.zone", S(f"{W0}.labels", {"zone": "v" * 64})),
    case(
        "head-label-value",
        "{c}.headGroupSpec.labels.zone",
        S("headGroupSpec.labels", {"zone": "-east"}),
    ),
    # idleTimeoutSeconds and priority
    case("idle-timeout-without-v2", f"{WP}.idleTimeoutSeconds", S(f"{W0}.idleTimeoutSeconds", 60)),
    case(
        "idle-timeout-negative", f"{WP}.idleTimeoutSeconds", V2, S(f"{W0}.idleTimeoutSeconds", -1)
    ),
    case("priority-without-v2", f"{WP}.priority", S(f"{W0}.priority", 5)),
    case(
        "priority-old-ray", f"{WP}.priority", V2, S("rayVersion", "2.55.0"), S(f"{W0}.priority", 5)
    ),
    case(
        "priority-ray-version-unset", f"{WP}.priority", V2, D("rayVersion"), S(f"{W0}.priority", 5)
    ),
    # GCS fault tolerance
    case(
        "ft-annotation-and-options",
        "metadata.annotations[ray.io/ft-enabled]",
        ANN("ray.io/ft-enabled", "true"),
        FT_OPTS,
    ),
    case("redis-address-env-without-ft", f"{HEAD_ENV}[0]", ENV(HEAD_C, "RAY_REDIS_ADDRESS")),
    case(
        "redis-address-env-ft-annotation-false",
        f"{HEAD_ENV}[0]",
        ANN("ray.io/ft-enabled", "false"),
        ENV(HEAD_C, "RAY_REDIS_ADDRESS"),
    ),
    case(
        "options-and-redis-password-param",
        "{c}.headGroupSpec.rayStartParams.redis-password",
        FT_OPTS,
        S("headGroupSpec.rayStartParams.redis-password", "secret"),
    ),
    case(
        "options-and-redis-password-env",
        f"{HEAD_ENV}[1]",
        FT_OPTS,
        ENV(HEAD_C, "OTHER"),
        ENV(HEAD_C, "REDIS_PASSWORD"),
    ),
    case(
        "options-and-redis-address-env", f"{HEAD_ENV}[0]", FT_OPTS, ENV(HEAD_C, "RAY_REDIS_ADDRESS")
    ),
    case(
        "options-and-storage-namespace-annotation",
        "metadata.annotations[ray.io/external-storage-namespace]",
        FT_OPTS,
        ANN("ray.io/external-storage-namespace", "ns"),
    ),
    case(
        "redis-username-param",
        "{c}.headGroupSpec.rayStartParams.redis-username",
        S("headGroupSpec.rayStartParams.redis-username", "me"),
    ),
    case("redis-username-env", f"{HEAD_ENV}[0]", ENV(HEAD_C, "REDIS_USERNAME")),
    case(
        "redis-username-env-with-options", f"{HEAD_ENV}[0]", FT_OPTS, ENV(HEAD_C, "REDIS_USERNAME")
    ),
    case("rocksdb-without-gate", f"{GCS}.backend", ROCKS()),
    case(
        "rocksdb-redis-address", f"{GCS}.redisAddress", ROCKS(redisAddress="r:6379"), gates=ROCKSDB
    ),
    case(
        "rocksdb-redis-password",
        f"{GCS}.redisPassword",
        ROCKS(redisPassword={"value": "p"}),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-redis-username",
        f"{GCS}.redisUsername",
        ROCKS(redisUsername={"value": "u"}),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-storage-namespace",
        f"{GCS}.externalStorageNamespace",
        ROCKS(externalStorageNamespace="ns"),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-claim-and-size",
        f"{GCS}.storage",
        ROCKS(storage={"claimName": "pvc", "size": "1Gi"}),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-claim-and-class",
        f"{GCS}.storage",
        ROCKS(storage={"claimName": "pvc", "storageClassName": "fast"}),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-claim-and-access-modes",
        f"{GCS}.storage",
        ROCKS(storage={"claimName": "pvc", "accessModes": ["ReadWriteOnce"]}),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-gcs-storage-env",
        f"{HEAD_ENV}[0]",
        ROCKS(),
        ENV(HEAD_C, "RAY_gcs_storage", "rocksdb"),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-gcs-storage-path-env",
        f"{HEAD_ENV}[0]",
        ROCKS(),
        ENV(HEAD_C, "RAY_gcs_storage_path", "/x"),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-mount-named-gcs-storage",
        "{c}.headGroupSpec.template.spec.containers[0].volumeMounts[0]",
        ROCKS(),
        MOUNT(HEAD_C, "gcs-storage", "/elsewhere"),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-mount-at-data-gcs",
        "{c}.headGroupSpec.template.spec.containers[0].volumeMounts[0]",
        ROCKS(),
        MOUNT(HEAD_C, "mine", "/data/gcs"),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-volume-named-gcs-storage",
        "{c}.headGroupSpec.template.spec.volumes[0]",
        ROCKS(),
        S("headGroupSpec.template.spec.volumes", [{"name": "gcs-storage", "emptyDir": {}}]),
        gates=ROCKSDB,
    ),
    case(
        "redis-backend-with-storage",
        f"{GCS}.storage",
        S("gcsFaultToleranceOptions", {"redisAddress": "r:6379", "storage": {"size": "1Gi"}}),
    ),
    case(
        "redis-backend-without-address",
        f"{GCS}.redisAddress",
        S("gcsFaultToleranceOptions", {"backend": "redis"}),
    ),
    # autoscaler
    case(
        "suspended-group-without-gate",
        f"{WP}.suspend",
        S(f"{W0}.suspend", True),
        gates=FeatureGates(RayJobDeletionPolicy=False),
    ),
    case(
        "suspended-group-with-autoscaling",
        f"{WP}.suspend",
        S(f"{W0}.suspend", True),
        S("enableInTreeAutoscaling", True),
    ),
    case(
        "v2-env-true-without-autoscaling",
        "{c}.enableInTreeAutoscaling",
        ENV(HEAD_C, "RAY_enable_autoscaler_v2", "true"),
    ),
    case(
        "v2-env-1-without-autoscaling",
        "{c}.enableInTreeAutoscaling",
        ENV(HEAD_C, "RAY_enable_autoscaler_v2", "1"),
    ),
    case(
        "v2-env-and-version",
        "{c}.autoscalerOptions.version",
        V2,
        ENV(HEAD_C, "RAY_enable_autoscaler_v2", "true"),
    ),
    case(
        "v2-env-false-and-version",
        "{c}.autoscalerOptions.version",
        S("enableInTreeAutoscaling", True),
        S("autoscalerOptions", {"version": "v1"}),
        ENV(HEAD_C, "RAY_enable_autoscaler_v2", "0"),
    ),
    case(
        "v2-head-restart-always",
        "{c}.headGroupSpec.template.spec.restartPolicy",
        V2,
        S("headGroupSpec.template.spec.restartPolicy", "Always"),
    ),
    case(
        "v2-worker-restart-on-failure",
        f"{WP}.template.spec.restartPolicy",
        V2,
        S(f"{W0}.template.spec.restartPolicy", "OnFailure"),
    ),
    case(
        "autoscaler-idle-timeout-negative",
        "{c}.autoscalerOptions.idleTimeoutSeconds",
        S("enableInTreeAutoscaling", True),
        S("autoscalerOptions", {"idleTimeoutSeconds": -1}),
    ),
    case(
        "autoscaler-gen-start-cmd-env",
        "{c}.autoscalerOptions.env[1]",
        S("enableInTreeAutoscaling", True),
        S(
            "autoscalerOptions",
            {
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": "ray start"},
                ]
            },
        ),
    ),
    # auth
    case(
        "token-old-ray",
        "{c}.authOptions.mode",
        S("rayVersion", "2.51.0"),
        S("authOptions", {"mode": "token"}),
    ),
    case(
        "token-ray-version-unset",
        "{c}.authOptions.mode",
        D("rayVersion"),
        S("authOptions", {"mode": "token"}),
    ),
    case(
        "k8s-auth-old-ray",
        "spec.authOptions.enableK8sTokenAuth",
        K8S_AUTH("2.54.0"),
        kinds=("RayCluster",),
    ),
    case(
        "k8s-auth-with-secret",
        "spec.authOptions.secretName",
        K8S_AUTH(secretName="s"),
        kinds=("RayCluster",),
    ),
    case(
        "k8s-auth-mode-disabled",
        "spec.authOptions.mode",
        K8S_AUTH(mode="disabled"),
        kinds=("RayCluster",),
    ),
    case(
        "k8s-auth-mode-unset",
        "spec.authOptions.mode",
        S("authOptions", {"enableK8sTokenAuth": True}),
        kinds=("RayCluster",),
    ),
    case(
        "k8s-auth-in-rayjob-or-rayservice",
        "{c}.authOptions.enableK8sTokenAuth",
        K8S_AUTH(),
        kinds=("RayJob", "RayService"),
    ),
    # alpha gates and the rules behind them
    case(
        "network-policy-without-gate", "{c}.networkPolicy", S("networkPolicy", {"mode": "DenyAll"})
    ),
    case("tls-without-gate", "{c}.tlsOptions", S("tlsOptions", {"enabled": True})),
    case(
        "history-server-without-gate",
        "{c}.historyServerOptions",
        S("historyServerOptions", {"collectorOptions": {"image": "c:1"}}),
    ),
    case(
        "tls-env-on-head",
        f"{HEAD_ENV}[0]",
        S("tlsOptions", {"enabled": True}),
        ENV(HEAD_C, "RAY_USE_TLS", "1"),
        gates=ALPHA,
    ),
    case(
        "tls-env-on-worker",
        f"{WP}.template.spec.containers[0].env[0]",
        S("tlsOptions", {"enabled": True}),
        ENV(W0_C, "RAY_TLS_SERVER_CERT", "/c"),
        gates=ALPHA,
    ),
    case(
        "tls-mount-name-on-worker",
        f"{WP}.template.spec.containers[0].volumeMounts[0]",
        S("tlsOptions", {"enabled": True}),
        MOUNT(W0_C, "ray-tls", "/x"),
        gates=ALPHA,
    ),
    case(
        "tls-mount-path-on-head",
        "{c}.headGroupSpec.template.spec.containers[0].volumeMounts[0]",
        S("tlsOptions", {"enabled": True}),
        MOUNT(HEAD_C, "certs", "/etc/ray/tls"),
        gates=ALPHA,
    ),
    case(
        "tls-env-in-autoscaler",
        "{c}.autoscalerOptions.env[0]",
        S("tlsOptions", {"enabled": True}),
        S("autoscalerOptions", {"env": [{"name": "RAY_TLS_CA_CERT", "value": "/ca"}]}),
        gates=ALPHA,
    ),
    case(
        "tls-mount-in-autoscaler",
        "{c}.autoscalerOptions.volumeMounts[0]",
        S("tlsOptions", {"enabled": True}),
        S("autoscalerOptions", {"volumeMounts": [{"name": "c", "mountPath": "/etc/ray/tls"}]}),
        gates=ALPHA,
    ),
    # managedBy (CRD enum)
    case("managed-by-unknown", "{c}.managedBy", S("managedBy", "me")),
]


def _rule_params() -> list[Any]:
    out = []
    for param in CLUSTER_RULES:
        ops, path, gates, kinds = param.values
        for kind in kinds:
            out.append(
                pytest.param(kind, ops, path.format(c=PREFIX[kind]), gates, id=f"{param.id}-{kind}")
            )
    return out


@pytest.mark.parametrize(("kind", "ops", "path", "gates"), _rule_params())
def test_cluster_spec_rule(
    make: Callable[[str], dict[str, Any]],
    kind: str,
    ops: list[Op],
    path: str,
    gates: FeatureGates | None,
) -> None:
    assert_rejected(_mutated(kind, make, ops), path, gates)


CLUSTER_CONTROLS = [
    case("min-equals-max", "", S(f"{W0}.minReplicas", 2)),
    case("num-cpus-without-resources", "", S("headGroupSpec.rayStartParams.num-cpus", "0")),
    case("resources-without-params", "", S(f"{W0}.resources", {"CPU": "2", "GPU": "1"})),
    case(
        "empty-resources-with-num-cpus",
        "",
        S(f"{W0}.resources", {}),
        S(f"{W0}.rayStartParams.num-cpus", "1"),
    ),
    case(
        "resources-param-json",
        "",
        S("headGroupSpec.rayStartParams.resources", '"{\\"Graviton\\": 1}"'),
    ),
    case(
        "good-labels",
        "",
        S(f"{W0}.labels", {"ray.io/accelerator": "A100", "zone": "", "a.b-c_d": "x.y-z_1"}),
    ),
    case("idle-timeout-v2", "", V2, S(f"{W0}.idleTimeoutSeconds", 0)),
    case(
        "idle-timeout-v2-env",
        "",
        S("enableInTreeAutoscaling", True),
        ENV(HEAD_C, "RAY_enable_autoscaler_v2", "true"),
        S(f"{W0}.idleTimeoutSeconds", 30),
    ),
    case("priority-zero-is-the-default", "", S(f"{W0}.priority", 0)),
    case("priority-v2-new-ray", "", V2, S("rayVersion", "2.56.0"), S(f"{W0}.priority", 5)),
    case(
        "ft-options",
        "",
        FT_OPTS,
        S(
            "gcsFaultToleranceOptions.redisPassword",
            {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ),
    ),
    case(
        "ft-annotation-with-env",
        "",
        ANN("ray.io/ft-enabled", "true"),
        ENV(HEAD_C, "RAY_REDIS_ADDRESS", "redis:6379"),
        ENV(HEAD_C, "REDIS_PASSWORD", "p"),
    ),
    case(
        "ft-annotation-any-case",
        "",
        ANN("ray.io/ft-enabled", "True"),
        ENV(HEAD_C, "RAY_REDIS_ADDRESS", "redis:6379"),
    ),
    case("empty-ft-annotation-with-options", "", ANN("ray.io/ft-enabled", ""), FT_OPTS),
    case(
        "rocksdb-with-gate",
        "",
        ROCKS(storage={"size": "1Gi", "storageClassName": "fast"}),
        gates=ROCKSDB,
    ),
    case(
        "rocksdb-claim-only",
        "",
        ROCKS(storage={"claimName": "pvc", "subPath": "gcs"}),
        gates=ROCKSDB,
    ),
    case("suspended-group", "", S(f"{W0}.suspend", True)),
    case(
        "v2-restart-never",
        "",
        V2,
        S("headGroupSpec.template.spec.restartPolicy", "Never"),
        S(f"{W0}.template.spec.restartPolicy", "Never"),
    ),
    case(
        "v2-version-without-autoscaling",
        "",
        S("autoscalerOptions", {"version": "v2"}),
        S(f"{W0}.template.spec.restartPolicy", "Always"),
    ),
    case("v2-env-false-without-autoscaling", "", ENV(HEAD_C, "RAY_enable_autoscaler_v2", "false")),
    case(
        "autoscaler-options",
        "",
        S("enableInTreeAutoscaling", True),
        S(
            "autoscalerOptions",
            {
                "idleTimeoutSeconds": 0,
                "upscalingMode": "Aggressive",
                "env": [{"name": "X", "value": "1"}],
            },
        ),
    ),
    case("token-auth", "", S("rayVersion", "2.52.0"), S("authOptions", {"mode": "token"})),
    case("auth-disabled", "", D("rayVersion"), S("authOptions", {"mode": "disabled"})),
    case("k8s-auth", "", K8S_AUTH(), kinds=("RayCluster",)),
    case(
        "alpha-with-gates",
        "",
        S("networkPolicy", {"mode": "DenyAll"}),
        S("tlsOptions", {"enabled": True}),
        S(
            "historyServerOptions",
            {
                "collectorOptions": {
                    "image": "c:1",
                    "env": [
                        {"name": "STORAGE_BACKEND", "value": "S3"},
                        {"name": "S3_REGION", "value": "r"},
                    ],
                }
            },
        ),
        gates=ALPHA,
    ),
    case(
        "tls-disabled-env",
        "",
        S("tlsOptions", {"enabled": False}),
        ENV(HEAD_C, "RAY_USE_TLS", "1"),
        gates=ALPHA,
    ),
    case("managed-by-kueue", "", S("managedBy", "kueue.x-k8s.io/multikueue")),
]


def _control_params() -> list[Any]:
    out = []
    for param in CLUSTER_CONTROLS:
        ops, _, gates, kinds = param.values
        for kind in kinds:
            out.append(pytest.param(kind, ops, gates, id=f"{param.id}-{kind}"))
    return out


@pytest.mark.parametrize(("kind", "ops", "gates"), _control_params())
def test_cluster_spec_accepts(
    make: Callable[[str], dict[str, Any]], kind: str, ops: list[Op], gates: FeatureGates | None
) -> None:
    assert_accepted(_mutated(kind, make, ops), gates)


def test_upgrade_strategy_only_on_standalone_clusters(
    make: Callable[[str], dict[str, Any]],
) -> None:
    for kind in KINDS:
        doc = _mutated(kind, make, [S("upgradeStrategy", {"type": "Recreate"})])
        if kind == "RayCluster":
            assert_accepted(doc)
        else:
            assert_rejected(doc, f"{PREFIX[kind]}.upgradeStrategy.type")


def test_cluster_upgrade_type_is_recreate_or_none(raycluster: dict[str, Any]) -> None:
    raycluster["spec"]["upgradeStrategy"] = {"type": "None"}
    assert_accepted(raycluster)
    raycluster["spec"]["upgradeStrategy"] = {"type": "Rolling"}
    report = assert_rejected(raycluster, "spec.upgradeStrategy.type")
    assert "Recreate" in str(report.errors[0])


def test_all_cluster_errors_reported_together(raycluster: dict[str, Any]) -> None:
    """KubeRay stops at the first problem; rayplane lists every one."""
    ops = [
        S(f"{W0}.minReplicas", 5),
        S("headGroupSpec.rayStartParams.labels", "a=b"),
        ENV(HEAD_C, "REDIS_USERNAME"),
        S("managedBy", "me"),
    ]
    doc = _mutated("RayCluster", lambda kind: raycluster, ops)
    report = validate(doc)
    assert {
        "spec.workerGroupSpecs[0].minReplicas",
        "spec.headGroupSpec.rayStartParams.labels",
        "spec.headGroupSpec.template.spec.containers[0].env[0]",
        "spec.managedBy",
    } <= {f.path for f in report.errors}


def test_missing_min_max_without_autoscaling_is_a_warning(raycluster: dict[str, Any]) -> None:
    """KubeRay's CRD defaults min 0 / max MaxInt32 before its "required" check runs, so the
    check never fires for applied objects; rayplane accepts and warns instead."""
    group = raycluster["spec"]["workerGroupSpecs"][0]
    del group["minReplicas"], group["maxReplicas"]
    report = assert_accepted(raycluster)
    assert [w.path for w in report.warnings] == ["spec.workerGroupSpecs[0]"]
    assert "minReplicas and maxReplicas" in report.warnings[0].message
    raycluster["spec"]["enableInTreeAutoscaling"] = True
    assert validate(raycluster).warnings == []


# ---------------------------------------------------------------- RayJob rules


def RULES(*rules: tuple[str, str, int]) -> Op:
    """deletionRules from (policy, jobStatus, ttlSeconds) triples."""
    body = [{"policy": p, "condition": {"jobStatus": s, "ttlSeconds": t}} for p, s, t in rules]
    return J("spec.deletionStrategy", {"deletionRules": body})


def LEGACY(on_success: str | None, on_failure: str | None) -> Op:
    strategy: dict[str, Any] = {}
    if on_success is not None:
        strategy["onSuccess"] = {"policy": on_success}
    if on_failure is not None:
        strategy["onFailure"] = {"policy": on_failure}
    return J("spec.deletionStrategy", strategy)


def SELECTOR(doc: dict[str, Any], cluster: dict[str, Any]) -> None:
    del doc["spec"]["rayClusterSpec"]
    doc["spec"]["clusterSelector"] = {"ray.io/cluster": "shared"}


SHUTDOWN = J("spec.shutdownAfterJobFinishes", True)
AUTOSCALING = S("enableInTreeAutoscaling", True)
DR = "spec.deletionStrategy.deletionRules"

JOB_RULES = [
    case("suspend-without-shutdown", "spec.suspend", J("spec.suspend", True)),
    case(
        "ttl-negative",
        "spec.ttlSecondsAfterFinished",
        SHUTDOWN,
        J("spec.ttlSecondsAfterFinished", -1),
    ),
    case(
        "ttl-without-shutdown",
        "spec.ttlSecondsAfterFinished",
        J("spec.ttlSecondsAfterFinished", 60),
    ),
    case(
        "deletion-strategy-without-gate",
        "spec.deletionStrategy",
        RULES(("DeleteCluster", "SUCCEEDED", 0)),
        gates=FeatureGates(RayJobDeletionPolicy=False),
    ),
    case("deletion-strategy-empty", "spec.deletionStrategy", J("spec.deletionStrategy", {})),
    case(
        "deletion-rules-empty-list",
        "spec.deletionStrategy",
        J("spec.deletionStrategy", {"deletionRules": []}),
    ),
    case(
        "rules-and-shutdown",
        "spec.shutdownAfterJobFinishes",
        SHUTDOWN,
        RULES(("DeleteCluster", "SUCCEEDED", 0)),
    ),
    case(
        "rules-and-legacy",
        "spec.deletionStrategy",
        J(
            "spec.deletionStrategy",
            {
                "onSuccess": {"policy": "DeleteCluster"},
                "deletionRules": [
                    {"policy": "DeleteCluster", "condition": {"jobStatus": "FAILED"}}
                ],
            },
        ),
    ),
    case(
        "legacy-without-on-failure",
        "spec.deletionStrategy.onFailure",
        LEGACY("DeleteCluster", None),
    ),
    case(
        "legacy-without-on-success",
        "spec.deletionStrategy.onSuccess",
        LEGACY(None, "DeleteCluster"),
    ),
    case(
        "legacy-without-policy",
        "spec.deletionStrategy.onSuccess",
        J("spec.deletionStrategy", {"onSuccess": {}, "onFailure": {"policy": "DeleteSelf"}}),
    ),
    case(
        "rule-with-both-statuses",
        f"{DR}[0].condition",
        J(
            "spec.deletionStrategy",
            {
                "deletionRules": [
                    {
                        "policy": "DeleteSelf",
                        "condition": {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed"},
                    }
                ]
            },
        ),
    ),
    case(
        "rule-without-status",
        f"{DR}[0].condition",
        J(
            "spec.deletionStrategy",
            {"deletionRules": [{"policy": "DeleteSelf", "condition": {"ttlSeconds": 10}}]},
        ),
    ),
    case(
        "rule-ttl-negative", f"{DR}[0].condition.ttlSeconds", RULES(("DeleteCluster", "FAILED", -1))
    ),
    case(
        "rule-repeated",
        f"{DR}[1]",
        RULES(("DeleteCluster", "FAILED", 10), ("DeleteCluster", "FAILED", 20)),
    ),
    case(
        "ttl-workers-after-cluster",
        DR,
        RULES(("DeleteWorkers", "SUCCEEDED", 20), ("DeleteCluster", "SUCCEEDED", 10)),
    ),
    case(
        "ttl-self-before-cluster",
        DR,
        RULES(("DeleteCluster", "FAILED", 10), ("DeleteSelf", "FAILED", 5)),
    ),
    case(
        "ttl-self-before-workers",
        DR,
        RULES(("DeleteWorkers", "FAILED", 10), ("DeleteSelf", "FAILED", 5)),
    ),
    case(
        "selector-and-delete-cluster-rule",
        f"{DR}[0].policy",
        SELECTOR,
        RULES(("DeleteCluster", "SUCCEEDED", 0)),
    ),
    case(
        "selector-and-delete-workers-legacy",
        "spec.deletionStrategy.onFailure.policy",
        SELECTOR,
        LEGACY("DeleteSelf", "DeleteWorkers"),
    ),
    case(
        "autoscaling-and-delete-workers-rule",
        f"{DR}[1].policy",
        AUTOSCALING,
        RULES(("DeleteSelf", "FAILED", 60), ("DeleteWorkers", "SUCCEEDED", 0)),
    ),
    case(
        "autoscaling-and-delete-workers-legacy",
        "spec.deletionStrategy.onSuccess.policy",
        AUTOSCALING,
        LEGACY("DeleteWorkers", "DeleteCluster"),
    ),
    case(
        "shutdown-and-delete-none",
        "spec.deletionStrategy.onFailure.policy",
        SHUTDOWN,
        LEGACY("DeleteCluster", "DeleteNone"),
    ),
    case(
        "neither-cluster-spec-nor-selector",
        "spec",
        lambda doc, cluster: doc["spec"].pop("rayClusterSpec"),
    ),
    case(
        "selector-without-cluster-key",
        "spec.clusterSelector",
        SELECTOR,
        J("spec.clusterSelector", {"app": "x"}),
    ),
    case(
        "selector-empty-cluster-name",
        "spec.clusterSelector",
        SELECTOR,
        J("spec.clusterSelector", {"ray.io/cluster": ""}),
    ),
    case("selector-and-suspend", "spec.suspend", SELECTOR, SHUTDOWN, J("spec.suspend", True)),
    case(
        "selector-and-sidecar",
        "spec.submissionMode",
        SELECTOR,
        J("spec.submissionMode", "SidecarMode"),
    ),
    case(
        "interactive-and-backoff",
        "spec.backoffLimit",
        J("spec.submissionMode", "InteractiveMode"),
        J("spec.backoffLimit", 1),
    ),
    case(
        "sidecar-and-submitter-template",
        "spec.submitterPodTemplate",
        J("spec.submissionMode", "SidecarMode"),
        J("spec.submitterPodTemplate", {"spec": {"containers": [{"name": "s"}]}}),
    ),
    case(
        "sidecar-and-submitter-config",
        "spec.submitterConfig",
        J("spec.submissionMode", "SidecarMode"),
        J("spec.submitterConfig", {"backoffLimit": 1}),
    ),
    case(
        "sidecar-head-restart-always",
        "spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy",
        J("spec.submissionMode", "SidecarMode"),
        S("headGroupSpec.template.spec.restartPolicy", "Always"),
    ),
    case("runtime-env-not-yaml", "spec.runtimeEnvYAML", J("spec.runtimeEnvYAML", "pip: [a")),
    case(
        "runtime-env-not-a-mapping",
        "spec.runtimeEnvYAML",
        J("spec.runtimeEnvYAML", "- pandas\n- numpy\n"),
    ),
    case("active-deadline-zero", "spec.activeDeadlineSeconds", J("spec.activeDeadlineSeconds", 0)),
    case(
        "pre-running-deadline-negative",
        "spec.preRunningDeadlineSeconds",
        J("spec.preRunningDeadlineSeconds", -5),
    ),
    case("backoff-negative", "spec.backoffLimit", J("spec.backoffLimit", -1)),
    case(
        "waiting-outside-interactive",
        "status.jobDeploymentStatus",
        J("status", {"jobDeploymentStatus": "Waiting"}),
    ),
    case("entrypoint-missing", "spec.entrypoint", lambda doc, c: doc["spec"].pop("entrypoint")),
    case(
        "embedded-cluster-invalid",
        "spec.rayClusterSpec.workerGroupSpecs[0].minReplicas",
        S(f"{W0}.minReplicas", 9),
    ),
]


@pytest.mark.parametrize(("ops", "path", "gates", "kinds"), JOB_RULES)
def test_rayjob_rule(
    make: Callable[[str], dict[str, Any]],
    ops: list[Op],
    path: str,
    gates: FeatureGates | None,
    kinds: tuple[str, ...],
) -> None:
    assert_rejected(_mutated("RayJob", make, ops), path, gates)


JOB_CONTROLS = [
    # KubeRay: a clusterSelector wins over rayClusterSpec; both together are valid.
    case("cluster-spec-and-selector", "", J("spec.clusterSelector", {"ray.io/cluster": "c"})),
    # KubeRay: retries with a clusterSelector resubmit to the same cluster; not an error.
    case("selector-with-retries", "", SELECTOR, J("spec.backoffLimit", 2)),
    case("suspend-with-shutdown", "", SHUTDOWN, J("spec.suspend", True)),
    case("ttl-with-shutdown", "", SHUTDOWN, J("spec.ttlSecondsAfterFinished", 60)),
    case(
        "rules-ordered",
        "",
        RULES(
            ("DeleteWorkers", "SUCCEEDED", 0),
            ("DeleteCluster", "SUCCEEDED", 10),
            ("DeleteSelf", "SUCCEEDED", 10),
            ("DeleteCluster", "FAILED", 600),
        ),
    ),
    case(
        "rule-per-status-kind",
        "",
        J(
            "spec.deletionStrategy",
            {
                "deletionRules": [
                    {
                        "policy": "DeleteCluster",
                        "condition": {"jobStatus": "FAILED", "ttlSeconds": 30},
                    },
                    {"policy": "DeleteCluster", "condition": {"jobDeploymentStatus": "Failed"}},
                ]
            },
        ),
    ),
    case("legacy", "", LEGACY("DeleteCluster", "DeleteNone")),
    case("selector-delete-self", "", SELECTOR, RULES(("DeleteSelf", "SUCCEEDED", 0))),
    case("selector", "", SELECTOR),
    case(
        "interactive-without-entrypoint",
        "",
        J("spec.submissionMode", "InteractiveMode"),
        lambda doc, c: doc["spec"].pop("entrypoint"),
        J("status", {"jobDeploymentStatus": "Waiting"}),
    ),
    case(
        "sidecar",
        "",
        J("spec.submissionMode", "SidecarMode"),
        S("headGroupSpec.template.spec.restartPolicy", "Never"),
    ),
    case("http-mode", "", J("spec.submissionMode", "HTTPMode"), J("spec.backoffLimit", 3)),
    case("runtime-env", "", J("spec.runtimeEnvYAML", "pip: [pandas]\nworking_dir: ./src\n")),
    case(
        "deadlines", "", J("spec.activeDeadlineSeconds", 1), J("spec.preRunningDeadlineSeconds", 1)
    ),
    case("token-auth", "", S("authOptions", {"mode": "token"})),
]


@pytest.mark.parametrize(("ops", "path", "gates", "kinds"), JOB_CONTROLS)
def test_rayjob_accepts(
    make: Callable[[str], dict[str, Any]],
    ops: list[Op],
    path: str,
    gates: FeatureGates | None,
    kinds: tuple[str, ...],
) -> None:
    assert_accepted(_mutated("RayJob", make, ops), gates)


# ---------------------------------------------------------------- RayService rules

TIMEOUT = "ray.io/initializing-timeout"
INCREMENTAL = [
    AUTOSCALING,
    J(
        "spec.upgradeStrategy",
        {
            "type": "NewClusterWithIncrementalUpgrade",
            "clusterUpgradeOptions": {
                "maxSurgePercent": 50,
                "stepSizePercent": 25,
                "intervalSeconds": 30,
                "gatewayClassName": "istio",
            },
        },
    ),
]
CUO = "spec.upgradeStrategy.clusterUpgradeOptions"


def CUO_SET(**values: Any) -> Op:
    def op(doc: dict[str, Any], cluster: dict[str, Any]) -> None:
        options = doc["spec"]["upgradeStrategy"]["clusterUpgradeOptions"]
        for key, value in values.items():
            if value is None:
                options.pop(key, None)
            else:
                options[key] = value

    return op


SERVICE_RULES = [
    *[
        case(f"initializing-timeout-{v}", f"metadata.annotations[{TIMEOUT}]", ANN(TIMEOUT, v))
        for v in ("0", "0s", "-5m", "-30", "soon", "5 m", "1e3")
    ],
    case(
        "head-service-name",
        "spec.rayClusterConfig.headGroupSpec.headService.metadata.name",
        S("headGroupSpec.headService", {"metadata": {"name": "fixed"}}),
    ),
    case(
        "deletion-delay-negative",
        "spec.rayClusterDeletionDelaySeconds",
        J("spec.rayClusterDeletionDelaySeconds", -1),
    ),
    case(
        "upgrade-type-unknown",
        "spec.upgradeStrategy.type",
        J("spec.upgradeStrategy", {"type": "BlueGreen"}),
    ),
    case(
        "incremental-without-gate",
        "spec.upgradeStrategy.type",
        INCREMENTAL,
        gates=FeatureGates(RayServiceIncrementalUpgrade=False),
    ),
    case(
        "incremental-without-autoscaler",
        "spec.rayClusterConfig.enableInTreeAutoscaling",
        INCREMENTAL,
        S("enableInTreeAutoscaling", False),
    ),
    case(
        "incremental-without-options",
        CUO,
        INCREMENTAL,
        lambda doc, c: doc["spec"]["upgradeStrategy"].pop("clusterUpgradeOptions"),
    ),
    case(
        "max-surge-above-100", f"{CUO}.maxSurgePercent", INCREMENTAL, CUO_SET(maxSurgePercent=101)
    ),
    case("max-surge-negative", f"{CUO}.maxSurgePercent", INCREMENTAL, CUO_SET(maxSurgePercent=-1)),
    case(
        "step-above-100",
        f"{CUO}.stepSizePercent",
        INCREMENTAL,
        CUO_SET(maxSurgePercent=None, stepSizePercent=101),
    ),
    case("step-negative", f"{CUO}.stepSizePercent", INCREMENTAL, CUO_SET(stepSizePercent=-1)),
    case(
        "step-above-max-surge", f"{CUO}.stepSizePercent", INCREMENTAL, CUO_SET(stepSizePercent=60)
    ),
    case("step-missing", f"{CUO}.stepSizePercent", INCREMENTAL, CUO_SET(stepSizePercent=None)),
    case("interval-zero", f"{CUO}.intervalSeconds", INCREMENTAL, CUO_SET(intervalSeconds=0)),
    case("interval-missing", f"{CUO}.intervalSeconds", INCREMENTAL, CUO_SET(intervalSeconds=None)),
    case(
        "gateway-class-missing",
        f"{CUO}.gatewayClassName",
        INCREMENTAL,
        CUO_SET(gatewayClassName=None),
    ),
    case(
        "gateway-class-empty", f"{CUO}.gatewayClassName", INCREMENTAL, CUO_SET(gatewayClassName="")
    ),
    case("serve-config-not-yaml", "spec.serveConfigV2", J("spec.serveConfigV2", "applications: [")),
    case(
        "serve-config-without-applications",
        "spec.serveConfigV2",
        J("spec.serveConfigV2", "http_options: {port: 8000}\n"),
    ),
    case(
        "serve-app-without-import-path",
        "spec.serveConfigV2.applications[0]",
        J("spec.serveConfigV2", "applications:\n- name: a\n"),
    ),
    case(
        "embedded-cluster-invalid",
        "spec.rayClusterConfig.workerGroupSpecs[0].maxReplicas",
        S(f"{W0}.maxReplicas", -2),
    ),
]


@pytest.mark.parametrize(("ops", "path", "gates", "kinds"), SERVICE_RULES)
def test_rayservice_rule(
    make: Callable[[str], dict[str, Any]],
    ops: list[Op],
    path: str,
    gates: FeatureGates | None,
    kinds: tuple[str, ...],
) -> None:
    assert_rejected(_mutated("RayService", make, ops), path, gates)


SERVICE_CONTROLS = [
    *[
        case(f"initializing-timeout-{v}", "", ANN(TIMEOUT, v))
        for v in ("10m", "90s", "1h30m", "1.5h", ".5s", "+2m", "300", "")
    ],
    case("incremental", "", INCREMENTAL),
    case(
        "incremental-default-surge",
        "",
        INCREMENTAL,
        CUO_SET(maxSurgePercent=None, stepSizePercent=100),
    ),
    case("incremental-step-zero", "", INCREMENTAL, CUO_SET(stepSizePercent=0)),
    case("new-cluster", "", J("spec.upgradeStrategy", {"type": "NewCluster"})),
    case("deletion-delay-zero", "", J("spec.rayClusterDeletionDelaySeconds", 0)),
    case(
        "head-service-without-name",
        "",
        S(
            "headGroupSpec.headService",
            {"metadata": {"labels": {"a": "b"}}, "spec": {"type": "ClusterIP"}},
        ),
    ),
]


@pytest.mark.parametrize(("ops", "path", "gates", "kinds"), SERVICE_CONTROLS)
def test_rayservice_accepts(
    make: Callable[[str], dict[str, Any]],
    ops: list[Op],
    path: str,
    gates: FeatureGates | None,
    kinds: tuple[str, ...],
) -> None:
    assert_accepted(_mutated("RayService", make, ops), gates)


def test_deprecated_service_thresholds_only_warn(rayservice: dict[str, Any]) -> None:
    rayservice["spec"]["serviceUnhealthySecondThreshold"] = 900
    report = assert_accepted(rayservice)
    assert [w.path for w in report.warnings] == ["spec.serviceUnhealthySecondThreshold"]


# ---------------------------------------------------------------- the seed examples


def _example(examples_dir: Path, name: str) -> dict[str, Any]:
    docs = list(yaml.safe_load_all((examples_dir / name).read_text()))
    assert len(docs) == 1
    return docs[0]


def test_seed_raycluster_basic_is_valid(examples_dir: Path) -> None:
    report = assert_accepted(_example(examples_dir, "raycluster-basic.yaml"))
    assert report.warnings == []


def test_seed_rayjob_pod_identity_is_rejected_clearly(examples_dir: Path) -> None:
    doc = _example(examples_dir, "rayjob-pod-identity.yaml")
    report = assert_rejected(doc, "spec.rayClusterSpec.headGroupSpec.template.spec.containers")
    paths = {f.path for f in report.errors}
    assert {
        "spec.entrypoint",
        "spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers",
        "spec.rayClusterSpec.workerGroupSpecs[0].groupName",
    } <= paths
    for finding in report.findings:
        text = str(finding)
        assert finding.path in text
        assert text.startswith(f"{finding.path}: ")
        assert text.endswith((".", "?")), text
        assert len(finding.message.split()) >= 3, text


def test_seed_rayservice_fragment_names_its_head_service(examples_dir: Path) -> None:
    doc = _example(examples_dir, "rayservice-ft-fragment.yaml")
    report = assert_rejected(doc, "spec.rayClusterConfig.headGroupSpec.headService.metadata.name")
    # The FT annotation makes its RAY_REDIS_ADDRESS env var legitimate.
    assert [f.path for f in report.errors] == [
        "spec.rayClusterConfig.headGroupSpec.headService.metadata.name"
    ]


def test_entrypoint_not_needed_by_a_submitter_that_runs_its_own_command(
    rayjob: dict[str, Any],
) -> None:
    """KubeRay's light-weight submitter sample: the submitter container's command submits
    the job, so KubeRay's `ray job submit -- <entrypoint>` never runs."""
    rayjob["spec"].pop("entrypoint", None)
    assert "spec.entrypoint" in [e.path for e in validate(copy.deepcopy(rayjob)).errors]
    rayjob["spec"]["submitterPodTemplate"] = {
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "submitter",
                    "image": "kuberay/submitter:v1.5.0",
                    "command": ["/submitter"],
                }
            ],
        }
    }
    assert validate(rayjob).ok
    rayjob["spec"]["submissionMode"] = "HTTPMode"
    assert "spec.entrypoint" in [e.path for e in validate(rayjob).errors]
