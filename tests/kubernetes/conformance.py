"""Conformance with KubeRay v1.5.0: what each operator created, normalized and compared.

The same ray.io/v1 resources go to two namespaces of one API server, one watched by
KubeRay's own operator and one by ours. Each side's objects are collected, stripped of what
must differ (generated name suffixes, uids, resourceVersions, the namespace, timestamps,
cluster and Pod IPs, the operator's version) and compared field by field. A difference is
either fixed in our builders or named in :data:`ALLOWED` with the reason we differ; the
test fails on anything else.

Samples: the ray.io/v1 objects in ``examples/``, KubeRay v1.5.0's ``config/samples`` and a
few extras for what no sample asks for (the dashboard Ingress, a suspended cluster). Several
samples reuse names (``rayjob-sample``, ``ray-example``), so they are spread over a few
namespace pairs, each holding samples whose names do not collide.

``python -m tests.kubernetes.conformance DUMP`` compares a dump of the test
(``RAYPLANE_CONFORMANCE_DUMP``) again, with the normalization and allowlist as they are now.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rayplane.kubernetes.testing import kuberay

Obj = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
RAY_KINDS = ("RayCluster", "RayJob", "RayService")
# What a sample may carry that the test creates before its ray.io objects: the operators
# only read these (by name, from Pod specs), and Pods are refused without their
# ServiceAccount.
SUPPORT_KINDS = ("ConfigMap", "Secret", "ServiceAccount")
NS = "<ns>"
UID = "<uid>"
TIME = "<time>"
IP = "<ip>"

# Everything an operator may create in a namespace, by plural: (API prefix, kind).
PLURALS: dict[str, tuple[str, str]] = {
    "rayclusters": ("/apis/ray.io/v1", "RayCluster"),
    "rayjobs": ("/apis/ray.io/v1", "RayJob"),
    "rayservices": ("/apis/ray.io/v1", "RayService"),
    "pods": ("/api/v1", "Pod"),
    "services": ("/api/v1", "Service"),
    "serviceaccounts": ("/api/v1", "ServiceAccount"),
    "secrets": ("/api/v1", "Secret"),
    "configmaps": ("/api/v1", "ConfigMap"),
    "persistentvolumeclaims": ("/api/v1", "PersistentVolumeClaim"),
    "roles": ("/apis/rbac.authorization.k8s.io/v1", "Role"),
    "rolebindings": ("/apis/rbac.authorization.k8s.io/v1", "RoleBinding"),
    "jobs": ("/apis/batch/v1", "Job"),
    "ingresses": ("/apis/networking.k8s.io/v1", "Ingress"),
}
KIND_PLURALS = {kind: plural for plural, (_, kind) in PLURALS.items()}

# KubeRay v1.5.0 runs with the gates that are beta, on by default, in our reference (v1.7)
# and in our operator: v1.5.0 ships them off (alpha). With its defaults it refuses
# deletionRules (ray-job.deletion-rules.yaml: ValidationFailed) and does not label
# multi-host Pods with their replica indices. RayServiceIncrementalUpgrade stays off: it
# needs the Gateway API, and no sample asks for it.
KUBERAY_FEATURE_GATES = "RayJobDeletionPolicy=true,RayMultiHostIndexing=true"

# Samples KubeRay v1.5.0 ships that cannot run here, and why.
SKIPPED: dict[str, str] = {
    "ingress-rayclient-tls.yaml": "no ray.io/v1 object: a bare Ingress, nothing to reconcile",
    "ray-cluster-alb-ingress.yaml": "no ray.io/v1 object: a bare Ingress, nothing to reconcile",
    "ray-cluster-agc-gatewayapi.yaml": "Gateway API (Gateway, HTTPRoute): CRDs not installed",
    "ray-cluster.kai-gpu-sharing.yaml": "KAI scheduler: its Queue CRD and --batch-scheduler",
    "ray-cluster.kai-scheduler.yaml": "KAI scheduler: its Queue CRD and --batch-scheduler",
    "ray-cluster.scheduler-plugins.yaml": "scheduler-plugins: its PodGroup CRD and "
    "--batch-scheduler",
    "ray-cluster.volcano-scheduler.yaml": "Volcano: its PodGroup CRD and --batch-scheduler",
    "ray-cluster.volcano-scheduler-queue.yaml": "Volcano: its Queue/PodGroup CRDs and "
    "--batch-scheduler",
    "ray-cluster.yunikorn-scheduler.yaml": "YuniKorn: needs --batch-scheduler=yunikorn and a "
    "YuniKorn scheduler",
    "ray-job.volcano-scheduler-queue.yaml": "Volcano: its Queue/PodGroup CRDs and "
    "--batch-scheduler",
    "ray-job.yunikorn-scheduler.yaml": "YuniKorn: needs --batch-scheduler=yunikorn and a "
    "YuniKorn scheduler",
    "ray-job.kueue-toy-sample.yaml": "Kueue: a LocalQueue/ClusterQueue (CRDs) admits it; "
    "generateName only",
}
SKIPPED_EXAMPLES: dict[str, str] = {
    "ec2-cluster-launcher.yaml": "a Ray cluster-launcher config, not a Kubernetes object",
    "rayjob-pod-identity.yaml": "refused by the API server on both sides: the CRDs require "
    "containers and groupName, as KubeRay's do (test_real_workloads shows the refusal)",
}
# rayservice-ft-fragment.yaml is a fragment (a named headService) that the CRDs accept, so
# both operators must reject it in status; that is compared too.


@dataclass
class Sample:
    """One sample file: its ray.io objects, what they need created first, what is left out."""

    name: str
    ray: list[Obj] = field(default_factory=list)
    support: list[Obj] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    skipped: str = ""

    def names(self) -> set[tuple[str, str]]:
        return {(d["kind"], d["metadata"]["name"]) for d in self.ray + self.support}


def _docs(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _walk_keys(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _walk_keys(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _walk_keys(v, key)


def load_sample(path: Path, label: str) -> Sample:
    """Split a sample file into ray.io objects and the objects they need; the rest (Redis
    Deployments, client Pods, cluster-wide RBAC) is left out: nothing here would run it."""
    sample = Sample(label)
    for doc in _docs(path):
        doc = copy.deepcopy(doc)
        meta = doc.setdefault("metadata", {})
        meta.pop("namespace", None)
        kind = doc.get("kind", "")
        if str(doc.get("apiVersion", "")).startswith("ray.io/") and kind in RAY_KINDS:
            sample.ray.append(doc)
        elif kind in SUPPORT_KINDS:
            sample.support.append(doc)
        else:
            sample.dropped.append(f"{kind}/{meta.get('name', '')}")
    have = {d["metadata"]["name"] for d in sample.support if d["kind"] == "ServiceAccount"}
    for account in sorted(set(_walk_keys(sample.ray, "serviceAccountName")) - have):
        sample.support.append(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}
        )
    if not sample.ray:
        sample.skipped = sample.skipped or "no ray.io/v1 object"
    return sample


def _extra_cluster(name: str, **spec: Any) -> Obj:
    image = "rayproject/ray:2.46.0"
    container = {"name": "ray-head", "image": image, "resources": {"limits": {"cpu": "1"}}}
    worker = {**container, "name": "ray-worker"}
    body: Obj = {
        "rayVersion": "2.46.0",
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [container]}}},
        "workerGroupSpecs": [
            {
                "groupName": "workers",
                "replicas": 1,
                "minReplicas": 0,
                "maxReplicas": 2,
                "rayStartParams": {},
                "template": {"spec": {"containers": [worker]}},
            }
        ],
    }
    annotations = spec.pop("annotations", None)
    for key, value in spec.items():
        if key == "enableIngress":
            body["headGroupSpec"]["enableIngress"] = value
        else:
            body[key] = value
    meta: Obj = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta, "spec": body}


def extras() -> list[Sample]:
    """What no sample asks for but users do: the dashboard Ingress with the serve Service,
    and a cluster created suspended (its status conditions)."""
    return [
        Sample(
            "extra/ingress-and-serve-service",
            ray=[
                _extra_cluster(
                    "extra-ingress",
                    enableIngress=True,
                    annotations={"ray.io/enable-serve-service": "true"},
                )
            ],
        ),
        Sample("extra/suspended", ray=[_extra_cluster("extra-suspended", suspend=True)]),
    ]


def all_samples() -> list[Sample]:
    """Every sample, skipped ones included (with their reason): examples, KubeRay's, extras."""
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        reason = SKIPPED_EXAMPLES.get(path.name, "")
        sample = (
            Sample(f"examples/{path.name}", skipped=reason)
            if reason
            else load_sample(path, f"examples/{path.name}")
        )
        found.append(sample)
    for path in kuberay.samples():
        reason = SKIPPED.get(path.name, "")
        sample = (
            Sample(f"kuberay/{path.name}", skipped=reason)
            if reason
            else load_sample(path, f"kuberay/{path.name}")
        )
        found.append(sample)
    return found + extras()


