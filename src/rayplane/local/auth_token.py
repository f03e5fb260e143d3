"""A local cluster's Ray auth token: the Secret that holds it, made and removed with it.

The local runtime turns Ray's token auth on for every cluster that does not say
``authOptions.mode: disabled`` (:func:`rayplane.reconcile.auth.local_token_auth`): its
ports are on 127.0.0.1, which every user of the machine can reach, and the dashboard's Jobs
API runs any code it is sent. The token lives where KubeRay keeps it, in a Secret named
``CheckName(<cluster>)`` with key ``auth_token`` (or the user's ``authOptions.secretName``),
here a Secret in the local store. The store is the only place it is written, and the store
file is owner-only (0600, in a 0700 home; see :class:`rayplane.local.store.Store`). Node
processes get it in their environment (``/proc/PID/environ`` is owner-only too), never on
a command line, which any user can read.
"""

from __future__ import annotations

import logging
import secrets

from rayplane.api.raycluster import RayCluster, RayClusterSpec
from rayplane.local.configrefs import ConfigError, ConfigSource, Ref, StoreConfigs, resolve_key
from rayplane.local.store import Store, StoredResource
from rayplane.reconcile.auth import (
    AUTH_TOKEN_KEY,
    auth_env,
    auth_secret_name,
    generates_secret,
    local_token_auth,
    new_token,
    secret_body,
)

log = logging.getLogger("rayplane.auth")

#: Bytes of randomness in a generated token (generateRandomToken(32)).
TOKEN_BYTES = 32


def ensure_secret(store: Store, stored: StoredResource, spec: RayClusterSpec) -> bool:
    """reconcileAuthSecret: create the cluster's token Secret if it needs one and has
    none; True when one was created. A Secret of that name that exists already is used
    as it is (KubeRay does not overwrite it either)."""
    if not generates_secret(spec, local=True):
        return False
    name = auth_secret_name(stored.name, spec)
    if store.get("Secret", stored.namespace, name) is not None:
        return False
    token = new_token(secrets.token_bytes(TOKEN_BYTES))
    store.put(
        "Secret",
        stored.namespace,
        name,
        secret_body(stored.name, stored.namespace, stored.uid, token),
    )
    store.event(
        stored.uid,
        "CreatedAuthSecret",
        f"generated the Ray auth token in Secret {name} (key {AUTH_TOKEN_KEY})",
    )
    return True


def cluster_token(
    configs: ConfigSource, namespace: str, cluster: str, spec: RayClusterSpec
) -> str | None:
    """The token of a cluster with token auth, None for a cluster without.

    Raises ConfigError (``CreateContainerConfigError: ...``) when the Secret or its key is
    missing: a node must not start without it, as a Pod does not start without the Secret
    its ``RAY_AUTH_TOKEN`` reads.
    """
    if not local_token_auth(spec):
        return None
    ref = Ref("Secret", auth_secret_name(cluster, spec), AUTH_TOKEN_KEY)
    return resolve_key(ref, configs, namespace, "env RAY_AUTH_TOKEN (authOptions)")


def node_auth_env(
    configs: ConfigSource, namespace: str, cluster: str, spec: RayClusterSpec
) -> dict[str, str]:
    """``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` for a process of a token cluster;
    ``{}`` for a cluster with auth disabled (the node keeps the loopback default,
    ``RAY_AUTH_MODE=disabled``). Raises ConfigError as :func:`cluster_token`."""
    token = cluster_token(configs, namespace, cluster, spec)
    return auth_env(token) if token is not None else {}


def token_of(store: Store, cluster: StoredResource | None) -> str | None:
    """The token a client of *cluster*'s dashboard sends, or None (no cluster, auth off,
    or no Secret yet: the request then fails with 401, which the caller reports)."""
    if cluster is None:
        return None
    try:
        spec = RayCluster.model_validate(cluster.document()).spec
        return cluster_token(StoreConfigs(store), cluster.namespace, cluster.name, spec)
    except ConfigError:
        return None


def remove_secret(store: Store, stored: StoredResource) -> None:
    """The generated Secret goes with its cluster (its ownerReference, as Kubernetes'
    garbage collector would); a user's ``secretName`` Secret is not owned and stays."""
    for owned in store.owned_by(stored.uid):
        if owned.kind == "Secret":
            store.remove(owned.uid)
            log.info(
                "removed Secret %s/%s of RayCluster %s", owned.namespace, owned.name, stored.name
            )


def auth_summary(cluster: StoredResource | None) -> dict[str, str] | None:
    """What `describe` says about a cluster's auth, the token itself never: the mode, and
    the Secret and key that hold the token."""
    if cluster is None:
        return None
    spec = RayCluster.model_validate(cluster.document()).spec
    if not local_token_auth(spec):
        return {"mode": "disabled"}
    return {
        "mode": "token",
        "secret": auth_secret_name(cluster.name, spec),
        "key": AUTH_TOKEN_KEY,
        "namespace": cluster.namespace,
    }
