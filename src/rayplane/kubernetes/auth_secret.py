"""The token-auth Secret on Kubernetes: created as KubeRay creates it, read by our clients.

reconcileAuthSecret (``raycluster_controller.go``): a RayCluster with ``authOptions.mode:
token``, no ``secretName`` and no ``enableK8sTokenAuth`` gets a Secret named
``CheckName(<cluster>)``, labelled ``ray.io/cluster``, owned by the cluster (so Kubernetes'
garbage collector removes it with the cluster), holding ``auth_token``: the base64 of 32
random bytes. An existing Secret of that name is left as it is. GetRayDashboardClientFunc
reads the token back from that Secret (or ``secretName``) for every dashboard client;
the RayJob and RayService controllers here do the same through :func:`cluster_token`.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from rayplane.api.raycluster import RayCluster
from rayplane.kubernetes.kube import Kube, Obj
from rayplane.reconcile.auth import (
    AUTH_TOKEN_KEY,
    auth_secret_name,
    generates_secret,
    new_token,
    secret_body,
    token_auth_enabled,
)

TOKEN_BYTES = 32


def auth_secret(cluster: RayCluster, token: str) -> Obj:
    """The Secret manifest for *cluster* (which must carry its uid)."""
    return dict(secret_body(cluster.name, cluster.namespace, str(cluster.metadata.uid), token))


async def ensure_auth_secret(kube: Kube, cluster: RayCluster) -> Obj | None:
    """Create the cluster's token Secret if it needs one and has none; the new object, or
    None when nothing was created."""
    if not generates_secret(cluster.spec, local=False):
        return None
    name = auth_secret_name(cluster.name, cluster.spec)
    if await kube.get("Secret", cluster.namespace, name) is not None:
        return None
    return await kube.ensure(auth_secret(cluster, new_token(secrets.token_bytes(TOKEN_BYTES))))


async def cluster_token(kube: Kube, cluster: RayCluster | None) -> str | None:
    """The token the operator's dashboard clients send to *cluster*, None without token
    auth (or with K8s token auth, which KubeRay's clients do not send either) or when the
    Secret or its key is not there (the call then fails with 401, which is reported)."""
    if cluster is None or not token_auth_enabled(cluster.spec):
        return None
    auth = cluster.spec.auth_options
    if auth is not None and auth.enable_k8s_token_auth:
        return None
    found = await kube.get(
        "Secret", cluster.namespace, auth_secret_name(cluster.name, cluster.spec)
    )
    raw = ((found or {}).get("data") or {}).get(AUTH_TOKEN_KEY)
    if not isinstance(raw, str):
        return None
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
