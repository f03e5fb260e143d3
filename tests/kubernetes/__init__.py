"""Tests of the Kubernetes runtime's object builders and of `rayplane render`.

Shared helpers: resource documents to start from, and a check of rendered objects against
the Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields are errors) or,
for ray.io/v1 objects, against rayplane's own validation and CRD schema.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from rayplane.api import crds
from rayplane.api.common import Resource
from rayplane.api.validation import FeatureGates, validate
from tests.support import example

# The oldest Kubernetes whose schemas the objects are checked against; EKS and GKE still
# run 1.31.
K8S_VERSION = "1.31.0"
IMAGE = "rayproject/ray:2.60.0"


def load_resource(raw: dict[str, Any], gates: str = "") -> Resource:
    """Validate *raw* as the CLI does and return the model; fail the test if it is invalid."""
    report = validate(copy.deepcopy(raw), FeatureGates.parse(gates))
    assert report.ok, [str(f) for f in report.errors]
    assert report.resource is not None
    return report.resource


def head_group(**extra: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "rayStartParams": {},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "ray-head",
                        "image": IMAGE,
                        "resources": {
                            "requests": {"cpu": "1", "memory": "2Gi"},
                            "limits": {"cpu": "2", "memory": "4Gi"},
                        },
                    }
                ]
            }
        },
    }
    group.update(extra)
    return group


def worker_group(name: str = "workers", replicas: int = 2, **extra: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "groupName": name,
        "replicas": replicas,
        "minReplicas": 0,
        "maxReplicas": 10,
        "rayStartParams": {},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "ray-worker",
                        "image": IMAGE,
                        "resources": {"limits": {"cpu": "4", "memory": "8Gi"}},
                    }
                ]
            }
        },
    }
    group.update(extra)
    return group


def cluster_spec(**extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "rayVersion": "2.60.0",
        "headGroupSpec": head_group(),
        "workerGroupSpecs": [worker_group()],
    }
    spec.update(extra)
    return spec


def raycluster(
    name: str = "demo",
    namespace: str = "ray",
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": metadata,
        "spec": cluster_spec(**spec),
    }


def rayjob(name: str = "job", namespace: str = "ray", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entrypoint": "python /home/ray/samples/sample_code.py",
        "rayClusterSpec": cluster_spec(),
    }
    body.update(spec)
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def rayservice_from_seed() -> dict[str, Any]:
    """The seed's Mistral RayService fragment, completed into a resource KubeRay accepts.

    The seed names the head Service (forbidden on a RayService: the controller owns
    `<service>-head-svc`), leaves out the image, the Serve config and the GPU workers, and
    fills $EXT_REDIS_ENDPOINT with envsubst; those parts are supplied here.
    """
    raw = example("rayservice-ft-fragment.yaml")
    head = raw["spec"]["rayClusterConfig"]["headGroupSpec"]
    del head["headService"]
    container = head["template"]["spec"]["containers"][0]
    container["image"] = IMAGE
    container["env"][0]["value"] = "redis.mistral.svc.cluster.local:6379"
    container["ports"] = [
        {"name": "gcs-server", "containerPort": 6379},
        {"name": "dashboard", "containerPort": 8265},
        {"name": "client", "containerPort": 10001},
        {"name": "serve", "containerPort": 8000},
    ]
    raw["spec"]["serveConfigV2"] = (
        "applications:\n"
        "  - name: mistral\n"
        "    import_path: mistral:entrypoint\n"
        "    route_prefix: /\n"
    )
    raw["spec"]["rayClusterConfig"]["rayVersion"] = "2.60.0"
    raw["spec"]["rayClusterConfig"]["workerGroupSpecs"] = [
        worker_group(
            "gpu-group",
            replicas=1,
            minReplicas=1,
            maxReplicas=4,
            template={
                "spec": {
                    "containers": [
                        {
                            "name": "llm",
                            "image": IMAGE,
                            "resources": {
                                "limits": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
                            },
                        }
                    ]
                }
            },
        )
    ]
    return raw


# -- schema checks -----------------------------------------------------------------------------


@functools.cache
def _crd_validator(kind: str) -> Any:
    for crd in crds.crd_manifests():
        if crd["spec"]["names"]["kind"] == kind:
            schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            return jsonschema.Draft4Validator(schema)
    raise AssertionError(f"no CRD for {kind}")


def _gateway_api_validator(kind: str) -> Any:
    """The Gateway API stand-in CRDs the operator tests install (gateway_api_crds.yaml)."""
    for crd in yaml.safe_load_all(Path(__file__).with_name("gateway_api_crds.yaml").read_text()):
        if crd["spec"]["names"]["kind"] == kind:
            schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            return jsonschema.Draft4Validator(schema)
    raise AssertionError(f"no Gateway API CRD for {kind}")


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    """Why *manifest* is not a valid object of its kind (empty when it is)."""
    if str(manifest.get("apiVersion", "")).startswith("gateway.networking.k8s.io/"):
        validator = _gateway_api_validator(manifest["kind"])
        return [e.message for e in validator.iter_errors(manifest)]
    if str(manifest.get("apiVersion", "")).startswith("ray.io/"):
        report = validate(copy.deepcopy(manifest))
        errors = [str(f) for f in report.errors]
        errors += [e.message for e in _crd_validator(manifest["kind"]).iter_errors(manifest)]
        return errors
    try:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.caught.absolute_path)
        return [f"{where}: {exc.caught.message}"]
    return []


def assert_valid(objects: Iterable[dict[str, Any]]) -> None:
    problems = {
        f"{o['kind']}/{o['metadata'].get('name') or o['metadata'].get('generateName')}": errors
        for o in objects
        if (errors := schema_errors(o))
    }
    assert not problems, problems


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """name -> value (or valueFrom) of a container's env; later entries win, as in a pod."""
    out: dict[str, Any] = {}
    for var in container.get("env") or ():
        out[var["name"]] = var.get("value", var.get("valueFrom"))
    return out


def env_names(container: dict[str, Any]) -> list[str]:
    return [var["name"] for var in container.get("env") or ()]


def by_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]
