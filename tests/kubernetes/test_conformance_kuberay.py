"""Our operator against KubeRay v1.5.0 on one API server: the same inputs, the same outputs.

Every sample goes to two namespaces at once, one watched by KubeRay's own operator (the Go
binary, as its ServiceAccount with its ClusterRole) and one by ours. Pods are started by
the node simulator in both (no kubelet), so clusters become ready; no Ray dashboard is
reachable from either operator (cluster DNS names do not resolve here), so RayJobs and
RayServices stop where they need one, and what is compared is what exists by then: the
clusters, Pods, Services, RBAC, submitter Jobs and the CRs' status. Once neither side has
changed for a few seconds, both are normalized and compared (:mod:`.conformance`); every
difference must be fixed or named in ``conformance.ALLOWED`` with its reason.

``RAYPLANE_CONFORMANCE_DUMP=<folder>`` writes both sides' normalized objects and the
differences there, for reading one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rayplane.kubernetes.testing.kuberay import KubeRayOperator
from tests.kubernetes import conformance
from tests.kubernetes.conformance import Difference, Sample, Side
from tests.kubernetes.real_api import Cluster, Namespace, operator, path_of

pytestmark = pytest.mark.timeout(300)

SAMPLES = conformance.all_samples()
BATCHES = conformance.batches(SAMPLES)
# Neither side changed for this long: both are done with what they can do here.
QUIET = 8.0
# A bound on waiting, not a speed requirement: what is not stable by then is compared as is.
SETTLE_LIMIT = 150.0


@dataclass
class Pair:
    kuberay: Namespace
    ours: Namespace
    samples: list[Sample]


@dataclass
class Outcome:
    pairs: list[Pair]
    differences: list[Difference] = field(default_factory=list)
    settled_after: float = 0.0
    stable: bool = False
    sides: dict[str, Side] = field(default_factory=dict)
    cleanup: dict[str, Side] = field(default_factory=dict)
    cleanup_expected: dict[str, set[str]] = field(default_factory=dict)
    runtime: float = 0.0
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def pairs(kube_cluster: Cluster) -> list[Pair]:
    """One namespace pair per batch of samples whose names do not collide; Pods start."""
    return [
        Pair(
            kube_cluster.namespace(f"kuberay{i}", manual_pods=False),
            kube_cluster.namespace(f"ours{i}", manual_pods=False),
            batch,
        )
        for i, batch in enumerate(BATCHES)
    ]


@pytest.fixture(scope="module")
def kuberay_operator(
    kube_cluster: Cluster, pairs: list[Pair], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeRayOperator]:
    """KubeRay v1.5.0's operator, watching the KubeRay side of every pair."""
    watched = ",".join(p.kuberay.name for p in pairs)
    reference = KubeRayOperator(
        kube_cluster.admin,
        kube_cluster.server,
        kube_cluster.ca_file,
        watched,
        tmp_path_factory.mktemp("kuberay"),
    )
    reference.start(f"--feature-gates={conformance.KUBERAY_FEATURE_GATES}")
    try:
        yield reference
    finally:
        reference.stop()


def _apply(ns: Namespace, sample: Sample) -> None:
    for doc in sample.support + sample.ray:
        conformance.create(ns.cluster.admin, ns.name, doc)


def _side(pair: Pair, ns: Namespace) -> Side:
    applied = {n for s in pair.samples for n in s.names()}
    return Side(ns.name, conformance.list_objects(ns.cluster.admin, ns.name), applied)


def _snapshot(pairs: list[Pair]) -> dict[str, Side]:
    found: dict[str, Side] = {}
    for i, pair in enumerate(pairs):
        found[f"kuberay{i}"] = _side(pair, pair.kuberay)
        found[f"ours{i}"] = _side(pair, pair.ours)
    return found


def _normalized(sides: dict[str, Side]) -> dict[str, Any]:
    return {name: side.normalized() for name, side in sides.items()}


@pytest.fixture(scope="module")
def outcome(kuberay_operator: KubeRayOperator, pairs: list[Pair]) -> Outcome:
    result = Outcome(pairs)
    watched = tuple(p.ours.name for p in pairs)

    async def scenario() -> None:
        async with operator(pairs[0].ours, namespaces=watched):
            started = time.monotonic()
            for pair in pairs:
                for sample in pair.samples:
                    _apply(pair.kuberay, sample)
                    _apply(pair.ours, sample)
            sides = await asyncio.to_thread(_snapshot, pairs)
            last = _normalized(sides)
            changed = time.monotonic()
            while time.monotonic() - started < SETTLE_LIMIT:
                await asyncio.sleep(1.0)
                sides = await asyncio.to_thread(_snapshot, pairs)
                now = _normalized(sides)
                if now != last:
                    last, changed = now, time.monotonic()
                elif time.monotonic() - changed >= QUIET:
                    result.stable = True
                    break
            result.settled_after = changed - started
            result.sides = sides
            result.snapshots = last
            result.cleanup = await _delete_fault_tolerant_clusters(pairs, result)
            result.runtime = time.monotonic() - started

    asyncio.run(scenario())
    for i, pair in enumerate(pairs):
        kuberay_side, ours = result.sides[f"kuberay{i}"], result.sides[f"ours{i}"]
        result.differences += conformance.compare_sides(kuberay_side, ours, pair.samples)
        kuberay_side, ours = result.cleanup[f"kuberay{i}"], result.cleanup[f"ours{i}"]
        result.differences += conformance.compare_sides(
            kuberay_side, ours, pair.samples, conformance.is_cleanup_job
        )
    dump = os.environ.get("RAYPLANE_CONFORMANCE_DUMP")
    if dump:
        _dump(Path(dump), result)
    return result