def batches(samples: Iterable[Sample]) -> list[list[Sample]]:
    """Samples grouped so that no two in a group create objects of the same kind and name."""
    groups: list[tuple[set[tuple[str, str]], list[Sample]]] = []
    for sample in samples:
        if sample.skipped:
            continue
        names = sample.names()
        for taken, members in groups:
            if not taken & names:
                taken |= names
                members.append(sample)
                break
        else:
            groups.append((set(names), [sample]))
    return [members for _, members in groups]


# -- collecting and normalizing -------------------------------------------------------------

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
KUBE_API_ACCESS = re.compile(r"kube-api-access-[a-z0-9]{5}")
IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
# The operator's version, in RAY_USAGE_STATS_EXTRA_TAGS and the like.
VERSION_TAG = re.compile(r"kuberay_version=[^;\s\"]*")
VERSION_ANNOTATION = "ray.io/kuberay-version"
# Fields the API server, the controller manager or the node simulator write, not the
# operators: they are equal or meaningless on both sides.
DROP_META = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "generation",
    "namespace",
)
NODE_PORTS = (30000, 32767)
TIME_KEYS = re.compile(r"(Time|Timestamp|TransitionTimes)$|^(startTime|endTime)$")


def create(client: Any, namespace: str, obj: Obj) -> Obj:
    """Create *obj* in *namespace* as a user would (kubectl create)."""
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    plural = KIND_PLURALS[obj["kind"]]
    answer = client.post(f"{PLURALS[plural][0]}/namespaces/{namespace}/{plural}", json=obj)
    if answer.status_code != 201:
        raise AssertionError(f"create {obj['kind']}/{obj['metadata']['name']}: {answer.text}")
    created: Obj = answer.json()
    return created


