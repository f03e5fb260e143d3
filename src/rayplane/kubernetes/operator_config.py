"""What one operator runs with: the settings root turned into the operator's own types.

The root (:mod:`rayplane.settings`) holds plain values; this is where they become a
:class:`Connection`, listen addresses, a leader identity, the builders' options and the
reconcilers' options, so the feature gates reach every reconciler by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rayplane.api.validation import FeatureGates
from rayplane.kubernetes.builders import BuildOptions
from rayplane.kubernetes.kube import Connection
from rayplane.kubernetes.leader import LEASE_NAME, default_identity
from rayplane.reconcile.job import JobOptions
from rayplane.reconcile.service import ServiceOptions
from rayplane.settings import Settings
from rayplane.settings.operator import DEFAULT_RECONCILE_CONCURRENCY


def _address(text: str) -> str | None:
    """KubeRay's ":8080" style; "0" or "" disables the endpoint."""
    if text in ("", "0"):
        return None
    host, _, port = text.rpartition(":")
    return f"{host or '0.0.0.0'}:{port}"


@dataclass(frozen=True)
class OperatorConfig:
    """Everything the operator can be told; defaults are KubeRay's where KubeRay has one.

    Built by :meth:`from_settings` in production; tests build one directly.

    * ``namespaces``: watch only these (``--watch-namespace``); empty: all namespaces.
    * ``reconcile_concurrency``: objects reconciled at once (``--reconcile-concurrency``;
      4 by default, KubeRay's is 1: see DEFAULT_RECONCILE_CONCURRENCY).
    * ``leader_election`` and the Lease's namespace, name, timings (client-go's defaults:
      15 s lease, 10 s renew deadline, 2 s retry); ``identity`` None: hostname and a uuid.
    * ``health_address`` (``/healthz``, ``/readyz``) and ``metrics_address`` (``/metrics``):
      ``host:port``, or None for none.
    * ``webhook_port`` with ``webhook_cert``/``webhook_key`` (PEM files), or
      ``webhook_insecure`` (plain HTTP, tests only); None: no webhook server.
    * ``watch_server_timeout`` / ``watch_client_timeout``: every watch is re-opened at least
      that often, so a watch the network silently dropped cannot freeze the operator.
    * ``build``, ``job_env_options``, ``zero_downtime``: KubeRay's environment variables.
    * ``gates``: the feature gates validation and the reconcilers run with.
    * ``dashboard_transport``: replaces the network for Ray dashboard calls (tests).
    """

    connection: Connection = field(default_factory=Connection)
    namespaces: tuple[str, ...] = ()
    reconcile_concurrency: int = DEFAULT_RECONCILE_CONCURRENCY
    leader_election: bool = True
    leader_election_namespace: str = "default"
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
    build: BuildOptions = field(default_factory=BuildOptions)
    # KubeRay's RayJob environment variables; the gates are added by job_options.
    job_env_options: JobOptions = field(default_factory=JobOptions)
    gates: FeatureGates = field(default_factory=FeatureGates)
    zero_downtime: bool = True
    time_zone: str | None = None  # $TZ: RayCronJobs without timeZone run in it
    dashboard_transport: httpx.BaseTransport | None = None
    dashboard_timeout: float = 2.0
    post_events: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> OperatorConfig:
        """The operator's config from the root (``rayplane.settings.load_operator``)."""
        op = settings.operator
        token = op.token
        if op.token_file:
            token = Path(op.token_file).read_text(encoding="utf-8").strip()
        cert_dir = Path(op.webhook_cert_dir)
        kuberay = settings.kuberay.variables
        return cls(
            connection=Connection(
                server=op.server,
                token=token,
                ca_file=Path(op.certificate_authority) if op.certificate_authority else None,
            ),
            namespaces=op.namespaces,
            reconcile_concurrency=op.reconcile_concurrency,
            leader_election=op.leader_election,
            leader_election_namespace=op.leader_election_namespace,
            identity=default_identity(op.pod_name),
            health_address=_address(op.health_probe_addr),
            metrics_address=_address(op.metrics_addr),
            webhook_port=op.webhook_port,
            webhook_cert=str(cert_dir / "tls.crt") if op.webhook_port else None,
            webhook_key=str(cert_dir / "tls.key") if op.webhook_port else None,
            build=BuildOptions.from_env(kuberay),
            job_env_options=JobOptions.from_env(kuberay),
            gates=settings.gates,
            zero_downtime=settings.kuberay.zero_downtime,
            time_zone=op.time_zone,
        )

    @property
    def job_options(self) -> JobOptions:
        """What the RayJob reconciler runs with: the environment's settings, these gates."""
        return self.job_env_options.with_gates(self.gates)

    @property
    def service_options(self) -> ServiceOptions:
        return ServiceOptions(gates=self.gates, zero_downtime=self.zero_downtime)
