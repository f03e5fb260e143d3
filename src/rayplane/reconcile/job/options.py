"""The operator-wide settings of the RayJob reconciler: KubeRay's environment variables
and the two feature gates it reads, with KubeRay's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from rayplane.api.validation.gates import FeatureGates

DEFAULT_TRANSITION_GRACE_PERIOD_SECONDS: Final = 300
DEFAULT_STATUS_CHECK_TIMEOUT_SECONDS: Final = 300

# KubeRay's operator environment variables read by :meth:`JobOptions.from_env`.
ENV_GRACE_PERIOD: Final = "RAYJOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_SECONDS"
ENV_STATUS_CHECK_TIMEOUT: Final = "RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS"
ENV_DELETE_RAYJOB: Final = "DELETE_RAYJOB_CR_AFTER_JOB_FINISHES"


@dataclass(frozen=True)
class JobOptions:
    """Operator-wide settings KubeRay takes from its environment and feature gates.

    Defaults are KubeRay's. ``deletion_policy`` is the RayJobDeletionPolicy gate (beta, on):
    off, ``deletionStrategy`` is ignored. ``delete_rayjob_after_job_finishes`` makes
    shutdownAfterJobFinishes delete the RayJob itself instead of its cluster.
    ``sidecar_submitter_restart`` is the SidecarSubmitterRestart gate (alpha, off).
    """

    transition_grace_period_seconds: int = DEFAULT_TRANSITION_GRACE_PERIOD_SECONDS
    status_check_timeout_seconds: int = DEFAULT_STATUS_CHECK_TIMEOUT_SECONDS
    delete_rayjob_after_job_finishes: bool = False
    deletion_policy: bool = True
    sidecar_submitter_restart: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], **gates: bool) -> JobOptions:
        """Read KubeRay's environment variables from *env* (the settings root's KubeRay values).

        Parsing follows KubeRay: an unparsable grace period falls back to the default; a
        status-check timeout that is unparsable or not positive does too.
        """
        grace = _int_or(env.get(ENV_GRACE_PERIOD), DEFAULT_TRANSITION_GRACE_PERIOD_SECONDS)
        timeout = _int_or(env.get(ENV_STATUS_CHECK_TIMEOUT), DEFAULT_STATUS_CHECK_TIMEOUT_SECONDS)
        if timeout <= 0:
            timeout = DEFAULT_STATUS_CHECK_TIMEOUT_SECONDS
        delete_self = env.get(ENV_DELETE_RAYJOB, "").lower() == "true"
        return cls(grace, timeout, delete_self, **gates)

    def with_gates(self, gates: FeatureGates) -> JobOptions:
        """These options under the runtime's parsed feature gates (the two this reconciler
        reads); each runtime calls it where it parses its gates, so validation and the
        reconciler never disagree."""
        return replace(
            self,
            deletion_policy=gates.RayJobDeletionPolicy,
            sidecar_submitter_restart=gates.SidecarSubmitterRestart,
        )


def _int_or(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