def list_objects(client: Any, namespace: str) -> list[Obj]:
    """Every object of the kinds an operator may create in *namespace* (admin view)."""
    found = []
    for plural, (prefix, kind) in PLURALS.items():
        answer = client.get(f"{prefix}/namespaces/{namespace}/{plural}")
        answer.raise_for_status()
        for item in answer.json()["items"]:
            item["kind"] = kind
            found.append(item)
    return found


def _controller(obj: Obj) -> Obj | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def _mask(name: str, stem: str) -> str:
    """*name* with its random tail after *stem* replaced by as many ``?``: the length of a
    generated suffix is compared, its letters are not."""
    return stem + "?" * (len(name) - len(stem))


@dataclass
class Side:
    """One operator's namespace, its objects, and the names to rewrite before comparing."""

    namespace: str
    objects: list[Obj]
    applied: set[tuple[str, str]]

    def substitutions(self) -> list[tuple[str, str]]:
        """Generated names (clusters of RayJobs and RayServices, job ids, Pods, multi-host
        replicas) with their random tails masked, and the namespace: the two sides draw
        different random letters, and those appear in env values, args and status too."""
        subs: dict[str, str] = {}
        for obj in self.objects:
            meta = obj["metadata"]
            name = meta["name"]
            owner = _controller(obj)
            if obj["kind"] == "RayCluster" and owner and owner["kind"] in ("RayJob", "RayService"):
                subs[name] = _mask(name, owner["name"] + "-")
            elif obj["kind"] == "RayJob":
                status = obj.get("status") or {}
                job_id = status.get("jobId") or ""
                if job_id and job_id != (obj.get("spec") or {}).get("jobId"):
                    subs[job_id] = _mask(job_id, name + "-")
                cluster = status.get("rayClusterName") or ""
                if cluster.startswith(name + "-") and cluster not in subs:
                    subs[cluster] = _mask(cluster, name + "-")
            elif obj["kind"] == "Pod" and meta.get("generateName"):
                subs[name] = _mask(name, meta["generateName"])
            replica = (meta.get("labels") or {}).get("ray.io/worker-group-replica-name")
            group = (meta.get("labels") or {}).get("ray.io/group")
            if replica and group and replica.startswith(group + "-"):
                subs[replica] = _mask(replica, group + "-")
        # Generated names of clusters also start Pod names: rewrite the longest first.
        ordered = sorted(subs.items(), key=lambda kv: -len(kv[0]))
        return [*ordered, (self.namespace, NS)]

    def roots(self) -> dict[str, tuple[str, str]]:
        """Each object's topmost owner (by uid), as (kind, name): which sample it is from."""
        by_uid = {o["metadata"].get("uid"): o for o in self.objects}
        found = {}
        for obj in self.objects:
            top = obj
            for _ in range(5):
                owner = _controller(top)
                if owner is None or owner.get("uid") not in by_uid:
                    break
                top = by_uid[owner["uid"]]
            found[obj["metadata"]["uid"]] = (top["kind"], top["metadata"]["name"])
        return found

    def normalized(self) -> dict[str, tuple[tuple[str, str], Obj]]:
        """The objects an operator made or changed, keyed ``Kind/name[index]``, each with
        its topmost owner (kind, name)."""
        subs = self.substitutions()
        roots = self.roots()
        pods: dict[str, list[tuple[tuple[str, str], Obj]]] = {}
        out: dict[str, tuple[tuple[str, str], Obj]] = {}
        for obj in self.objects:
            kind = obj["kind"]
            meta = obj["metadata"]
            if kind not in RAY_KINDS and (kind, meta["name"]) in self.applied:
                continue
            if kind == "ServiceAccount" and meta["name"] == "default":
                continue
            if kind == "ConfigMap" and meta["name"] == "kube-root-ca.crt":
                continue
            owner = _controller(obj)
            if kind == "Pod" and owner and owner["kind"] == "Job":
                continue  # the Job controller's Pod, from the Job compared below
            root = roots[meta["uid"]]
            clean = _rewrite(_strip(obj), subs)
            if kind == "Pod":
                pods.setdefault(clean["metadata"]["name"], []).append((root, clean))
            else:
                out[f"{kind}/{clean['metadata']['name']}"] = (root, clean)
        for name, group in pods.items():
            group.sort(key=lambda rp: _pod_order(rp[1]))
            for index, pod in enumerate(group):
                out[f"Pod/{name}" + (f"[{index}]" if len(group) > 1 else "")] = pod
        return out


