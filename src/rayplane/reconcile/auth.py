"""Ray token authentication (``spec.authOptions``): who needs a token, and where it lives.

Facts matched (KubeRay 1.6+, ``raycluster_controller.go`` reconcileAuthSecret,
``common/pod.go`` SetContainerTokenAuthEnvVars, ``utils.IsAuthEnabled``): token mode puts
``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` (from key ``auth_token`` of a Secret) in
every Ray container; the Secret is ``authOptions.secretName`` when given, else one the
operator generates, named ``CheckName(<cluster>)``, labelled ``ray.io/cluster`` and owned
by the RayCluster. Clients send ``x-ray-authorization: Bearer <token>``.

The two runtimes differ in one thing only, the default. KubeRay (and our operator) turns
auth on only for ``mode: token``. The local runtime turns it on for every cluster that
does not say ``mode: disabled``: there, any other user of the machine can reach the
cluster's loopback ports, and the Jobs API runs whatever code it is sent.
"""

from __future__ import annotations

import base64
from typing import Final

from rayplane.api.raycluster import RayClusterSpec
from rayplane.reconcile.job.submitter import check_name

#: The key of the Secret that holds the token (utils.RAY_AUTH_TOKEN_SECRET_KEY).
AUTH_TOKEN_KEY: Final = "auth_token"
ENV_AUTH_MODE: Final = "RAY_AUTH_MODE"
ENV_AUTH_TOKEN: Final = "RAY_AUTH_TOKEN"
#: The label KubeRay puts on the generated Secret.
CLUSTER_LABEL: Final = "ray.io/cluster"


def token_auth_enabled(spec: RayClusterSpec) -> bool:
    """KubeRay's IsAuthEnabled: ``authOptions.mode`` is ``token``."""
    return spec.auth_options is not None and spec.auth_options.mode == "token"


def local_token_auth(spec: RayClusterSpec) -> bool:
    """The local runtime's rule: on unless ``authOptions.mode`` is ``disabled``.

    ``authOptions`` without a mode counts as token, as KubeRay's field doc says ("Defaults
    to token") and as its reconcileAuthSecret already treats it.
    """
    auth = spec.auth_options
    return auth is None or auth.mode != "disabled"


def auth_secret_name(cluster: str, spec: RayClusterSpec) -> str:
    """``authOptions.secretName``, else ``CheckName(<cluster>)``."""
    auth = spec.auth_options
    if auth is not None and auth.secret_name:
        return auth.secret_name
    return check_name(cluster)


def generates_secret(spec: RayClusterSpec, *, local: bool) -> bool:
    """Whether the runtime creates the Secret: token auth on, no secretName, and (on
    Kubernetes) no enableK8sTokenAuth, which delegates to ServiceAccount tokens."""
    auth = spec.auth_options
    if auth is not None and auth.secret_name:
        return False
    if local:
        return local_token_auth(spec)
    return token_auth_enabled(spec) and not (auth is not None and auth.enable_k8s_token_auth)


def auth_env(token: str) -> dict[str, str]:
    """What a process that talks to a token cluster over gRPC (a node, the autoscaler, a
    driver, the submitter's ``ray job`` CLI) needs: both variables; Ray 2.60 ignores the
    token without ``RAY_AUTH_MODE=token``."""
    return {ENV_AUTH_MODE: "token", ENV_AUTH_TOKEN: token}


def new_token(random_bytes: bytes) -> str:
    """generateRandomToken: the standard base64 of 32 random bytes (the caller draws them
    with ``secrets``, so this module stays pure)."""
    return base64.b64encode(random_bytes).decode("ascii")


def secret_body(cluster: str, namespace: str, uid: str, token: str) -> dict[str, object]:
    """The generated Secret (createAuthSecret) as the API server stores it: ``data``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": check_name(cluster),
            "namespace": namespace,
            "labels": {CLUSTER_LABEL: cluster},
            "ownerReferences": [
                {
                    "apiVersion": "ray.io/v1",
                    "kind": "RayCluster",
                    "name": cluster,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "type": "Opaque",
        "data": {AUTH_TOKEN_KEY: base64.b64encode(token.encode()).decode("ascii")},
    }
