"""The operator's metrics: KubeRay's ``kuberay_*`` names from the module both runtimes share.

The operator feeds them from its reconcilers (``cluster_seen``, ``job_finished``, ...) and
serves them on ``--metrics-addr``; see :mod:`rayplane.reconcile.metrics` for the names.
"""

from __future__ import annotations

from rayplane.reconcile.metrics import ControlPlaneMetrics as OperatorMetrics

__all__ = ["OperatorMetrics"]
