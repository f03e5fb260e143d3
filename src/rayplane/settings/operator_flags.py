"""The operator's command line: KubeRay's flag names (``--metrics-addr``,
``--health-probe-bind-address``, ``--enable-leader-election``, ``--leader-election-namespace``,
``--reconcile-concurrency``, ``--watch-namespace``, ``--feature-gates``) plus the webhook's.

Shared by ``python -m rayplane.kubernetes`` and ``rayplane operator`` so both accept exactly
the same flags; argparse rather than typer so the operator image needs nothing the CLI
package pulls in. A flag left out falls back to the environment variable KubeRay's
Deployment sets (WATCH_NAMESPACE, POD_NAMESPACE, LOG_LEVEL), then to the default.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from rayplane.settings.operator import (
    DEFAULT_RECONCILE_CONCURRENCY,
    DEFAULT_WEBHOOK_CERT_DIR,
    OperatorSettings,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rayplane operator",
        description="Run the rayplane Kubernetes operator (a drop-in for KubeRay's).",
    )
    p.add_argument(
        "--watch-namespace",
        default=None,
        help="Comma-separated namespaces to watch; empty: all namespaces.",
    )
    p.add_argument(
        "--reconcile-concurrency",
        type=int,
        default=DEFAULT_RECONCILE_CONCURRENCY,
        help=(
            "How many objects are reconciled at once (default "
            f"{DEFAULT_RECONCILE_CONCURRENCY}; KubeRay's is 1)."
        ),
    )
    p.add_argument(
        "--enable-leader-election",
        default="true",
        help="true/false: elect a leader on the Lease ray-operator-leader.",
    )
    p.add_argument("--leader-election-namespace", default=None)
    p.add_argument("--metrics-addr", default=":8080", help="Prometheus /metrics; 0 disables.")
    p.add_argument(
        "--health-probe-bind-address", default=":8082", help="/healthz and /readyz; 0 disables."
    )
    p.add_argument(
        "--webhook-port",
        type=int,
        default=None,
        help="Serve the validating admission webhook on this port (HTTPS).",
    )
    p.add_argument(
        "--webhook-cert-dir",
        default=DEFAULT_WEBHOOK_CERT_DIR,
        help="Directory with tls.crt and tls.key for the webhook.",
    )
    p.add_argument(
        "--feature-gates", default="", help="KubeRay feature gates, e.g. A=true,B=false."
    )
    p.add_argument(
        "--server",
        default=None,
        help="API server URL (default: in-cluster service account, else kubeconfig).",
    )
    p.add_argument(
        "--token",
        default=None,
        help="Bearer token for --server (visible to local users in the process list: "
        "prefer --token-file).",
    )
    p.add_argument("--token-file", default=None, help="File holding the bearer token.")
    p.add_argument("--certificate-authority", default=None, help="CA file for --server.")
    p.add_argument("--log-level", default=None)
    return p


def operator_settings(
    argv: Sequence[str] | None, environ: Mapping[str, str]
) -> tuple[OperatorSettings, str]:
    """The operator's settings and its ``--feature-gates`` text (parsed by the loader)."""
    args = parser().parse_args(None if argv is None else list(argv))
    watch = args.watch_namespace
    if watch is None:
        watch = environ.get("WATCH_NAMESPACE", "")
    namespace = args.leader_election_namespace
    if namespace is None:
        namespace = environ.get("POD_NAMESPACE", "default")
    settings = OperatorSettings(
        namespaces=tuple(n.strip() for n in watch.split(",") if n.strip()),
        reconcile_concurrency=args.reconcile_concurrency,
        leader_election=str(args.enable_leader_election).lower() != "false",
        leader_election_namespace=namespace,
        pod_name=environ.get("POD_NAME") or None,
        metrics_addr=args.metrics_addr,
        health_probe_addr=args.health_probe_bind_address,
        webhook_port=args.webhook_port,
        webhook_cert_dir=args.webhook_cert_dir,
        server=args.server,
        token=args.token,
        token_file=args.token_file,
        certificate_authority=args.certificate_authority,
        log_level=args.log_level or environ.get("LOG_LEVEL", "INFO"),
        time_zone=environ.get("TZ"),
    )
    return settings, str(args.feature_gates)
