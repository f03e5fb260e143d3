"""rayplane's operator beside KubeRay's own (v1.5.0), on one real API server, in one run.

Starts a real control plane (etcd, kube-apiserver, kube-controller-manager built from
source by scripts/install-test-services) with the node simulator, installs our CRDs (both
operators share them: CRDs are cluster-wide), then for each operator in turn: starts it as
its own ServiceAccount watching its own namespace, creates N RayClusters of 1 head + W
workers at once (as KubeRay's own perf tests do), and measures

* time from the first create to every cluster's children existing (N*(1+W) Pods and N head
  Services), and to every cluster's status.state "ready";
* API requests the operator made (the API server's audit log, by the operator's user);
* the operator's resident memory: idle before the load, peak during it, idle after.

Pods' processes are simulated (no kubelet): the node simulator binds each Pod and reports
it Running and Ready at once, the same for both operators. The operators run one after
the other, so neither competes with the other for the 2 cores; the order alternates with
--order. Ratios are rayplane / KubeRay (below 1.0: rayplane is faster or smaller).

Run: python bench/operator_vs_kuberay.py [--clusters 200] [--workers 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from _common import cluster_doc

from rayplane.kubernetes.testing.controlplane import ControlPlane, State
from rayplane.kubernetes.testing.install import (
    OPERATOR_USER,
    install_crds,
    install_operator_rbac,
)
from rayplane.kubernetes.testing.kuberay import VERSION, KubeRayOperator
from rayplane.kubernetes.testing.rest import apply, path_of

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


@dataclass
class Result:
    name: str
    children_s: float = float("nan")
    ready_s: float = float("nan")
    requests: int = 0
    by_verb: Counter[str] = field(default_factory=Counter)
    rss_idle_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_after_mb: float = 0.0
    cpu_s: float = 0.0
    outcome: str = "ok"


class RssSampler:
    """Samples a process tree's resident memory every half second, keeping the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def cpu(self) -> float:
        """CPU seconds (user + system) the process has used so far."""
        try:
            times = psutil.Process(self.pid).cpu_times()
            return float(times.user + times.system)
        except psutil.Error:
            return 0.0

    def now(self) -> int:
        try:
            proc = psutil.Process(self.pid)
            procs = [proc, *proc.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> RssSampler:
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _count_metadata(client: httpx.Client, plural: str, namespace: str, selector: str) -> int:
    answer = client.get(
        path_of(plural, namespace),
        params={"labelSelector": selector},
        headers={"Accept": METADATA_LIST},
    )
    answer.raise_for_status()
    return sum(1 for o in answer.json()["items"] if not o["metadata"].get("deletionTimestamp"))


def _ready_count(client: httpx.Client, namespace: str) -> int:
    answer = client.get(path_of("rayclusters", namespace))
    answer.raise_for_status()
    return sum(1 for c in answer.json()["items"] if (c.get("status") or {}).get("state") == "ready")


def _audit_counts(state: State, user: str, since: float, until: float) -> Counter[str]:
    counts: Counter[str] = Counter()
    with open(state.audit_log, encoding="utf-8") as log:
        for line in log:
            event = json.loads(line)
            if event.get("stage") != "ResponseComplete" or event["user"]["username"] != user:
                continue
            stamp = _epoch(event["requestReceivedTimestamp"])
            if since <= stamp <= until:
                counts[event["verb"]] += 1
    return counts


def _epoch(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def measure(
    name: str,
    start: Any,
    user: str,
    pid_of: Any,
    plane: ControlPlane,
    state: State,
    namespace: str,
    clusters: int,
    workers: int,
    timeout: float,
) -> Result:
    result = Result(name)
    client = plane.admin_client(timeout=60.0)
    apply(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    stop = start(namespace)
    try:
        time.sleep(5.0)  # settle: caches synced, nothing to do
        sampler = RssSampler(pid_of())
        result.rss_idle_mb = sampler.now() / 2**20
        cpu_before = sampler.cpu()
        with sampler:
            began = time.time()
            t0 = time.monotonic()
            docs = [cluster_doc(f"c{i:05d}", workers) for i in range(clusters)]

            def create(doc: dict[str, Any]) -> None:
                answer = client.post(path_of("rayclusters", namespace), json=doc)
                answer.raise_for_status()

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(create, docs))
            print(f"  {name}: {clusters} created in {time.monotonic() - t0:.1f} s", flush=True)
            pods_wanted = clusters * (1 + workers)
            children = ready = None
            deadline = t0 + timeout
            while time.monotonic() < deadline and ready is None:
                time.sleep(1.0)
                if children is None:
                    pods = _count_metadata(client, "pods", namespace, "ray.io/cluster")
                    svcs = _count_metadata(client, "services", namespace, "ray.io/node-type=head")
                    if pods >= pods_wanted and svcs >= clusters:
                        children = time.monotonic() - t0
                        print(f"  {name}: children after {children:.1f} s", flush=True)
                if _ready_count(client, namespace) >= clusters:
                    ready = time.monotonic() - t0
                    print(f"  {name}: all ready after {ready:.1f} s", flush=True)
            ended = time.time()
            result.cpu_s = sampler.cpu() - cpu_before
        result.rss_peak_mb = sampler.peak / 2**20
        if children is not None:
            result.children_s = children
        if ready is not None:
            result.ready_s = ready
        else:
            result.outcome = f"not all ready within {timeout:.0f} s"
        time.sleep(10.0)
        result.rss_after_mb = sampler.now() / 2**20
        result.by_verb = _audit_counts(state, user, began, ended)
        result.requests = sum(result.by_verb.values())
    finally:
        stop()
        client.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--warmup", type=int, default=20, help="clusters in the warm-up round")
    parser.add_argument(
        "--reconcile-concurrency",
        type=int,
        default=None,
        help="given to both operators (default: each its own; KubeRay's is 1, ours 4)",
    )
    parser.add_argument(
        "--order", choices=("kuberay-first", "rayplane-first"), default="kuberay-first"
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="rp-bench-kube-"))
    plane = ControlPlane(folder / "plane")
    state = plane.up()
    try:
        admin = plane.admin_client(timeout=60.0)
        install_crds(admin)
        token_file = folder / "operator.token"
        token_file.write_text(install_operator_rbac(admin), encoding="utf-8")
        token_file.chmod(0o600)
        concurrency = (
            [f"--reconcile-concurrency={args.reconcile_concurrency}"]
            if args.reconcile_concurrency
            else []
        )
        kuberay_box: dict[str, KubeRayOperator] = {}
        ours_box: dict[str, subprocess.Popen[bytes]] = {}

        def start_kuberay(namespace: str) -> Any:
            op = KubeRayOperator(admin, state.server, Path(state.ca_file), namespace, folder)
            op.start(*concurrency)
            kuberay_box["op"] = op
            return op.stop

        def start_ours(namespace: str) -> Any:
            log = (folder / "rayplane-operator.log").open("ab")
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rayplane.kubernetes",
                    f"--server={state.server}",
                    f"--token-file={token_file}",
                    f"--certificate-authority={state.ca_file}",
                    f"--watch-namespace={namespace}",
                    "--enable-leader-election=false",
                    "--metrics-addr=0",
                    "--health-probe-bind-address=0",
                    "--log-level=WARNING",
                    *concurrency,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            ours_box["proc"] = proc

            def stop() -> None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

            return stop

        runs = [
            (
                f"KubeRay {VERSION}",
                start_kuberay,
                "system:serviceaccount:kuberay-system:kuberay-operator",
                lambda: kuberay_box["op"].process.pid,  # type: ignore[union-attr]
                "bench-kuberay",
            ),
            ("rayplane", start_ours, OPERATOR_USER, lambda: ours_box["proc"].pid, "bench-rayplane"),
        ]
        if args.order == "rayplane-first":
            runs.reverse()
        # A short unreported round of each first: the first operator measured would
        # otherwise also pay for the API server's and the simulator's warm-up.
        rounds = [("-warmup", args.warmup, False), ("", args.clusters, True)]
        results = {}
        for suffix, clusters, reported in rounds:
            for name, start, user, pid_of, namespace in runs:
                what = "RayClusters" if reported else "clusters, warm-up (not reported)"
                print(f"{name}: {clusters} {what} of 1 head + {args.workers} workers")
                result = measure(
                    name,
                    start,
                    user,
                    pid_of,
                    plane,
                    state,
                    namespace + suffix,
                    clusters,
                    args.workers,
                    args.timeout,
                )
                if reported:
                    results[name] = result
        report(results, args)
    finally:
        plane.down()


def report(results: dict[str, Result], args: argparse.Namespace) -> None:
    theirs = results[f"KubeRay {VERSION}"]
    ours = results["rayplane"]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "n/a"

    print()
    print(
        f"{args.clusters} RayClusters x (1 head + {args.workers} workers), one real "
        "kube-apiserver, Pods simulated (no kubelet), operators run one after the other, "
        + (
            f"--reconcile-concurrency={args.reconcile_concurrency} for both"
            if args.reconcile_concurrency
            else "each operator's default --reconcile-concurrency (KubeRay 1, rayplane 4)"
        )
    )
    print(f"| measure | KubeRay {VERSION} | rayplane | rayplane / KubeRay |")
    print("|---|---|---|---|")
    rows = [
        ("children exist (s)", theirs.children_s, ours.children_s, "{:.1f}"),
        ("all ready (s)", theirs.ready_s, ours.ready_s, "{:.1f}"),
        ("API requests", theirs.requests, ours.requests, "{:.0f}"),
        ("operator CPU (s)", theirs.cpu_s, ours.cpu_s, "{:.1f}"),
        ("RSS idle before (MiB)", theirs.rss_idle_mb, ours.rss_idle_mb, "{:.1f}"),
        ("RSS peak (MiB)", theirs.rss_peak_mb, ours.rss_peak_mb, "{:.1f}"),
        ("RSS idle after (MiB)", theirs.rss_after_mb, ours.rss_after_mb, "{:.1f}"),
    ]
    for label, a, b, fmt in rows:
        print(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {ratio(b, a)} |")
    for result in (theirs, ours):
        verbs = ", ".join(f"{v} {n}" for v, n in result.by_verb.most_common())
        print(f"{result.name}: requests by verb: {verbs}; outcome: {result.outcome}")


if __name__ == "__main__":
    main()
