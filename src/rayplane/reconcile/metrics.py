"""Prometheus metrics under KubeRay's names, one module for both runtimes.

The operator and the local controller serve the same ``kuberay_*`` series, so dashboards
and alerts built for KubeRay (and ``deploy/grafana``) work against either. The registry is
in-memory and does no I/O, so it sits below both runtimes; each runtime only feeds it
(the operator from its reconcilers, the local controller from its store at scrape time)
and serves :meth:`ControlPlaneMetrics.exposition` over its own HTTP.

KubeRay (ray-operator/controllers/ray/metrics/) exports, with labels ``name``/``namespace``:

* ``kuberay_cluster_provisioned_duration_seconds``: seconds from creation until
  RayClusterProvisioned first turned True (a gauge, set once per cluster);
* ``kuberay_cluster_info{owner_kind}``: 1 per RayCluster (owner_kind RayJob, RayService or
  None);
* ``kuberay_cluster_condition_provisioned{condition="true|false"}``;
* ``kuberay_job_execution_duration_seconds{job_deployment_status, retry_count}``: seconds
  from the job's start until it reached Complete, Failed or Retrying;
* ``kuberay_job_info``, ``kuberay_job_deployment_status{deployment_status}``;
* ``kuberay_service_info``, ``kuberay_service_condition_ready{condition}``,
  ``kuberay_service_condition_upgrade_in_progress{condition}``.

The per-object series are computed at scrape time from the last state each reconcile
saw (KubeRay lists from its informer cache at scrape time), so a deleted object's series
disappear with it. Reconcile counts and latency use controller-runtime's names
(``controller_runtime_reconcile_total{controller,result}``,
``controller_runtime_reconcile_time_seconds{controller}``), which KubeRay also exports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class ClusterFacts:
    owner_kind: str
    provisioned: bool


@dataclass(frozen=True)
class JobFacts:
    deployment_status: str


@dataclass(frozen=True)
class ServiceFacts:
    ready: bool
    upgrade_in_progress: bool


class _StateCollector(Collector):
    def __init__(self, metrics: ControlPlaneMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = self.metrics
        if m.refresh is not None:
            m.refresh()  # the local runtime reads its store now, as KubeRay lists its cache
        info = GaugeMetricFamily(
            "kuberay_cluster_info",
            "Metadata information about RayCluster custom resources",
            labels=["name", "namespace", "owner_kind"],
        )
        provisioned = GaugeMetricFamily(
            "kuberay_cluster_condition_provisioned",
            "Indicates whether the RayCluster is provisioned",
            labels=["name", "namespace", "condition"],
        )
        for (ns, name), facts in sorted(m.clusters.items()):
            info.add_metric([name, ns, facts.owner_kind], 1)
            provisioned.add_metric([name, ns, str(facts.provisioned).lower()], 1)
        job_info = GaugeMetricFamily(
            "kuberay_job_info",
            "Metadata information about RayJob custom resources",
            labels=["name", "namespace"],
        )
        job_status = GaugeMetricFamily(
            "kuberay_job_deployment_status",
            "The RayJobs current deployment status",
            labels=["name", "namespace", "deployment_status"],
        )
        for (ns, name), job in sorted(m.jobs.items()):
            job_info.add_metric([name, ns], 1)
            job_status.add_metric([name, ns, job.deployment_status], 1)
        svc_info = GaugeMetricFamily(
            "kuberay_service_info",
            "RayServiceInfo contains the information of the RayService.",
            labels=["name", "namespace"],
        )
        svc_ready = GaugeMetricFamily(
            "kuberay_service_condition_ready",
            "Describes whether the RayService is ready. Ready means users can send requests "
            "to the underlying cluster and the number of serve endpoints is greater than 0.",
            labels=["name", "namespace", "condition"],
        )
        svc_upgrade = GaugeMetricFamily(
            "kuberay_service_condition_upgrade_in_progress",
            "Describes whether the RayService is performing a zero-downtime upgrade.",
            labels=["name", "namespace", "condition"],
        )
        for (ns, name), svc in sorted(m.services.items()):
            svc_info.add_metric([name, ns], 1)
            svc_ready.add_metric([name, ns, str(svc.ready).lower()], 1)
            svc_upgrade.add_metric([name, ns, str(svc.upgrade_in_progress).lower()], 1)
        yield from (info, provisioned, job_info, job_status, svc_info, svc_ready, svc_upgrade)


class ControlPlaneMetrics:
    """One control plane's metrics in its own registry (two in one test process).

    *refresh*, when given, is called at the start of every scrape to bring ``clusters``,
    ``jobs`` and ``services`` up to date (the local controller reads its store there).
    """

    def __init__(self, refresh: Callable[[], None] | None = None) -> None:
        self.refresh: Callable[[], None] | None = None  # not while registering (auto_describe)
        self.registry = CollectorRegistry(auto_describe=True)
        self.clusters: dict[Key, ClusterFacts] = {}
        self.jobs: dict[Key, JobFacts] = {}
        self.services: dict[Key, ServiceFacts] = {}
        # First, so a scrape refreshes (``refresh``) before the gauges below are read.
        self.registry.register(_StateCollector(self))
        self.cluster_provisioned_duration = Gauge(
            "kuberay_cluster_provisioned_duration_seconds",
            "The time, in seconds, when a RayCluster's `RayClusterProvisioned` status "
            "transitions from false (or unset) to true",
            ["name", "namespace"],
            registry=self.registry,
        )
        self.job_execution_duration = Gauge(
            "kuberay_job_execution_duration_seconds",
            "Duration from when the RayJob CR's JobDeploymentStatus transitions from "
            "Initializing to either the Retrying state or a terminal state, such as Complete "
            "or Failed.",
            ["name", "namespace", "job_deployment_status", "retry_count"],
            registry=self.registry,
        )
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=self.registry,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=self.registry,
        )
        # The local controller's own, beside controller-runtime's: what it did to processes.
        self.node_starts = Counter(
            "rayplane_node_starts_total",
            "Ray node processes started by the local controller (`ray start`)",
            ["namespace", "cluster", "group"],
            registry=self.registry,
        )
        self.events = Counter(
            "rayplane_events_total",
            "Events the control plane recorded, by reason and type: node failures "
            "(type Warning), deletions (DeletedNode), autoscaler decisions (Autoscaler)",
            ["reason", "type"],
            registry=self.registry,
        )
        self.refresh = refresh

    # -- updates from the reconcilers -------------------------------------------------------------

    def cluster_seen(self, ns: str, name: str, owner_kind: str, provisioned: bool) -> None:
        self.clusters[(ns, name)] = ClusterFacts(owner_kind, provisioned)

    def cluster_provisioned(self, ns: str, name: str, seconds: float) -> None:
        self.cluster_provisioned_duration.labels(name, ns).set(seconds)

    def cluster_gone(self, ns: str, name: str) -> None:
        self.clusters.pop((ns, name), None)
        with contextlib.suppress(KeyError):
            self.cluster_provisioned_duration.remove(name, ns)

    def job_seen(self, ns: str, name: str, deployment_status: str) -> None:
        self.jobs[(ns, name)] = JobFacts(deployment_status)

    def job_finished(
        self, ns: str, name: str, deployment_status: str, retry_count: int, seconds: float
    ) -> None:
        self.job_execution_duration.labels(name, ns, deployment_status, str(retry_count)).set(
            seconds
        )

    def job_gone(self, ns: str, name: str) -> None:
        self.jobs.pop((ns, name), None)

    def service_seen(self, ns: str, name: str, ready: bool, upgrading: bool) -> None:
        self.services[(ns, name)] = ServiceFacts(ready, upgrading)

    def service_gone(self, ns: str, name: str) -> None:
        self.services.pop((ns, name), None)

    def reconciled(self, controller: str, seconds: float, result: str) -> None:
        self.reconcile_total.labels(controller, result).inc()
        self.reconcile_time.labels(controller).observe(seconds)
        if result == "error":
            self.reconcile_errors.labels(controller).inc()

    def event(self, reason: str, type_: str) -> None:
        self.events.labels(reason, type_).inc()

    def node_started(self, ns: str, cluster: str, group: str) -> None:
        self.node_starts.labels(ns, cluster, group).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
