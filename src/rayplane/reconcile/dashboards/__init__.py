"""Grafana dashboards for the control plane's metrics (:mod:`rayplane.reconcile.metrics`).

Kept beside the metric names they chart, as package data, so `rayplane metrics dashboards`
exports them from an installed rayplane; ``deploy/grafana`` links to the operator's.
"""

from __future__ import annotations

from importlib import resources

#: File names of our dashboards, each a Grafana dashboard JSON with a ``datasource`` variable.
DASHBOARDS = ("rayplane-operator.json", "rayplane-local-controller.json")


def dashboard_text(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text()
