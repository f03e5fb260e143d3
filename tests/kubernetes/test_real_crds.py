"""The CRDs as a real kube-apiserver applies them: KubeRay 1.7's versions, defaults, types.

What tests/api/test_crds_kuberay.py compares on paper, shown here as a user of kubectl meets
it: a v1alpha1 object is served with KubeRay's deprecation warning and stored as v1, the
API server writes KubeRay's defaults, refuses what KubeRay's CRD requires, and takes the
status and Service shapes KubeRay writes.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rayplane.kubernetes.testing.rest import path_of
from tests.kubernetes.real_api import Cluster, Namespace, example

pytestmark = pytest.mark.timeout(120)

ALPHA = "/apis/ray.io/v1alpha1"


def _cluster(ns: Namespace, name: str) -> dict[str, Any]:
    doc = copy.deepcopy(example("raycluster-basic.yaml"))
    doc["metadata"] = {"name": name, "namespace": ns.name}
    doc["spec"]["headGroupSpec"]["template"]["spec"].pop("serviceAccountName", None)
    return doc


def test_v1alpha1_is_served_deprecated_and_stored_as_v1(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("alpha")
    doc = _cluster(ns, "old-style")
    doc["apiVersion"] = "ray.io/v1alpha1"
    created = kube_cluster.admin.post(f"{ALPHA}/namespaces/{ns.name}/rayclusters", json=doc)
    assert created.status_code == 201, created.text
    assert created.json()["apiVersion"] == "ray.io/v1alpha1"
    assert "ray.io/v1alpha1 RayCluster is deprecated; use ray.io/v1 RayCluster" in (
        created.headers.get("warning", "")
    )
    # The same object through v1, fields intact: one schema, no conversion to lose them.
    stored = ns.get("rayclusters", "old-style")
    assert stored is not None and stored["apiVersion"] == "ray.io/v1"
    assert stored["spec"]["workerGroupSpecs"] == created.json()["spec"]["workerGroupSpecs"]
    # Discovery (what kubectl reads) lists KubeRay's three original kinds under v1alpha1.
    discovery = kube_cluster.admin.get(ALPHA)
    assert discovery.status_code == 200, discovery.text
    served = {r["name"] for r in discovery.json()["resources"] if "/" not in r["name"]}
    assert served == {"rayclusters", "rayjobs", "rayservices"}


def test_worker_group_defaults_and_required_fields_are_kuberays(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("defaults")
    doc = _cluster(ns, "defaults")
    group = doc["spec"]["workerGroupSpecs"][0]
    for key in ("replicas", "minReplicas", "maxReplicas"):
        group.pop(key, None)
    created = ns.create(doc)
    stored = created["spec"]["workerGroupSpecs"][0]
    assert (stored["replicas"], stored["minReplicas"], stored["maxReplicas"]) == (
        0,
        0,
        2147483647,
    )
    # What KubeRay's CRD requires is refused by the API server, naming the field.
    bad = _cluster(ns, "no-group-name")
    del bad["spec"]["workerGroupSpecs"][0]["groupName"]
    refused = kube_cluster.admin.post(path_of("rayclusters", ns.name), json=bad)
    assert refused.status_code == 422, refused.text
    assert "spec.workerGroupSpecs[0].groupName: Required value" in refused.json()["message"]


def test_status_takes_kuberays_quantities_and_conditions(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("status")
    created = ns.create(_cluster(ns, "quantities"))
    status_path = path_of("rayclusters", ns.name, "quantities") + "/status"
    condition = {
        "type": "HeadPodReady",
        "status": "True",
        "reason": "HeadPodRunningAndReady",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    body = dict(created)
    body["status"] = {"desiredCPU": 3, "desiredMemory": "4Gi", "conditions": [condition]}
    answer = kube_cluster.admin.put(status_path, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"]["desiredCPU"] == 3
    # Not a quantity: refused by the pattern, as KubeRay's CRD refuses it.
    body = dict(answer.json())
    body["status"] = {"desiredCPU": "lots"}
    refused = kube_cluster.admin.put(status_path, json=body)
    assert refused.status_code == 422, refused.text
    assert "status.desiredCPU" in refused.json()["message"]
    # A condition without a reason is no metav1.Condition.
    body["status"] = {"conditions": [{"type": "HeadPodReady", "status": "True"}]}
    refused = kube_cluster.admin.put(status_path, json=body)
    assert refused.status_code == 422, refused.text
    assert "status.conditions[0].reason: Required value" in refused.json()["message"]


def test_serve_service_is_a_whole_service(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("svc")
    service = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "svc"},
        "spec": {
            "serveConfigV2": "applications: []\n",
            "rayClusterConfig": _cluster(ns, "unused")["spec"],
            "serveService": {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "my-serve"},
                "spec": {"type": "ClusterIP", "sessionAffinity": "ClientIP"},
            },
        },
    }
    created = ns.create(service)
    kept = created["spec"]["serveService"]
    assert (kept["apiVersion"], kept["kind"]) == ("v1", "Service")
    assert kept["spec"]["sessionAffinity"] == "ClientIP"


def test_kuberays_cel_rules_hold(kube_cluster: Cluster) -> None:
    ns = kube_cluster.namespace("cel")
    doc = _cluster(ns, "managed")
    doc["spec"]["managedBy"] = "ray.io/kuberay-operator"
    created = ns.create(doc)
    # managedBy is immutable once set, as KubeRay's CRD says.
    changed = copy.deepcopy(created)
    changed["spec"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    refused = kube_cluster.admin.put(path_of("rayclusters", ns.name, "managed"), json=changed)
    assert refused.status_code == 422, refused.text
    assert "the managedBy field is immutable" in refused.json()["message"]
    # A deletionStrategy mixing the legacy policies with deletionRules is refused.
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "mixed", "namespace": ns.name},
        "spec": {
            "entrypoint": "python -c pass",
            "rayClusterSpec": _cluster(ns, "unused")["spec"],
            "deletionStrategy": {
                "onSuccess": {"policy": "DeleteCluster"},
                "onFailure": {"policy": "DeleteNone"},
                "deletionRules": [
                    {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED"}}
                ],
            },
        },
    }
    refused = kube_cluster.admin.post(path_of("rayjobs", ns.name), json=job)
    assert refused.status_code == 422, refused.text
    assert "cannot be used together within the same deletionStrategy" in (refused.json()["message"])
