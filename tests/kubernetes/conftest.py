"""One real Kubernetes control plane for the whole session of operator tests.

``kube_cluster`` starts etcd, kube-apiserver and kube-controller-manager (built from Go
module sources by scripts/install-test-services) plus the node simulator, installs the
CRDs and the operator's RBAC from ``deploy/``, and mints the operator's ServiceAccount
token. Only tests that ask for it start it. Pods' processes are simulated: there is no
kubelet. ``RAYPLANE_TEST_KUBECONFIG`` points the same tests at another cluster instead
(kind, EKS): see docs/kubernetes.md.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rayplane.kubernetes.testing.controlplane import ControlPlane
from rayplane.kubernetes.testing.install import install_crds, install_operator_rbac
from tests.kubernetes.real_api import Cluster


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    external = os.environ.get("RAYPLANE_TEST_KUBECONFIG")
    if external:
        raise pytest.UsageError(
            "RAYPLANE_TEST_KUBECONFIG: running the operator suite against another cluster "
            "is described in docs/kubernetes.md; this checkout runs it on its own API server"
        )
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
        )
        install_crds(cluster.admin)
        cluster.operator_token = install_operator_rbac(cluster.admin)
        yield cluster
        cluster.admin.close()
    finally:
        plane.down()


def api_client(cluster: Cluster, token: str) -> httpx.Client:
    """A client that logs in with *token* (a ServiceAccount's), verifying the API server."""
    return httpx.Client(
        base_url=cluster.server,
        verify=ssl.create_default_context(cafile=str(cluster.ca_file)),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
