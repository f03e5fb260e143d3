"""The operator-level settings of the RayService reconciler."""

from __future__ import annotations

from dataclasses import dataclass, field

from rayplane.api.validation import FeatureGates
from rayplane.reconcile.kuberay import KUBERAY_VERSION


@dataclass(frozen=True)
class ServiceOptions:
    """Operator-level settings that change the rules.

    ``zero_downtime`` is KubeRay's ENABLE_ZERO_DOWNTIME environment variable (only consulted
    when ``upgradeStrategy.type`` is unset); ``gates`` are the feature gates validation uses.
    """

    gates: FeatureGates = field(default_factory=FeatureGates)
    zero_downtime: bool = True
    kuberay_version: str = KUBERAY_VERSION
