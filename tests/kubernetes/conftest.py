"""One real Kubernetes control plane for the whole session of operator tests.

``kube_cluster`` starts etcd, kube-apiserver and kube-controller-manager (built from Go
module sources by scripts/install-test-services) plus the node simulator, installs the
CRDs and the operator's RBAC from ``deploy/``, and mints the operator's ServiceAccount
token. Only tests that ask for it start it. Pods' processes are simulated: there is no
kubelet. ``RAYPLANE_TEST_KUBECONFIG`` points the same tests at another cluster instead
(kind, EKS): see docs/kubernetes.md.
"""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rayplane.kubernetes.testing.controlplane import ControlPlane
from rayplane.kubernetes.testing.install import install_crds, install_operator_rbac
from tests.kubernetes.real_api import Cluster


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    external = os.environ.get("RAYPLANE_TEST_KUBECONFIG")
    if external:
        yield from _external_cluster(Path(external), tmp_path_factory.mktemp("external"))
        return
    plane = ControlPlane(tmp_path_factory.mktemp("kube"))
    state = plane.up()
    try:
        assert plane.ca is not None
        webhook = plane.ca.issue("webhook", "rayplane-webhook", hosts=("127.0.0.1",))
        cluster = Cluster(
            server=state.server,
            ca_file=Path(state.ca_file),
            admin=plane.admin_client(timeout=30.0),
            audit_log=Path(state.audit_log),
            kubeconfig=Path(state.kubeconfig),
            webhook_cert=(webhook.cert, webhook.key),
            ca_pem=plane.ca.pem,
            processes={p.name: p.pid for p in state.processes},
        )
        install_crds(cluster.admin)
        cluster.operator_token = install_operator_rbac(cluster.admin)
        yield cluster
        cluster.admin.close()
    finally:
        plane.down()


def _external_cluster(kubeconfig: Path, scratch: Path) -> Iterator[Cluster]:
    """Another cluster (kind, EKS, ...) as its kubeconfig's current context gives it.

    Its kubelets run the Pods for real (so ``ready_pods`` waits for them instead of
    writing their status), its audit log is read only if ``RAYPLANE_TEST_AUDIT_LOG``
    names it, and the webhook test needs an API server that can reach this machine's
    loopback, which a remote one cannot (that test skips, saying so).
    """
    conf = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    context_name = conf.get("current-context")
    context = next(c["context"] for c in conf["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in conf["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in conf["users"] if u["name"] == context["user"])

    def file_of(key: str, name: str, entry: dict[str, Any]) -> str | None:
        if entry.get(key):
            return str(entry[key])
        data = entry.get(f"{key}-data")
        if not data:
            return None
        path = scratch / name
        path.write_bytes(base64.b64decode(data))
        path.chmod(0o600)
        return str(path)

    ca_file = file_of("certificate-authority", "ca.crt", cluster)
    if ca_file is None:
        raise pytest.UsageError(f"{kubeconfig}: the cluster entry has no certificate-authority")
    context_ssl = ssl.create_default_context(cafile=ca_file)
    headers = {}
    cert = file_of("client-certificate", "client.crt", user)
    if cert:
        key = file_of("client-key", "client.key", user)
        context_ssl.load_cert_chain(cert, key)
    elif user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    else:
        raise pytest.UsageError(
            f"{kubeconfig}: the user needs a client certificate or a token (an exec plugin, "
            "as EKS's aws-iam-authenticator, is not run by the tests: mint a token first)"
        )
    audit = os.environ.get("RAYPLANE_TEST_AUDIT_LOG")
    found = Cluster(
        server=cluster["server"],
        ca_file=Path(ca_file),
        admin=httpx.Client(
            base_url=cluster["server"], verify=context_ssl, headers=headers, timeout=30.0
        ),
        audit_log=Path(audit) if audit else None,
        kubeconfig=kubeconfig,
        simulated=False,
    )
    install_crds(found.admin)
    found.operator_token = install_operator_rbac(found.admin)
    yield found
    found.admin.close()


def api_client(cluster: Cluster, token: str) -> httpx.Client:
    """A client that logs in with *token* (a ServiceAccount's), verifying the API server."""
    return httpx.Client(
        base_url=cluster.server,
        verify=ssl.create_default_context(cafile=str(cluster.ca_file)),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
