"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

The programs are built from Go module sources by ``scripts/install-test-services`` (the Go
module in ``tools/kube``) into a cache folder; this module starts them with a fresh PKI,
writes kubeconfigs, and stops exactly the processes it started (by PID and start time,
each in its own process group). There is no kubelet and no container runtime: the node
simulator (:mod:`rayplane.kubernetes.testing.nodesim`) gives Pods their status, so Pods'
*processes* are simulated while everything the API server does is real.

``python -m rayplane.kubernetes.testing.controlplane up|down|status|apply`` is what
``scripts/kube-up``, ``kube-down`` and ``kube-apply`` run (:mod:`.controlplane_cli`); the
operator's pytest session uses :class:`ControlPlane` directly. The programs and the
processes started from them are :mod:`.processes`'.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from rayplane.kubernetes.testing.pki import CertificateAuthority, Pair, service_account_keys
from rayplane.kubernetes.testing.processes import (
    ControlPlaneError,
    Started,
    binary,
    free_port,
    http_ok,
    log_tail,
    tls_context,
    wait_until,
)

SERVICE_CIDR = "10.96.0.0/16"
ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_USER = "rayplane-admin"
STATE_FILE = "controlplane.json"
MARKER = ".rayplane-kube"
# Controllers that need a kubelet's heartbeats or a cloud; the rest (garbage collector,
# Job, ServiceAccount, token, namespace, ReplicaSet, ...) run as in any cluster.
DISABLED_CONTROLLERS = ("nodelifecycle", "nodeipam", "csrsigning", "bootstrapsigner")
# Every API request, its user and its answer, for tests and the benchmark to count what
# each operator asked (a real server keeps no request log of its own otherwise).
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*"]},
        {"level": "Metadata"},
    ],
}


@dataclass
class State:
    """What ``kube-up`` leaves for ``kube-down`` and for tests: ports, files, processes."""

    folder: str
    server: str
    etcd: str
    kubeconfig: str
    ca_file: str
    audit_log: str
    processes: list[Started] = field(default_factory=list)

    def save(self) -> None:
        path = Path(self.folder) / STATE_FILE
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> State:
        raw = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        raw["processes"] = [Started(**p) for p in raw["processes"]]
        return cls(**raw)


