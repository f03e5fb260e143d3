"""Mutants of real manifests, through validation and then through everything that reads
what validation accepted: the pure reconcilers (with nothing observed yet) and `render`.

Shared by tests/api/test_fuzz.py (a bounded run in CI) and bench/fuzz_validation.py (the
>= 10,000-mutant run whose figures go in the notes). A crash anywhere is a finding; so is
a rejection without a field path.
"""

from __future__ import annotations

import copy
import random
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rayplane.api.common import Resource
from rayplane.api.loading import LoadError, load
from rayplane.api.raycluster import RayCluster
from rayplane.api.rayjob import RayJob
from rayplane.api.rayservice import RayService
from rayplane.api.validation import KINDS, FeatureGates, validate
from rayplane.kubernetes.builders import BuildError
from rayplane.kubernetes.render import render
from rayplane.reconcile import cluster as cluster_reconciler
from rayplane.reconcile import job as job_reconciler
from rayplane.reconcile import service as service_reconciler
from rayplane.reconcile.raystart import ray_resources

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = [REPO / "examples", Path("/work/shared/examples")]
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Values a hand edit or a hostile file puts where a quantity, a count or a name belongs.
ODD_VALUES: list[Any] = [
    None,
    "",
    " ",
    0,
    -1,
    1,
    2**31,
    2**63,
    2**64,
    -(2**64),
    1.5,
    -0.5,
    1e40,
    float("inf"),
    float("-inf"),
    float("nan"),
    True,
    False,
    "1e40",
    "-1",
    "1e-40",
    ".5",
    "2**64",
    "1e3Ki",
    "4Gi",
    "500m",
    "-500m",
    "1E",
    "NaN",
    "Infinity",
    "0x10",
    "1e99999999",
    "x" * 300,
    "a/b",
    "..",
    "UPPER",
    "dashboard-host=0.0.0.0",
    "--foo",
    "a b",
    "é",
    "\x00",
    [],
    {},
    [None],
    {"": None},
    ["a"],
    {"a": 1},
]
# Same-type values that often stay valid, so many mutants reach the reconcilers.
PLAUSIBLE: dict[type, list[Any]] = {
    str: ["1", "2", "0", "500m", "1Gi", "1e40", "0.1n", "true", "false", "demo", "ray"],
    # Not 2**31 - 1: KubeRay accepts that many replicas, and planning them all takes
    # without end (a known limit of the reconcilers, reported, not a crash).
    int: [0, 1, 2, 3, 10, 1000],
    float: [0.5, 1.0, 1e300],
    bool: [True, False],
}
# Keys that bring a mutant into the code paths rules and builders care about.
ODD_KEYS = [
    "env",
    "volumes",
    "volumeMounts",
    "ports",
    "resources",
    "limits",
    "requests",
    "cpu",
    "memory",
    "nvidia.com/gpu",
    "google.com/tpu",
    "num-cpus",
    "num-gpus",
    "labels",
    "annotations",
    "namespace",
    "generateName",
    "name",
    "containers",
    "initContainers",
    "command",
    "args",
    "rayStartParams",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "numOfHosts",
    "suspend",
    "entrypoint",
    "clusterSelector",
    "submitterPodTemplate",
    "serveConfigV2",
    "runtimeEnvYAML",
    "headService",
    "serviceType",
    "enableIngress",
    "autoscalerOptions",
    "gcsFaultToleranceOptions",
    "ray.io/ft-enabled",
    "dashboard-host",
    "metrics-export-port",
    "port",
    "block",
    "--foo",
    "a b",
    "",
    # YAML allows keys that are not strings.
    1,
    None,
    True,
    1.5,
]


@dataclass
class Figures:
    """What one run found; `crashes` and `pathless` must stay empty."""

    mutants: int = 0
    accepted: int = 0
    rejected: int = 0
    render_refused: int = 0
    crashes: list[str] = field(default_factory=list)
    pathless: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"mutants={self.mutants} accepted={self.accepted} rejected={self.rejected} "
            f"render_refused={self.render_refused} rejections_without_path={len(self.pathless)} "
            f"exceptions={len(self.crashes)}"
        )


def seeds(kuberay_samples: Path | None = None) -> list[dict[str, Any]]:
    """Every ray.io document of the examples and (when present) KubeRay's samples."""
    roots = [p for p in EXAMPLES if p.is_dir()][:1]
    if kuberay_samples is not None and kuberay_samples.is_dir():
        roots.append(kuberay_samples)
    docs: list[dict[str, Any]] = []
    for root in roots:
        for path in sorted(root.rglob("*.yaml")):
            try:
                loaded = load([path])
            except LoadError:
                continue
            docs.extend(d.raw for d in loaded if isinstance(d.raw, dict) and d.kind in KINDS)
    return docs


