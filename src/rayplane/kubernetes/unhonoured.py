"""Security settings this operator accepts but does not fully provide, said as events.

Validation lets ``networkPolicy`` and ``tlsOptions`` through once their alpha gates are
on; a cluster that asked for one of them must not look protected when it is not
(``authOptions`` is given: the token Secret is generated as KubeRay does). Each gap
becomes a Warning event on the RayCluster, posted once
per generation.
"""

from __future__ import annotations

from rayplane.api.raycluster import RayClusterSpec


def unhonoured(cluster: str, spec: RayClusterSpec) -> list[tuple[str, str]]:
    """(event reason, message) for each security setting of *spec* left undone."""
    out = []
    if spec.network_policy is not None:
        out.append(
            (
                "NetworkPolicyNotCreated",
                "spec.networkPolicy is accepted (RayClusterNetworkPolicy gate) but this "
                "operator creates no NetworkPolicy: the cluster's Pods accept whatever traffic "
                "the namespace's other policies allow.",
            )
        )
    if spec.tls_options is not None and spec.tls_options.enabled:
        out.append(
            (
                "TLSNotConfigured",
                "spec.tlsOptions.enabled is true (RayClusterMTLS gate) but this operator sets "
                "up no certificates and no RAY_USE_TLS: traffic between Ray components is "
                "neither encrypted nor mutually authenticated.",
            )
        )
    return out
