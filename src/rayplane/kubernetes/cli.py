"""The operator's command line, shared by ``python -m rayplane.kubernetes`` and
``rayplane operator``: KubeRay's flag names (``--metrics-addr``,
``--health-probe-bind-address``, ``--enable-leader-election``, ``--leader-election-namespace``,
``--reconcile-concurrency``, ``--watch-namespace``, ``--feature-gates``) plus the webhook's.

Kept free of typer so the operator image needs nothing the CLI package pulls in.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from rayplane.api.validation import FeatureGates
from rayplane.kubernetes.kube import Connection
from rayplane.kubernetes.operator import run_operator
from rayplane.kubernetes.runtime import DEFAULT_RECONCILE_CONCURRENCY, OperatorConfig


def _address(text: str) -> str | None:
    """KubeRay's ":8080" style; "0" or "" disables the endpoint."""
    if text in ("", "0"):
        return None
    host, _, port = text.rpartition(":")
    return f"{host or '0.0.0.0'}:{port}"


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        return Path(args.token_file).read_text(encoding="utf-8").strip()
    token: str | None = args.token
    return token


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rayplane operator",
        description="Run the rayplane Kubernetes operator (a drop-in for KubeRay's).",
    )
    p.add_argument(
        "--watch-namespace",
        default=os.environ.get("WATCH_NAMESPACE", ""),
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
    p.add_argument(
        "--leader-election-namespace", default=os.environ.get("POD_NAMESPACE", "default")
    )
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
        default="/tmp/k8s-webhook-server/serving-certs",
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
    p.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return p


def config_from_args(args: argparse.Namespace) -> OperatorConfig:
    namespaces = tuple(n.strip() for n in args.watch_namespace.split(",") if n.strip())
    cert_dir = Path(args.webhook_cert_dir)
    return OperatorConfig(
        connection=Connection(
            server=args.server,
            token=_token(args),
            ca_file=Path(args.certificate_authority) if args.certificate_authority else None,
        ),
        namespaces=namespaces,
        reconcile_concurrency=args.reconcile_concurrency,
        leader_election=str(args.enable_leader_election).lower() != "false",
        leader_election_namespace=args.leader_election_namespace,
        health_address=_address(args.health_probe_bind_address),
        metrics_address=_address(args.metrics_addr),
        webhook_port=args.webhook_port,
        webhook_cert=str(cert_dir / "tls.crt") if args.webhook_port else None,
        webhook_key=str(cert_dir / "tls.key") if args.webhook_port else None,
        gates=FeatureGates.parse(args.feature_gates),
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    return run_operator(config_from_args(args))