def _pod_order(pod: Obj) -> tuple[str, int, str]:
    labels = pod["metadata"].get("labels") or {}
    return (
        labels.get("ray.io/worker-group-replica-index", ""),
        int(labels.get("ray.io/replica-host-index", "0") or 0),
        json.dumps(pod, sort_keys=True),
    )


def _strip(obj: Obj) -> Obj:
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    generation = meta.get("generation")
    for key in DROP_META:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    if VERSION_ANNOTATION in annotations:
        annotations[VERSION_ANNOTATION] = "<version>"
    for ref in meta.get("ownerReferences") or ():
        ref["uid"] = UID
    kind = obj["kind"]
    spec = obj.get("spec") or {}
    if kind in ("Pod", "Service", "Job", "PersistentVolumeClaim"):
        obj.pop("status", None)
    if kind == "Service":
        if spec.get("clusterIP") not in (None, "None"):
            spec["clusterIP"] = IP
            spec["clusterIPs"] = [IP]
        for port in spec.get("ports") or ():
            if "nodePort" in port:
                port["nodePort"] = 0
    if kind == "Pod":
        spec.pop("nodeName", None)
    if kind in RAY_KINDS:
        obj["spec"] = _prune(spec)
        obj["status"] = _prune(_status(obj.get("status") or {}, generation=generation))
    return obj


