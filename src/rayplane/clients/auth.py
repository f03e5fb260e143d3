"""The header that carries a Ray auth token: the one place that spells it.

Ray 2.60's dashboard (``http_token_authentication.py``) reads ``Authorization``, then
``X-Ray-Authorization``, then a cookie; KubeRay's dashboard client sends
``x-ray-authorization: Bearer <token>``, which also passes proxies that claim
``Authorization`` for themselves (the Kubernetes API server's service proxy does). So do
we: the Jobs API, the Serve REST API and any other dashboard call.
"""

from __future__ import annotations

from typing import Final

AUTH_HEADER: Final = "x-ray-authorization"


def auth_header(token: str | None) -> dict[str, str]:
    """``{x-ray-authorization: Bearer <token>}``, or ``{}`` without a token."""
    return {AUTH_HEADER: f"Bearer {token}"} if token else {}