REDIS_FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"
CLEANUP_LIMIT = 60.0


async def _delete_fault_tolerant_clusters(pairs: list[Pair], result: Outcome) -> dict[str, Side]:
    """Delete every standalone RayCluster holding the Redis cleanup finalizer, on both
    sides, and wait for each operator's ``<cluster>-redis-cleanup`` Job: the Jobs are what
    is compared (their Pods never finish here, so the clusters stay terminating)."""
    expected: dict[str, set[str]] = {}
    for i, pair in enumerate(pairs):
        for side, ns in (("kuberay", pair.kuberay), ("ours", pair.ours)):
            names = {
                c["metadata"]["name"]
                for c in ns.objects("rayclusters")
                if REDIS_FINALIZER in (c["metadata"].get("finalizers") or ())
                and not c["metadata"].get("ownerReferences")
            }
            for name in sorted(names):
                ns.request("DELETE", path_of("rayclusters", ns.name, name))
            expected[f"{side}{i}"] = {f"{n}-redis-cleanup" for n in names}
            result.cleanup_expected.setdefault(side, set()).update(
                f"{i}/{n}-redis-cleanup" for n in names
            )

    def done() -> bool:
        return all(
            want <= {j["metadata"]["name"] for j in ns.objects("jobs")}
            for i, pair in enumerate(pairs)
            for side, ns in (("kuberay", pair.kuberay), ("ours", pair.ours))
            for want in [expected[f"{side}{i}"]]
        )

    with contextlib.suppress(TimeoutError):
        await pairs[0].ours.wait_for(done, timeout=CLEANUP_LIMIT, interval=1.0)
    return await asyncio.to_thread(_snapshot, pairs)


def _dump(folder: Path, result: Outcome) -> None:
    """Both sides as read (``*.raw.json``, which ``python -m tests.kubernetes.conformance
    FOLDER`` compares again offline), normalized (``*.json``) and the differences."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, side in result.snapshots.items():
        (folder / f"{name}.json").write_text(
            json.dumps({k: v[1] for k, v in side.items()}, indent=1, sort_keys=True),
            encoding="utf-8",
        )
        conformance.dump_side(result.sides[name], folder / f"{name}.raw.json")
        conformance.dump_side(result.cleanup[name], folder / f"{name}.cleanup.raw.json")
    allowed = [d for d in result.differences if not conformance.unexplained([d])]
    (folder / "differences.txt").write_text(
        "".join(f"{d}\n" for d in result.differences), encoding="utf-8"
    )
    (folder / "allowed.txt").write_text("".join(f"{d}\n" for d in allowed), encoding="utf-8")
    summary = {
        "settled_after": result.settled_after,
        "runtime": result.runtime,
        "stable": result.stable,
        "namespaces": [[p.kuberay.name, p.ours.name] for p in result.pairs],
        "batches": [[s.name for s in p.samples] for p in result.pairs],
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")


def test_every_skipped_sample_says_why() -> None:
    skipped = [s for s in SAMPLES if s.skipped]
    assert skipped, "the batch-scheduler and Gateway API samples cannot run here"
    assert all(len(s.skipped) > 10 for s in skipped)
    compared = [s for s in SAMPLES if not s.skipped]
    assert {"examples/raycluster-basic.yaml", "kuberay/ray-cluster.sample.yaml"} <= {
        s.name for s in compared
    }


def test_both_sides_settled(outcome: Outcome) -> None:
    assert outcome.stable, f"still changing after {SETTLE_LIMIT} s"


def _count(outcome: Outcome, side: str, what: Any) -> int:
    return sum(
        1
        for name, found in outcome.sides.items()
        if name.startswith(side)
        for obj in found.objects
        if what(obj)
    )


def test_both_sides_went_as_far_as_they_can_here(outcome: Outcome) -> None:
    """Two empty namespaces would compare equal: both operators must have brought the
    clusters to ready, started the submitter Jobs and, on deletion, the Redis cleanup."""
    for side in ("kuberay", "ours"):
        ready = _count(
            outcome,
            side,
            lambda o: o["kind"] == "RayCluster" and (o.get("status") or {}).get("state") == "ready",
        )
        submitters = _count(outcome, side, lambda o: o["kind"] == "Job")
        assert ready >= 50 and submitters >= 10, (side, ready, submitters)
        cleanup = {
            f"{name.removeprefix(side)}/{obj['metadata']['name']}"
            for name, found in outcome.cleanup.items()
            if name.startswith(side)
            for obj in found.objects
            if obj["kind"] == "Job"
        }
        assert len(outcome.cleanup_expected[side]) >= 5
        assert outcome.cleanup_expected[side] <= cleanup, side


def test_no_unexplained_difference(outcome: Outcome) -> None:
    left = conformance.unexplained(outcome.differences)
    assert not left, f"{len(left)} unexplained differences:\n" + "\n".join(map(str, left))


def test_every_allowance_is_still_needed(outcome: Outcome) -> None:
    used = conformance.used_allowances(outcome.differences)
    stale = [a for i, a in enumerate(conformance.ALLOWED) if i not in used]
    assert not stale, stale