def _prune(node: Any) -> Any:
    """A CR's spec or status without empty objects and empty strings.

    KubeRay writes whole ray.io objects back through Go's encoder (to add a finalizer, to
    update a status), which turns an absent struct into ``{}`` and drops ``""`` a user
    wrote; neither means anything to a reader, so both count as absent on both sides.
    """
    if isinstance(node, dict):
        pruned = {k: _prune(v) for k, v in node.items()}
        kept = {k: v for k, v in pruned.items() if v != {} and v != ""}
        if kept and all(k.startswith("desired") and v == "0" for k, v in kept.items()):
            return {}  # Go's zero RayClusterStatus: its Quantities print as "0"
        return kept
    if isinstance(node, list):
        return [_prune(v) for v in node]
    return node


def _status(node: Any, key: str = "", generation: int | None = None) -> Any:
    """A CR status with times and IPs replaced by placeholders (their presence still counts)
    and observedGeneration told as "the object's generation" when it is: KubeRay's whole-
    object writes bump the generation where our metadata patches do not."""
    if isinstance(node, dict):
        if key == "stateTransitionTimes":
            return dict.fromkeys(node, TIME)
        return {
            k: _status(v, k, generation if k == "observedGeneration" else None)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_status(v, key) for v in node]
    if TIME_KEYS.search(key) and node:
        return TIME
    if key in ("podIP", "serviceIP") and isinstance(node, str) and IPV4.match(node):
        return IP
    if key == "observedGeneration" and generation is not None and node == generation:
        return "<generation>"
    if isinstance(node, str) and node.isdigit() and NODE_PORTS[0] <= int(node) <= NODE_PORTS[1]:
        return "<nodePort>"  # a NodePort head Service's endpoints: chosen by the API server
    return node


def _rewrite(node: Any, subs: list[tuple[str, str]]) -> Any:
    if isinstance(node, dict):
        return {_rewrite_str(k, subs): _rewrite(v, subs) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, subs) for v in node]
    if isinstance(node, str):
        return _rewrite_str(node, subs)
    return node


def _rewrite_str(text: str, subs: list[tuple[str, str]]) -> str:
    text = UUID.sub(UID, text)
    text = VERSION_TAG.sub("kuberay_version=<version>", text)
    text = KUBE_API_ACCESS.sub("kube-api-access-?????", text)
    for old, new in subs:
        if old in text:
            text = text.replace(old, new)
    return text


# -- comparing ------------------------------------------------------------------------------

MISSING = "<missing>"


@dataclass(frozen=True)
class Difference:
    """One field that differs: ``obj`` is ``Kind/name``, ``path`` a dotted field path."""

    sample: str
    obj: str
    path: str
    kuberay: Any
    ours: Any

    def __str__(self) -> str:
        return (
            f"{self.sample}: {self.obj} {self.path}: KubeRay {_short(self.kuberay)} "
            f"| ours {_short(self.ours)}"
        )


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, sort_keys=True) if value is not MISSING else MISSING
    return text if len(text) <= limit else text[:limit] + "..."


