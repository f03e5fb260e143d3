"""The settings root: one frozen object per process, grouped by who reads each part.

kopf's ``OperatorSettings`` is the model: one typed object, built in one place
(:mod:`rayplane.settings.loader`), handed down explicitly, so a reconciler's options come
from it by construction and a test changes a setting by building one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rayplane.api.validation import FeatureGates
from rayplane.settings.kuberay import KubeRayEnv
from rayplane.settings.local import LocalSettings
from rayplane.settings.operator import OperatorSettings


@dataclass(frozen=True)
class Settings:
    """Everything a rayplane process can be told.

    * ``local``: the local runtime (home, temp dirs, its timeouts and pacing).
    * ``operator``: the Kubernetes operator's flags and Pod facts.
    * ``kuberay``: KubeRay's operator environment variables (builder and RayJob/RayService
      defaults), honoured by the operator.
    * ``gates``: the KubeRay feature gates validation and the reconcilers run with.

    Timeouts sit in the group of the runtime that waits (``local.*_s``); the operator's
    Lease and watch timings are KubeRay's fixed values in ``OperatorConfig``.
    """

    local: LocalSettings = field(default_factory=LocalSettings)
    operator: OperatorSettings = field(default_factory=OperatorSettings)
    kuberay: KubeRayEnv = field(default_factory=KubeRayEnv)
    gates: FeatureGates = field(default_factory=FeatureGates)
