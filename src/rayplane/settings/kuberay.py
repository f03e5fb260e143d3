"""KubeRay's operator environment variables, kept as given for the parsers that know them.

A Helm values file written for KubeRay configures rayplane's operator the same way, so
the names and meanings are KubeRay's (ray-operator/controllers/ray/utils/constant.go).
The builder keeps only these names; the operator hands them to the pure parsers beside
the code they configure (``BuildOptions.from_env``, ``JobOptions.from_env``), which apply
KubeRay's own fallbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Every KubeRay variable rayplane honours, with what it changes.
KUBERAY_ENV_VARS: Mapping[str, str] = MappingProxyType(
    {
        "CLUSTER_DOMAIN": "DNS suffix of Service FQDNs (cluster.local).",
        "ENABLE_DETERMINISTIC_HEAD_POD_NAME": "true: the head Pod is named <cluster>-head.",
        "ENABLE_INIT_CONTAINER_INJECTION": "false: no wait-gcs-ready init container.",
        "ENABLE_PROBES_INJECTION": "false: no liveness/readiness probes on the Ray container.",
        "ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE": "true: a head Service with a cluster IP.",
        "ENABLE_LOGIN_SHELL": "true: /bin/bash -lc instead of -c.",
        "ENABLE_GCS_FT_REDIS_CLEANUP": "false: no Redis cleanup Job on GCS FT deletion.",
        "RAYJOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_SECONDS": "RayJob grace (300).",
        "RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS": "RayJob dashboard status timeout (300).",
        "DELETE_RAYJOB_CR_AFTER_JOB_FINISHES": "true: shutdown deletes the RayJob itself.",
        "ENABLE_ZERO_DOWNTIME": "false: a RayService never replaces its cluster.",
    }
)


@dataclass(frozen=True)
class KubeRayEnv:
    """The KubeRay variables that were set (names in :data:`KUBERAY_ENV_VARS`)."""

    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def zero_downtime(self) -> bool:
        """ENABLE_ZERO_DOWNTIME: on unless it says false, as in KubeRay."""
        return self.variables.get("ENABLE_ZERO_DOWNTIME", "").lower() != "false"