# Lists whose items are told apart by a key (containers, env, ports, volumes by name;
# worker groups by groupName; conditions by type): compared item by item, by that key.
LIST_KEYS = ("name", "groupName", "type")


def _list_key(items: list[Any]) -> str | None:
    for key in LIST_KEYS:
        if items and all(isinstance(i, dict) and key in i for i in items):
            return key
    return None


def diff_values(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Differences between *a* (KubeRay) and *b* (ours). Lists of named items (containers,
    env, ports, volumes) are compared by name, and their order separately."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else key
            if key not in a:
                yield sub, MISSING, b[key]
            elif key not in b:
                yield sub, a[key], MISSING
            else:
                yield from diff_values(a[key], b[key], sub)
        return
    key = _list_key(a) if isinstance(a, list) and isinstance(b, list) else None
    if key is not None and key == _list_key(b):
        left = {str(i[key]): i for i in a}
        right = {str(i[key]): i for i in b}
        if len(left) == len(a) and len(right) == len(b):
            yield from diff_values(left, right, path)
            common = [n for n in left if n in right]
            if common != [n for n in right if n in left]:
                yield f"{path}<order>", list(left), list(right)
            return
    if a != b:
        yield path, a, b


def compare(
    kuberay_side: dict[str, tuple[tuple[str, str], Obj]],
    ours: dict[str, tuple[tuple[str, str], Obj]],
    sample_of: dict[tuple[str, str], str],
) -> list[Difference]:
    """Every difference between two sides of one namespace pair, each named by the sample
    its object comes from (through its owners)."""
    found = []
    for key in sorted(set(kuberay_side) | set(ours)):
        root = (kuberay_side.get(key) or ours[key])[0]
        sample = sample_of.get(root, f"<unowned {root[0]}/{root[1]}>")
        if key not in ours:
            found.append(Difference(sample, key, "", "<exists>", MISSING))
        elif key not in kuberay_side:
            found.append(Difference(sample, key, "", MISSING, "<exists>"))
        else:
            for path, a, b in diff_values(kuberay_side[key][1], ours[key][1]):
                found.append(Difference(sample, key, path, a, b))
    return found


def compare_sides(
    kuberay_side: Side,
    ours: Side,
    samples: Iterable[Sample],
    keep: Callable[[str], bool] = lambda key: True,
) -> list[Difference]:
    """:func:`compare` for two raw sides of one namespace pair (objects whose key *keep*
    accepts)."""
    sample_of = {(d["kind"], d["metadata"]["name"]): s.name for s in samples for d in s.ray}
    left = {k: v for k, v in kuberay_side.normalized().items() if keep(k)}
    right = {k: v for k, v in ours.normalized().items() if keep(k)}
    return compare(left, right, sample_of)


def is_cleanup_job(key: str) -> bool:
    return key.startswith("Job/") and key.endswith("-redis-cleanup")


# -- what we allow --------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    """A difference we keep on purpose, with the reason.

    ``obj``, ``path`` and ``sample`` are fnmatch patterns (``path`` may list several,
    separated by ``|``); with ``same_after``, the
    difference is allowed only if both values agree once it has been applied to each (so
    the entry covers exactly the one change it names, not anything else at that path).
    """

    obj: str
    path: str
    reason: str
    sample: str = "*"
    same_after: Callable[[Any], Any] | None = None

    def matches(self, difference: Difference) -> bool:
        if not (
            fnmatch.fnmatchcase(difference.obj, self.obj)
            and any(fnmatch.fnmatchcase(difference.path, p) for p in self.path.split("|"))
            and fnmatch.fnmatchcase(difference.sample, self.sample)
        ):
            return False
        if self.same_after is None:
            return True
        return bool(self.same_after(difference.kuberay) == self.same_after(difference.ours))


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _fixed_ulimit(value: Any) -> str:
    return _text(value).replace("${RAY_START_ULIMIT_OPEN_FILES:-65536}", "65536")


GCS_WAIT = re.compile(r"until .*? ; done ; ")


def _no_gcs_wait(value: Any) -> str:
    return GCS_WAIT.sub("", _text(value), count=1)


def _quantity(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) else value


def _dropping(*keys: str) -> Callable[[Any], Any]:
    """The value with *keys* removed wherever they occur."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in keys}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip


def _without(key: str) -> Callable[[Any], Any]:
    def strip(value: Any) -> Any:
        kept = dict(value) if isinstance(value, dict) else {}
        kept.pop(key, None)
        return kept

    return strip


V16 = "KubeRay v1.6+ (our reference, contract v1.4-v1.7)"
V17 = "KubeRay v1.7 (our reference)"

ALLOWED: list[Allowed] = [
    # -- Pods ---------------------------------------------------------------------------------
    Allowed(
        "Pod/*",
        "metadata.annotations.ray.io/kuberay-version",
        f"{V16} stamps the creating operator's version on every Pod",
    ),
    Allowed(
        "Pod/*",
        "metadata.annotations.ray.io/upgrade-strategy-recreate-hash",
        f"{V16}: upgradeStrategy Recreate compares this spec hash on the Pods",
    ),
    Allowed(
        "Pod/*",
        "spec.containers.*.env.RAY_CLUSTER_NAMESPACE",
        f"{V16} gives every Ray container its namespace (v1.5.0: the autoscaler only)",
    ),
    Allowed(
        "Pod/*",
        "spec.containers.*.args",
        f"{V17}: RAY_START_ULIMIT_OPEN_FILES may override the fixed `ulimit -n 65536`",
        same_after=_fixed_ulimit,
    ),
    Allowed(
        "Pod/*",
        "spec.containers.*.*Probe.*",
        f"{V16}: for Ray >= 2.53 the probes are httpGet :52365/api/healthz, not wget in bash",
        sample="examples/*",
    ),
    Allowed(
        "Pod/*",
        "spec.containers.autoscaler.env.KUBERAY_GEN_AUTOSCALER_START_CMD",
        f"{V17} passes the autoscaler's command line in this variable too",
    ),
    Allowed(
        "Pod/*",
        "spec.containers.ray-job-submitter.args",
        f"{V16}: the SidecarMode submitter polls GCS health with Python, not wget",
        same_after=_no_gcs_wait,
    ),
    # -- the submitter Job --------------------------------------------------------------------
    Allowed(
        "Job/*",
        "spec.template.spec.containers.*.args",
        f"{V16}: the submitter first waits until the dashboard reports GCS healthy",
        same_after=_no_gcs_wait,
    ),
    Allowed(
        "Job/*",
        "spec.template.metadata.labels.*",
        f"{V17} labels the submitter Pod (created-by, originated-from-cr-name/-crd)",
    ),
    # -- RayClusters a RayJob or RayService creates -------------------------------------------
    Allowed(
        "RayCluster/*",
        "metadata.labels.ray.io/job-submission-mode",
        f"{V16} labels a RayJob's cluster with the submission mode",
    ),
    Allowed(
        "RayCluster/*",
        "metadata.annotations",
        f"{V16}: a SidecarMode cluster's head is not re-created once provisioned",
        same_after=_without("ray.io/disable-provisioned-head-restart"),
    ),
    Allowed(
        "RayCluster/*",
        "spec.headGroupSpec.template.spec.containers.ray-job-submitter.args",
        f"{V16}: the SidecarMode submitter polls GCS health with Python, not wget",
        same_after=_no_gcs_wait,
    ),
    Allowed(
        "RayCluster/*",
        "metadata.annotations.ray.io/hash-without-replicas-and-workers-to-delete",
        "ours hashes our model of the spec, not Go's JSON of KubeRay's structs"
        " (reconcile/hashing.py); only equality within one operator matters",
    ),
    Allowed(
        "RayCluster/*",
        "spec.*.resources.*",
        "a number the user wrote (cpu: 2) is copied as written; KubeRay re-encodes it as a"
        ' Quantity string ("2"): the same quantity',
        same_after=_quantity,
    ),
    # -- status -------------------------------------------------------------------------------
    Allowed(
        "RayJob/*",
        "status.jobStatusCheckFailureStartTime",
        f"{V17} records when dashboard status checks began to fail (none answers here)",
    ),
    Allowed(
        "RayJob/*",
        "status.rayClusterStatus*",
        "we copy the cluster's status on every pass; v1.5.0 only once the dashboard answers"
        " (never here), v1.7 also while Initializing",
    ),
    Allowed(
        "RayService/*",
        "metadata.finalizers",
        f"{V17} adds ray.io/rayservice-finalizer to clean up on deletion",
    ),
    Allowed(
        "RayService/*",
        "status.*ServiceStatus.rayClusterStatus*",
        "KubeRay returns before computing status while Serve is unreachable; we keep the"
        " cluster's status current in the RayService",
    ),
    # -- GCS fault tolerance: the Redis cleanup Job, on deletion -------------------------------
    Allowed(
        "Job/*-redis-cleanup",
        "spec.template.spec.containers.*.env.RAY_CLUSTER_NAMESPACE",
        f"{V16} gives every Ray container its namespace (the Job copies the head's)",
    ),
    Allowed(
        "Job/*-redis-cleanup",
        "spec.template.metadata.generateName|spec.template.metadata.namespace"
        "|spec.template.metadata.ownerReferences",
        "KubeRay copies the head Pod's whole metadata into the template; the Job controller"
        " ignores these three there, ours copies labels and annotations only",
    ),
    # -- Ingress --------------------------------------------------------------------------------
    Allowed(
        "Ingress/*",
        "spec.rules",
        f"{V17}: path / with pathType Prefix unless ingressOptions say otherwise (v1.4-v1.6:"
        " /<cluster>/(.*), Exact)",
        same_after=_dropping("path", "pathType"),
    ),
    # -- Services -----------------------------------------------------------------------------
    Allowed(
        "Service/*",
        "spec.ports<order>",
        "KubeRay lists head Service ports in Go map order (random each run); ours by name",
    ),
]


def unexplained(differences: Iterable[Difference]) -> list[Difference]:
    return [d for d in differences if not any(a.matches(d) for a in ALLOWED)]


def used_allowances(differences: Iterable[Difference]) -> set[int]:
    differences = list(differences)
    return {i for i, a in enumerate(ALLOWED) if any(a.matches(d) for d in differences)}


# -- reading a dump again -------------------------------------------------------------------


def load_side(path: Path) -> Side:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Side(raw["namespace"], raw["objects"], {(k, n) for k, n in raw["applied"]})


def dump_side(side: Side, path: Path) -> None:
    raw = {"namespace": side.namespace, "applied": sorted(side.applied), "objects": side.objects}
    path.write_text(json.dumps(raw), encoding="utf-8")


def differences_in_dump(folder: Path) -> list[Difference]:
    """The differences of a ``RAYPLANE_CONFORMANCE_DUMP`` folder, computed again from its
    raw objects with the normalization and allowlist as they are now (no cluster needed)."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    by_name = {s.name: s for s in all_samples()}
    found: list[Difference] = []
    for i, names in enumerate(summary["batches"]):
        samples = [by_name[n] for n in names]
        found += compare_sides(
            load_side(folder / f"kuberay{i}.raw.json"),
            load_side(folder / f"ours{i}.raw.json"),
            samples,
        )
        found += compare_sides(
            load_side(folder / f"kuberay{i}.cleanup.raw.json"),
            load_side(folder / f"ours{i}.cleanup.raw.json"),
            samples,
            is_cleanup_job,
        )
    return found


if __name__ == "__main__":  # python -m tests.kubernetes.conformance DUMP_FOLDER
    import sys

    everything = differences_in_dump(Path(sys.argv[1]))
    left = unexplained(everything)
    for difference in left:
        print(difference)
    print(f"{len(everything)} differences, {len(left)} unexplained", file=sys.stderr)