def kubeconfig(server: str, ca_file: Path, user: dict[str, str]) -> dict[str, Any]:
    """A one-context kubeconfig for *server* as *user* (client-certificate or token keys)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "rayplane-test",
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [{"name": "user", "user": user}],
        "contexts": [
            {"name": "rayplane-test", "context": {"cluster": "rayplane-test", "user": "user"}}
        ],
        "current-context": "rayplane-test",
    }


def write_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    return path


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager (+ the node simulator) in *folder*."""

    def __init__(self, folder: Path, *, simulate_nodes: bool = True) -> None:
        self.folder = folder.resolve()
        self.simulate_nodes = simulate_nodes
        self.state: State | None = None
        self.ca: CertificateAuthority | None = None

    # -- start -----------------------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> State:
        if (self.folder / STATE_FILE).exists():
            old = State.load(self.folder)
            if any(p.alive() for p in old.processes):
                raise ControlPlaneError(
                    f"a control plane started from {self.folder} still runs "
                    f"(PIDs {[p.pid for p in old.processes if p.alive()]}): "
                    "run scripts/kube-down first"
                )
        self._claim_folder()
        binaries = {n: binary(n) for n in ("etcd", "kube-apiserver", "kube-controller-manager")}
        for sub in ("pki", "etcd", "logs"):
            path = self.folder / sub
            if path.exists() and sub != "logs":
                shutil.rmtree(path)
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        pki = self.folder / "pki"
        ca = self.ca = CertificateAuthority(pki)
        serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            hosts=("127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc"),
        )
        admin = ca.issue("admin", ADMIN_USER, organization="system:masters")
        kcm = ca.issue("controller-manager", "system:kube-controller-manager")
        sa = service_account_keys(pki)

        etcd_port, peer_port, api_port, kcm_port = (free_port() for _ in range(4))
        server = f"https://127.0.0.1:{api_port}"
        etcd_url = f"http://127.0.0.1:{etcd_port}"

        def client_conf(name: str, pair: Pair) -> Path:
            user = {"client-certificate": str(pair.cert), "client-key": str(pair.key)}
            return write_yaml(
                self.folder / f"{name}.kubeconfig", kubeconfig(server, ca.cert_file, user)
            )

        admin_conf = client_conf("admin", admin)
        kcm_conf = client_conf("controller-manager", kcm)
        state = self.state = State(
            folder=str(self.folder),
            server=server,
            etcd=etcd_url,
            kubeconfig=str(admin_conf),
            ca_file=str(ca.cert_file),
            audit_log=str(self.folder / "logs" / "audit.log"),
        )
        audit_policy = write_yaml(self.folder / "audit-policy.yaml", AUDIT_POLICY)
        try:
            self._start(
                "etcd",
                [
                    str(binaries["etcd"]),
                    "--name=rayplane-test",
                    f"--data-dir={self.folder / 'etcd'}",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-cluster=rayplane-test=http://127.0.0.1:{peer_port}",
                    "--unsafe-no-fsync",
                    "--quota-backend-bytes=8589934592",
                    "--log-level=warn",
                ],
            )
            wait_until(lambda: http_ok(f"{etcd_url}/health"), timeout, "etcd answers /health")
            self._start(
                "kube-apiserver",
                [
                    str(binaries["kube-apiserver"]),
                    f"--etcd-servers={etcd_url}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={api_port}",
                    f"--tls-cert-file={serving.cert}",
                    f"--tls-private-key-file={serving.key}",
                    f"--client-ca-file={ca.cert_file}",
                    f"--service-account-key-file={sa.cert}",
                    f"--service-account-signing-key-file={sa.key}",
                    f"--service-account-issuer={ISSUER}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--authorization-mode=Node,RBAC",
                    "--allow-privileged=true",
                    # The `kubernetes` Service's endpoint would be 127.0.0.1, which
                    # Endpoints validation refuses; nothing here reaches it through a Service.
                    "--endpoint-reconciler-type=none",
                    "--profiling=false",
                    f"--audit-policy-file={audit_policy}",
                    f"--audit-log-path={state.audit_log}",
                    "--audit-log-maxsize=0",
                    "--v=1",
                ],
            )
            wait_until(
                lambda: http_ok(f"{server}/readyz", ca.cert_file, admin),
                timeout,
                "kube-apiserver answers /readyz",
            )
            self._start(
                "kube-controller-manager",
                [
                    str(binaries["kube-controller-manager"]),
                    f"--kubeconfig={kcm_conf}",
                    f"--authentication-kubeconfig={kcm_conf}",
                    f"--authorization-kubeconfig={kcm_conf}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={kcm_port}",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={sa.key}",
                    f"--root-ca-file={ca.cert_file}",
                    "--use-service-account-credentials=true",
                    "--controllers=*," + ",".join(f"-{c}" for c in DISABLED_CONTROLLERS),
                    # The garbage collector and Job controller act within a second, as in
                    # a real cluster; nothing is throttled below the API server's limits.
                    "--kube-api-qps=200",
                    "--kube-api-burst=400",
                    "--concurrent-gc-syncs=20",
                    "--v=1",
                ],
            )
            wait_until(
                lambda: http_ok(f"https://127.0.0.1:{kcm_port}/healthz", verify=False),
                timeout,
                "kube-controller-manager answers /healthz",
            )
            if self.simulate_nodes:
                self._start(
                    "nodesim",
                    [
                        sys.executable,
                        "-m",
                        "rayplane.kubernetes.testing.nodesim",
                        f"--kubeconfig={admin_conf}",
                    ],
                )
            state.save()
            self._wait_default_namespace(timeout)
        except BaseException:
            self.down()
            raise
        return state

    def _claim_folder(self) -> None:
        """Refuse a folder kube-up did not make: it would remove `pki` and `etcd` there
        (think `--dir /` or `--dir ~`), so it takes only an empty or missing folder, or
        one that carries its own marker."""
        marker = self.folder / MARKER
        if self.folder.exists() and not marker.exists() and any(self.folder.iterdir()):
            raise ControlPlaneError(
                f"{self.folder} is not empty and was not made by kube-up; give --dir a new "
                "or empty folder"
            )
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        marker.write_text("made by rayplane's kube-up: a test control plane's state\n")

    def _start(self, name: str, argv: Sequence[str]) -> None:
        assert self.state is not None
        log = self.folder / "logs" / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.folder,
            )
        self.state.processes.append(
            Started(name, proc.pid, psutil.Process(proc.pid).create_time(), str(log))
        )
        self.state.save()
        time.sleep(0.2)
        if proc.poll() is not None:
            raise ControlPlaneError(f"{name} exited at once ({proc.returncode}): {log_tail(log)}")

    def _wait_default_namespace(self, timeout: float) -> None:
        """Ready for tests: the ServiceAccount controller has made `default` in `default`."""
        with self.admin_client() as client:

            def has_default_sa() -> bool:
                return client.get("/api/v1/namespaces/default/serviceaccounts/default").is_success

            wait_until(has_default_sa, timeout, "the default ServiceAccount exists")

    # -- use -------------------------------------------------------------------------------

    def admin_client(self, **kwargs: Any) -> httpx.Client:
        """A synchronous client as the cluster admin (``system:masters``)."""
        state = self._state()
        pki = Path(state.folder) / "pki"
        return httpx.Client(
            base_url=state.server,
            verify=tls_context(Path(state.ca_file), Pair(pki / "admin.crt", pki / "admin.key")),
            **kwargs,
        )

    def _state(self) -> State:
        if self.state is None:
            self.state = State.load(self.folder)
        return self.state

    # -- stop ------------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop what this control plane started (newest first); returns their names."""
        try:
            state = self._state()
        except FileNotFoundError:
            return []
        stopped = []
        for proc in reversed(state.processes):
            if proc.alive():
                proc.stop()
                stopped.append(proc.name)
        state.processes = []
        with contextlib.suppress(FileNotFoundError):
            state.save()
        return stopped


if __name__ == "__main__":
    from rayplane.kubernetes.testing.controlplane_cli import main

    raise SystemExit(main())
