"""The operator-wide knobs that change what the builders produce.

Each one is a KubeRay operator environment variable of the same name and meaning
(ray-operator/controllers/ray/utils/constant.go and util.go at feeaf72), so a Helm values
file written for KubeRay configures rayplane the same way. The defaults are KubeRay's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rayplane import __version__

# What rayplane writes where KubeRay writes its own version (the `ray.io/kuberay-version`
# annotation and RAY_USAGE_STATS_EXTRA_TAGS). It is only ever compared for equality.
OPERATOR_VERSION = f"rayplane-{__version__}"


def _true(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").lower() == "true"


def _not_false(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").lower() != "false"


@dataclass(frozen=True)
class BuildOptions:
    """How the operator is configured; every field maps to one KubeRay env var.

    - ``cluster_domain``: CLUSTER_DOMAIN, the DNS suffix of Service FQDNs.
    - ``deterministic_head_pod_name``: ENABLE_DETERMINISTIC_HEAD_POD_NAME, head Pod named
      ``<cluster>-head`` instead of generated from ``<cluster>-head-``.
    - ``init_container_injection``: ENABLE_INIT_CONTAINER_INJECTION, the workers'
      ``wait-gcs-ready`` init container.
    - ``probes_injection``: ENABLE_PROBES_INJECTION, liveness/readiness probes on the Ray
      container.
    - ``head_cluster_ip_service``: ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE, a head Service with a
      cluster IP instead of a headless one.
    - ``login_shell``: ENABLE_LOGIN_SHELL, ``/bin/bash -lc`` instead of ``-c``.
    - ``gcs_ft_redis_cleanup``: ENABLE_GCS_FT_REDIS_CLEANUP, the Redis cleanup Job on
      deletion of a GCS fault-tolerant cluster.
    - ``operator_version``: the value KubeRay fills with its build version.
    """

    cluster_domain: str = "cluster.local"
    deterministic_head_pod_name: bool = False
    init_container_injection: bool = True
    probes_injection: bool = True
    head_cluster_ip_service: bool = False
    login_shell: bool = False
    gcs_ft_redis_cleanup: bool = True
    operator_version: str = OPERATOR_VERSION

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BuildOptions:
        """Parse the knobs the way KubeRay does (unset means the default); *environ* is
        the settings root's ``kuberay.variables``, read once by ``rayplane.settings``."""
        return cls(
            cluster_domain=environ.get("CLUSTER_DOMAIN") or "cluster.local",
            deterministic_head_pod_name=_true(environ, "ENABLE_DETERMINISTIC_HEAD_POD_NAME"),
            init_container_injection=_not_false(environ, "ENABLE_INIT_CONTAINER_INJECTION"),
            probes_injection=_not_false(environ, "ENABLE_PROBES_INJECTION"),
            head_cluster_ip_service=_true(environ, "ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE"),
            login_shell=_true(environ, "ENABLE_LOGIN_SHELL"),
            gcs_ft_redis_cleanup=_not_false(environ, "ENABLE_GCS_FT_REDIS_CLEANUP"),
        )


DEFAULT_OPTIONS = BuildOptions()
