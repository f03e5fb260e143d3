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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rayplane.kubernetes.testing.controlplane import ControlPlane
from tests.kubernetes.real_api import DEPLOY, OPERATOR_NS, OPERATOR_SA, Cluster, path_of


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def install_crds(cluster: Cluster) -> None:
    """Our CRDs, applied server-side as the README says, and waited on until Established."""
    names = []
    for path in sorted((DEPLOY / "crds").glob("*.yaml")):
        for crd in _docs(path):
            cluster.apply(crd)
            names.append(crd["metadata"]["name"])
    deadline = time.monotonic() + 60
    for name in names:
        while True:
            crd = cluster.admin.get(path_of("customresourcedefinitions", None, name)).json()
            conditions = {
                c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []
            }
            if conditions.get("Established") == "True":
                break
            assert time.monotonic() < deadline, f"CRD {name} not Established: {crd.get('status')}"
            time.sleep(0.2)


def install_operator_rbac(cluster: Cluster) -> None:
    """deploy/base's namespace, ServiceAccount, ClusterRole and bindings, unchanged."""
    cluster.apply(_docs(DEPLOY / "base" / "namespace.yaml")[0])
    for name in (
        "service_account",
        "cluster_role",
        "cluster_role_binding",
        "leader_election_role",
        "leader_election_role_binding",
    ):
        for doc in _docs(DEPLOY / "base" / "rbac" / f"{name}.yaml"):
            cluster.apply(doc, namespace=OPERATOR_NS)


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
        install_crds(cluster)
        install_operator_rbac(cluster)
        cluster.operator_token = cluster.token_for(OPERATOR_NS, OPERATOR_SA)
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
