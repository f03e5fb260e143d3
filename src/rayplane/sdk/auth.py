"""The Ray auth token of a cluster, read the way a client of its dashboard needs it.

The token is in a Secret (KubeRay's ``authOptions``; see :mod:`rayplane.reconcile.auth`):
``authOptions.secretName`` or the one the runtime generated, key ``auth_token``. Both
backends read Secrets, so one function serves the local runtime (token auth on unless
``mode: disabled``) and Kubernetes (on only with ``mode: token``, as KubeRay has it). The
SDK's job calls, ``connect`` and the CLI get the token here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from rayplane.api.raycluster import RayClusterSpec
from rayplane.reconcile.auth import (
    AUTH_TOKEN_KEY,
    auth_secret_name,
    local_token_auth,
    token_auth_enabled,
)
from rayplane.sdk.backend import Backend, BackendError, Obj

__all__ = ["AuthError", "cluster_token", "secret_token"]


class AuthError(BackendError):
    """The cluster requires a token and it cannot be read; the message names the Secret."""


def _needs_token(backend_name: str, spec: RayClusterSpec) -> bool:
    if backend_name == "local":
        return local_token_auth(spec)
    auth = spec.auth_options
    return token_auth_enabled(spec) and not (auth is not None and auth.enable_k8s_token_auth)


def secret_token(secret: Obj, name: str) -> str:
    """``data.auth_token`` of a Secret document, decoded (``stringData`` wins, as the API
    server merges it)."""
    string_data: dict[str, Any] = secret.get("stringData") or {}
    if isinstance(string_data.get(AUTH_TOKEN_KEY), str):
        return str(string_data[AUTH_TOKEN_KEY])
    data: dict[str, Any] = secret.get("data") or {}
    raw = data.get(AUTH_TOKEN_KEY)
    if not isinstance(raw, str):
        raise AuthError(
            f"Secret {name} has no key {AUTH_TOKEN_KEY!r}; put the cluster's Ray auth token "
            f"under data.{AUTH_TOKEN_KEY}"
        )
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthError(f"Secret {name}: data.{AUTH_TOKEN_KEY} is not base64 text") from exc


def cluster_token(backend: Backend, obj: Obj) -> str | None:
    """The token to send to the RayCluster *obj*, or None when it needs none.

    A local detail says itself (``local.auth``, the controller's view); otherwise the
    spec's ``authOptions`` under the backend's rule. A Secret that is not there (yet) is
    None too: the dashboard then answers 401, and the clients' message names token auth.
    """
    local = obj.get("local")
    said = local.get("auth") if isinstance(local, dict) else None
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    if isinstance(said, dict):
        if said.get("mode") != "token":
            return None
        name = str(said.get("secret"))
    else:
        # Only authOptions is read: the rest of a spec from a newer server must not matter.
        auth = (obj.get("spec") or {}).get("authOptions")
        spec = RayClusterSpec.model_validate({"authOptions": auth} if auth is not None else {})
        if not _needs_token(backend.name, spec):
            return None
        name = auth_secret_name(str(meta.get("name") or ""), spec)
    secret = backend.get("Secret", namespace, name)
    return secret_token(secret, f"{namespace}/{name}") if secret is not None else None
