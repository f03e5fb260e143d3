"""Install what the operator needs on a test API server, from ``deploy/`` unchanged.

Our CRDs (applied server-side, as the README tells users, and waited on until
Established) and the operator's namespace, ServiceAccount, ClusterRole and bindings. The
operator's tests and ``bench/operator_vs_kuberay.py`` both start from here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from rayplane.kubernetes.testing.processes import REPO
from rayplane.kubernetes.testing.rest import apply, path_of, token_for

DEPLOY = REPO / "deploy"
OPERATOR_NS = "rayplane-system"
OPERATOR_SA = "rayplane-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"
RBAC_FILES = (
    "service_account",
    "cluster_role",
    "cluster_role_binding",
    "leader_election_role",
    "leader_election_role_binding",
)


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def install_crds(client: httpx.Client, timeout: float = 60.0) -> None:
    names = []
    for path in sorted((DEPLOY / "crds").glob("*.yaml")):
        for crd in _docs(path):
            apply(client, crd)
            names.append(crd["metadata"]["name"])
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = client.get(path_of("customresourcedefinitions", None, name)).json()
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {name} not Established: {crd.get('status')}")
            time.sleep(0.2)


def install_operator_rbac(client: httpx.Client) -> str:
    """deploy/base's namespace and RBAC; returns a token of the operator's ServiceAccount."""
    apply(client, _docs(DEPLOY / "base" / "namespace.yaml")[0])
    for name in RBAC_FILES:
        for doc in _docs(DEPLOY / "base" / "rbac" / f"{name}.yaml"):
            apply(client, doc, OPERATOR_NS)
    return token_for(client, OPERATOR_NS, OPERATOR_SA)
