"""KubeRay's own operator (v1.5.0), run beside ours on the test control plane as the reference.

Built from the Go module proxy by ``scripts/install-test-services`` (``tools/kuberay``, its
own module so its Kubernetes libraries never have to agree with the API server's). It runs
as its own ServiceAccount with KubeRay's own ClusterRole (``config/rbac/role.yaml`` of the
module), watches one namespace (``--watch-namespace``), and shares the API server's CRDs,
which are rayplane's (CRDs are cluster-wide: one set per kind); what KubeRay writes that our
schema would prune shows up in the conformance diff.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from rayplane.kubernetes.testing.controlplane import kubeconfig
from rayplane.kubernetes.testing.processes import REPO, Started, binary, cache_root, free_port
from rayplane.kubernetes.testing.rest import apply, token_for

MODULE = REPO / "tools" / "kuberay"
VERSION = "v1.5.0"
SYSTEM_NS = "kuberay-system"
ACCOUNT = "kuberay-operator"


def module_dir() -> Path:
    """KubeRay's sources as the module proxy served them (CRDs, RBAC, samples)."""
    gomodcache = cache_root() / "go" / "mod"
    return gomodcache / "github.com" / "ray-project" / "kuberay" / f"ray-operator@{VERSION}"


def samples() -> list[Path]:
    return sorted((module_dir() / "config" / "samples").glob("*.yaml"))


def install_rbac(client: httpx.Client) -> None:
    """KubeRay's ClusterRole as it ships, bound to its ServiceAccount in kuberay-system."""
    role: dict[str, Any] = yaml.safe_load(
        (module_dir() / "config" / "rbac" / "role.yaml").read_text(encoding="utf-8")
    )
    role["metadata"] = {"name": "kuberay-operator"}
    apply(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NS}})
    apply(
        client,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT}},
        SYSTEM_NS,
    )
    apply(client, role)
    apply(
        client,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kuberay-operator"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "kuberay-operator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": SYSTEM_NS}],
        },
    )


class KubeRayOperator:
    """One KubeRay operator process watching *namespace*; stopped by PID, never by name."""

    def __init__(
        self, client: httpx.Client, server: str, ca_file: Path, namespace: str, folder: Path
    ) -> None:
        self.client = client
        self.server = server
        self.ca_file = ca_file
        self.namespace = namespace
        self.folder = folder
        self.metrics_port = free_port()
        self.process: Started | None = None
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{SYSTEM_NS}:{ACCOUNT}"

    def start(self, *extra: str) -> None:
        install_rbac(self.client)
        token = token_for(self.client, SYSTEM_NS, ACCOUNT)
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "kuberay.kubeconfig"
        conf.write_text(
            yaml.safe_dump(kubeconfig(self.server, self.ca_file, {"token": token})),
            encoding="utf-8",
        )
        conf.chmod(0o600)
        log = self.folder / "kuberay-operator.log"
        argv = [
            str(binary("kuberay-operator", MODULE)),
            f"--kubeconfig={conf}",
            f"--watch-namespace={self.namespace}",
            f"--metrics-addr=127.0.0.1:{self.metrics_port}",
            f"--health-probe-bind-address=127.0.0.1:{free_port()}",
            "--enable-leader-election=false",
            "--enable-metrics=true",
            *extra,
        ]
        with log.open("ab") as out:
            self._popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "KUBECONFIG": str(conf)},
            )
        self.process = Started(
            "kuberay-operator",
            self._popen.pid,
            psutil.Process(self._popen.pid).create_time(),
            str(log),
        )
        time.sleep(0.5)
        if self._popen.poll() is not None:
            raise RuntimeError(f"KubeRay's operator exited at once; see {log}")

    def rss(self) -> int:
        """Resident memory of the operator process now, in bytes."""
        assert self.process is not None
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self._popen is not None:
            with contextlib.suppress(OSError):
                self._popen.wait(timeout=5)

    def __enter__(self) -> KubeRayOperator:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


__all__ = ["KubeRayOperator", "install_rbac", "module_dir", "samples"]
