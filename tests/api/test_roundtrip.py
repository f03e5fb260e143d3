"""Load -> dump is the identity: no field a user wrote is lost, none is added.

A KubeRay user's manifest carries pod-template fields rayplane does not model (node
selectors, probes, security contexts, fields of future Kubernetes versions); they must come
back out exactly as written, because they are what reaches the Pod.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayplane.api.validation import KINDS, validate

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml")) or sorted(
    Path("/work/shared/examples").glob("*.yaml")
)


def _ray_documents() -> list[Any]:
    params = []
    for path in EXAMPLES:
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if isinstance(doc, dict) and doc.get("apiVersion") == "ray.io/v1":
                params.append(pytest.param(doc, id=f"{path.stem}#{index + 1}"))
    return params


RAY_DOCUMENTS = _ray_documents()


def test_the_seed_examples_include_every_kind() -> None:
    assert {p.values[0]["kind"] for p in RAY_DOCUMENTS} == {"RayCluster", "RayJob", "RayService"}


def roundtrip(doc: dict[str, Any]) -> dict[str, Any]:
    original = copy.deepcopy(doc)
    dumped = KINDS[doc["kind"]].model_validate(doc).wire()
    assert doc == original, "model_validate changed its input"
    return dumped


@pytest.mark.parametrize("doc", RAY_DOCUMENTS)
def test_seed_example_round_trips(doc: dict[str, Any]) -> None:
    """Even the semantically invalid seeds parse, and dump exactly as written."""
    assert roundtrip(doc) == doc


@pytest.mark.parametrize("kind", list(KINDS))
def test_minimal_documents_round_trip(make: Callable[[str], dict[str, Any]], kind: str) -> None:
    doc = make(kind)
    assert roundtrip(doc) == doc


POD_TEMPLATE: dict[str, Any] = {
    "metadata": {
        "labels": {"app": "ray", "team": "data"},
        "annotations": {"sidecar.istio.io/inject": "false"},
        "finalizers": ["example.com/keep"],
    },
    "spec": {
        "serviceAccountName": "raydata",
        "restartPolicy": "Never",
        "nodeSelector": {
            "kubernetes.io/arch": "arm64",
            "node.kubernetes.io/instance-type": "m8g.2xlarge",
        },
        "tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "spot",
                "operator": "Equal",
                "value": "true",
                "effect": "NoExecute",
                "tolerationSeconds": 30,
            },
        ],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "topology.kubernetes.io/zone",
                                    "operator": "In",
                                    "values": ["us-east-1a", "us-east-1b"],
                                }
                            ]
                        }
                    ]
                }
            },
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": "ray"}},
                        },
                    }
                ]
            },
        },
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}},
            {
                "name": "cfg",
                "configMap": {
                    "name": "ray-cfg",
                    "defaultMode": 420,
                    "items": [{"key": "a", "path": "a.yaml"}],
                },
            },
        ],
        "securityContext": {
            "runAsUser": 1000,
            "runAsNonRoot": True,
            "fsGroup": 100,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "imagePullSecrets": [{"name": "registry"}],
        "priorityClassName": "high",
        "hostNetwork": False,
        "terminationGracePeriodSeconds": 120,
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}
        ],
        "schedulingGates": [{"name": "example.com/wait"}],
        "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
        "futurePodField": {"nested": [1, 2.5, None, True, "x"]},
        "initContainers": [
            {
                "name": "init",
                "image": "busybox",
                "command": ["sh", "-c", "true"],
                "restartPolicy": "Always",
            }
        ],
        "containers": [
            {
                "name": "ray-head",
                "image": "rayproject/ray:2.60.0",
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/bash", "-lc", "--"],
                "args": ["ulimit -n 65536; echo head"],
                "workingDir": "/home/ray",
                "ports": [
                    {"containerPort": 6379, "name": "gcs", "protocol": "TCP"},
                    {"containerPort": 8265, "name": "dashboard", "hostPort": 8265},
                ],
                "env": [
                    {"name": "A", "value": "1"},
                    {
                        "name": "POD_IP",
                        "valueFrom": {
                            "fieldRef": {"fieldPath": "status.podIP", "apiVersion": "v1"}
                        },
                    },
                    {
                        "name": "PW",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw", "optional": True}},
                    },
                    {
                        "name": "MEM",
                        "valueFrom": {
                            "resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}
                        },
                    },
                    {"name": "EMPTY"},
                ],
                "envFrom": [{"configMapRef": {"name": "env"}, "prefix": "X_"}],
                "resources": {
                    "limits": {"cpu": 2, "memory": "8Gi", "nvidia.com/gpu": 1},
                    "requests": {"cpu": "500m", "memory": 4294967296, "ephemeral-storage": 0.5},
                },
                "volumeMounts": [
                    {"name": "dshm", "mountPath": "/dev/shm"},
                    {"name": "data", "mountPath": "/data", "readOnly": True, "subPath": "x"},
                ],
                "livenessProbe": {
                    "exec": {"command": ["bash", "-c", "wget -q localhost:8265"]},
                    "initialDelaySeconds": 30,
                    "periodSeconds": 5,
                    "timeoutSeconds": 2,
                    "failureThreshold": 120,
                },
                "readinessProbe": {"httpGet": {"path": "/-/healthz", "port": 8000}},
                "startupProbe": {"tcpSocket": {"port": 6379}},
                "lifecycle": {"preStop": {"exec": {"command": ["ray", "stop"]}}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"add": ["SYS_PTRACE"], "drop": ["ALL"]},
                    "privileged": False,
                },
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "stdin": False,
                "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                "futureContainerField": {"a": {"b": ["c"]}},
            }
        ],
    },
}


def _everything_cluster_spec() -> dict[str, Any]:
    worker_template = copy.deepcopy(POD_TEMPLATE)
    worker_template["spec"]["containers"][0]["name"] = "ray-worker"
    return {
        "rayVersion": "2.60.0",
        "enableInTreeAutoscaling": True,
        "autoscalerOptions": {
            "version": "v2",
            "upscalingMode": "Default",
            "idleTimeoutSeconds": 60,
            "image": "rayproject/ray:2.60.0",
            "imagePullPolicy": "Always",
            "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
            "securityContext": {"runAsUser": 1000},
            "env": [{"name": "X", "value": "y"}],
            "envFrom": [{"secretRef": {"name": "s"}}],
            "volumeMounts": [{"name": "logs", "mountPath": "/tmp/ray"}],
            "command": ["ray"],
            "args": ["--verbose"],
        },
        "headServiceAnnotations": {"a": "b"},
        "gcsFaultToleranceOptions": {
            "redisAddress": "redis:6379",
            "externalStorageNamespace": "ns",
            "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "redis", "key": "pw"}}},
            "redisUsername": {"value": "default"},
        },
        "headGroupSpec": {
            "serviceType": "ClusterIP",
            "enableIngress": False,
            "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
            "labels": {"ray.io/market-type": "on-demand"},
            "headService": {
                "metadata": {"labels": {"x": "y"}},
                "spec": {"type": "LoadBalancer", "loadBalancerClass": "lb"},
            },
            "template": copy.deepcopy(POD_TEMPLATE),
        },
        "workerGroupSpecs": [
            {
                "groupName": "gpu",
                "replicas": 1,
                "minReplicas": 0,
                "maxReplicas": 4,
                "numOfHosts": 1,
                "idleTimeoutSeconds": 120,
                "priority": 0,
                "scaleStrategy": {"workersToDelete": ["gpu-abc"]},
                "rayStartParams": {"resources": '"{\\"A100\\": 1}"'},
                "labels": {"accelerator": "a100"},
                "template": worker_template,
            }
        ],
    }


def test_unmodelled_pod_template_fields_survive_a_raycluster() -> None:
    doc = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {
            "name": "everything",
            "namespace": "ns",
            "labels": {"a": "b"},
            "annotations": {"note": "x"},
            "uid": "1234",
            "generation": 3,
            "resourceVersion": "99",
            "ownerReferences": [{"kind": "X", "name": "y"}],
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        },
        "spec": _everything_cluster_spec(),
        "status": {
            "state": "ready",
            "readyWorkerReplicas": 1,
            "desiredCPU": "2",
            "head": {"podIP": "10.0.0.1", "serviceIP": "10.0.0.2", "podName": "h"},
            "conditions": [
                {
                    "type": "HeadPodReady",
                    "status": "True",
                    "reason": "Ready",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
            "futureStatusField": 1,
        },
    }
    assert roundtrip(doc) == doc
    report = validate(doc)
    assert report.ok, [str(f) for f in report.errors]
    assert report.resource is not None and report.resource.wire() == doc


def test_unmodelled_fields_survive_a_rayjob_and_a_rayservice() -> None:
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "j"},
        "spec": {
            "entrypoint": "python x.py",
            "runtimeEnvYAML": "pip: [pandas]\n",
            "entrypointNumCpus": 0.5,
            "entrypointResources": '{"A": 1}',
            "metadata": {"owner": "me"},
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 0,
            "activeDeadlineSeconds": 600,
            "submitterPodTemplate": copy.deepcopy(POD_TEMPLATE),
            "submitterConfig": {"backoffLimit": 2},
            "rayClusterSpec": {
                k: v
                for k, v in _everything_cluster_spec().items()
                if k != "gcsFaultToleranceOptions"
            },
        },
        "status": {
            "jobStatus": "RUNNING",
            "dashboardURL": "h:8265",
            "rayJobInfo": {"startTime": "t"},
            "futureField": [1],
        },
    }
    service = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "s"},
        "spec": {
            "serveConfigV2": "applications:\n- name: a\n  import_path: m:app\n",
            "serveService": {"metadata": {"name": "serve"}, "spec": {"ports": [{"port": 80}]}},
            "excludeHeadPodFromServeSvc": True,
            "rayClusterDeletionDelaySeconds": 30,
            "upgradeStrategy": {"type": "NewCluster"},
            "rayClusterConfig": _everything_cluster_spec(),
        },
    }
    for doc in (job, service):
        assert roundtrip(doc) == doc
        assert validate(doc).ok, [str(f) for f in validate(doc).errors]


def test_nothing_is_added_for_defaults(make: Callable[[str], dict[str, Any]]) -> None:
    """CRD defaults (numOfHosts 1, submissionMode K8sJobMode, deletion delay 60...) apply on
    read but are not written back."""
    for kind in KINDS:
        doc = make(kind)
        model = KINDS[kind].model_validate(doc)
        assert model.wire() == doc
    job = KINDS["RayJob"].model_validate(make("RayJob"))
    assert job.spec.submission_mode == "K8sJobMode"  # type: ignore[attr-defined]
    assert "submissionMode" not in job.wire()["spec"]
