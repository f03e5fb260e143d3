"""The operator's group of settings: KubeRay's flags, and the Pod facts it is given.

Plain values as the command line and the Downward API give them; the operator turns them
into its connection, Lease and servers (``rayplane.kubernetes`` owns those types).
"""

from __future__ import annotations

from dataclasses import dataclass

# KubeRay's default is 1 (one goroutine per controller). A pass here is a coroutine that
# mostly waits on the API server, so a few at once cost almost nothing and keep one slow
# pass from holding up every other object (bench/operator_vs_kuberay.py measures both).
# The work queue still runs at most one pass per object at a time.
DEFAULT_RECONCILE_CONCURRENCY = 4
DEFAULT_WEBHOOK_CERT_DIR = "/tmp/k8s-webhook-server/serving-certs"


@dataclass(frozen=True)
class OperatorSettings:
    """What ``rayplane operator`` was told (flag, then environment variable, in brackets).

    The addresses are KubeRay's ``:8080`` form as given; "" or "0" disables the endpoint.
    """

    # [--watch-namespace, WATCH_NAMESPACE] Namespaces to watch; empty: all namespaces.
    namespaces: tuple[str, ...] = ()
    # [--reconcile-concurrency] Objects reconciled at once (KubeRay's is 1).
    reconcile_concurrency: int = DEFAULT_RECONCILE_CONCURRENCY
    # [--enable-leader-election] Elect a leader on the Lease ray-operator-leader.
    leader_election: bool = True
    # [--leader-election-namespace, POD_NAMESPACE] Where the Lease lives.
    leader_election_namespace: str = "default"
    # [POD_NAME] The leader identity's prefix (controller-runtime's); None: the hostname.
    pod_name: str | None = None
    # [--metrics-addr] Prometheus /metrics.
    metrics_addr: str = ":8080"
    # [--health-probe-bind-address] /healthz and /readyz.
    health_probe_addr: str = ":8082"
    # [--webhook-port] Serve the validating admission webhook (HTTPS); None: no webhook.
    webhook_port: int | None = None
    # [--webhook-cert-dir] Directory with tls.crt and tls.key for the webhook.
    webhook_cert_dir: str = DEFAULT_WEBHOOK_CERT_DIR
    # [--server] API server URL; None: in-cluster service account, else kubeconfig.
    server: str | None = None
    # [--token] Bearer token for --server (visible in the process list).
    token: str | None = None
    # [--token-file] File holding the bearer token (read when the operator connects).
    token_file: str | None = None
    # [--certificate-authority] CA file for --server.
    certificate_authority: str | None = None
    # [--log-level, LOG_LEVEL] The operator's logging level.
    log_level: str = "INFO"
    # [TZ] The zone of a RayCronJob without timeZone (KubeRay: the operator's local zone);
    # unset: the zone /etc/localtime names, else UTC.
    time_zone: str | None = None