def _places(obj: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of every dict and list in *obj*, the root included."""
    if isinstance(obj, dict):
        yield here
        for key, value in obj.items():
            yield from _places(value, (*here, key))
    elif isinstance(obj, list):
        yield here
        for index, value in enumerate(obj):
            yield from _places(value, (*here, index))


def _at(obj: Any, path: Iterable[Any]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def mutate(doc: dict[str, Any], rng: random.Random, edits: int) -> dict[str, Any]:
    """*doc* with *edits* random edits: a deleted, nulled, retyped or odd-valued member,
    or an inserted key that the rules read."""
    doc = copy.deepcopy(doc)
    for _ in range(edits):
        target = _at(doc, rng.choice(list(_places(doc))))
        members = list(target) if isinstance(target, dict) else list(range(len(target)))
        action = rng.choice(["delete", "null", "odd", "insert", "duplicate", "same", "same"])
        if action == "insert" or not members:
            value = copy.deepcopy(rng.choice(ODD_VALUES))
            if isinstance(target, dict):
                target[rng.choice(ODD_KEYS)] = value
            else:
                target.insert(rng.randrange(len(target) + 1), value)
            continue
        member = rng.choice(members)
        if action == "delete":
            del target[member]
        elif action == "null":
            target[member] = None
        elif action == "duplicate" and isinstance(target, list):
            target.append(copy.deepcopy(target[member]))
        elif action == "same" and type(target[member]) in PLAUSIBLE:
            target[member] = rng.choice(PLAUSIBLE[type(target[member])])
        else:
            target[member] = copy.deepcopy(rng.choice(ODD_VALUES))
    return doc


def exercise(resource: Resource) -> bool:
    """Run what a runtime runs on an accepted resource; False when render refuses it
    (a BuildError, which `rayplane render` reports as an error line)."""
    if isinstance(resource, RayCluster):
        _cluster(resource)
    elif isinstance(resource, RayJob):
        plan = job_reconciler.reconcile_job(
            resource, job_reconciler.ObservedJob(), NOW, rand=lambda: "abcde"
        )
        for action in plan.actions:
            if isinstance(action, job_reconciler.CreateCluster):
                _cluster(_made(action.name, resource, action.spec))
    elif isinstance(resource, RayService):
        splan = service_reconciler.reconcile_service(
            resource, service_reconciler.ObservedService(), NOW, lambda: "abcde"
        )
        for saction in splan.actions:
            if isinstance(saction, service_reconciler.CreateCluster):
                _cluster(_made(saction.name, resource, saction.spec))
    try:
        render(resource)
    except BuildError:
        return False
    return True


def _made(name: str, owner: Resource, spec: Any) -> RayCluster:
    meta = {"name": name, "namespace": owner.namespace}
    return RayCluster.model_validate({"metadata": meta, "spec": spec.model_dump(by_alias=True)})


def _cluster(cluster: RayCluster) -> None:
    cluster_reconciler.reconcile_cluster(cluster, cluster_reconciler.ObservedCluster(), NOW)
    ray_resources(cluster.spec, None)
    for group in cluster.spec.worker_group_specs:
        ray_resources(cluster.spec, group)


ALL_GATES = FeatureGates.parse(
    "GCSFaultToleranceEmbeddedStorage=true,RayClusterNetworkPolicy=true,"
    "RayClusterMTLS=true,RayClusterHistoryServer=true"
)


def check_one(doc: Any, figures: Figures, label: str) -> None:
    """Validate *doc* and, when accepted, exercise it; record what happened in *figures*."""
    figures.mutants += 1
    gates = ALL_GATES if figures.mutants % 2 else FeatureGates()
    try:
        report = validate(doc, gates)
    except Exception:
        figures.crashes.append(f"{label}: validate: {traceback.format_exc(limit=-3)}")
        return
    if not report.ok or report.resource is None:
        figures.rejected += 1
        if not report.errors or any(not f.path for f in report.errors):
            figures.pathless.append(f"{label}: {[str(f) for f in report.errors]}")
        return
    figures.accepted += 1
    try:
        if not exercise(report.resource):
            figures.render_refused += 1
    except Exception:
        figures.crashes.append(f"{label}: {traceback.format_exc(limit=-4)}")


def run(count: int, seed: int, bases: list[dict[str, Any]]) -> Figures:
    """*count* mutants of *bases* (1 to 4 edits each), reproducible from *seed*."""
    rng = random.Random(seed)
    figures = Figures()
    for index in range(count):
        base = rng.choice(bases)
        doc = mutate(base, rng, rng.randint(1, 4))
        check_one(doc, figures, f"seed={seed} mutant={index}")
    return figures
