"""The operator's settings: :class:`OperatorConfig`, flags and KubeRay's environment variables.

The running operator's shared port is :mod:`.operator_context`; each kind's memory lives in
its controller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import httpx

from rayplane.api.validation import FeatureGates
from rayplane.kubernetes.builders import BuildOptions
from rayplane.kubernetes.kube import Connection
from rayplane.kubernetes.leader import LEASE_NAME
from rayplane.reconcile.job import JobOptions
from rayplane.reconcile.service import ServiceOptions

# KubeRay's default is 1 (one goroutine per controller). A pass here is a coroutine that
# mostly waits on the API server, so a few at once cost almost nothing and keep one slow
# pass from holding up every other object (bench/operator_vs_kuberay.py measures both).
# The work queue still runs at most one pass per object at a time.
DEFAULT_RECONCILE_CONCURRENCY = 4


@dataclass(frozen=True)
class OperatorConfig:
    """Everything the operator can be told; defaults are KubeRay's where KubeRay has one.

    * ``namespaces``: watch only these (``--watch-namespace``); empty: all namespaces.
    * ``reconcile_concurrency``: objects reconciled at once (``--reconcile-concurrency``;
      4 by default, KubeRay's is 1: see DEFAULT_RECONCILE_CONCURRENCY).
    * ``leader_election`` and the Lease's namespace, name, timings (client-go's defaults:
      15 s lease, 10 s renew deadline, 2 s retry).
    * ``health_address`` (``/healthz``, ``/readyz``) and ``metrics_address`` (``/metrics``):
      ``host:port``, or None for none.
    * ``webhook_port`` with ``webhook_cert``/``webhook_key`` (PEM files), or
      ``webhook_insecure`` (plain HTTP, tests only); None: no webhook server.
    * ``watch_server_timeout`` / ``watch_client_timeout``: every watch is re-opened at least
      that often, so a watch the network silently dropped cannot freeze the operator.
    * ``dashboard_transport``: replaces the network for Ray dashboard calls (tests).
    """

    connection: Connection = field(default_factory=Connection)
    namespaces: tuple[str, ...] = ()
    reconcile_concurrency: int = DEFAULT_RECONCILE_CONCURRENCY
    leader_election: bool = True
    leader_election_namespace: str = field(
        default_factory=lambda: os.environ.get("POD_NAMESPACE") or "default"
    )
    lease_name: str = LEASE_NAME
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str | None = None
    field_manager: str = "rayplane-operator"
    health_address: str | None = "0.0.0.0:8082"
    metrics_address: str | None = "0.0.0.0:8080"
    webhook_port: int | None = None
    webhook_host: str = "0.0.0.0"
    webhook_cert: str | None = None
    webhook_key: str | None = None
    webhook_insecure: bool = False
    watch_server_timeout: float = 300.0
    watch_client_timeout: float = 330.0
    build: BuildOptions = field(default_factory=lambda: BuildOptions.from_env(os.environ))
    # KubeRay's RayJob environment variables; the gates are added by job_options.
    job_env_options: JobOptions = field(default_factory=lambda: JobOptions.from_env(os.environ))
    gates: FeatureGates = field(default_factory=FeatureGates)
    zero_downtime: bool = field(
        default_factory=lambda: os.environ.get("ENABLE_ZERO_DOWNTIME", "").lower() != "false"
    )
    dashboard_transport: httpx.BaseTransport | None = None
    dashboard_timeout: float = 2.0
    post_events: bool = True

    @property
    def job_options(self) -> JobOptions:
        """What the RayJob reconciler runs with: the environment's settings, these gates."""
        return self.job_env_options.with_gates(self.gates)

    @property
    def service_options(self) -> ServiceOptions:
        return ServiceOptions(gates=self.gates, zero_downtime=self.zero_downtime)
