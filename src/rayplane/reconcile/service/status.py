"""Pieces of the RayService status: Serve's applications in KubeRay's shape, the
per-cluster status copies, and the status as KubeRay writes it on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rayplane.api.rayservice import (
    AppStatus,
    RayServiceStatus,
    ServeDeploymentStatus,
    ServiceClusterStatus,
)
from rayplane.reconcile.service.model import (
    DEFAULT_APP_NAME,
    AppView,
    ObservedServiceCluster,
)
from rayplane.reconcile.wire import go_wire


def why_submit(cached: str, wanted: str, apps: Mapping[str, AppView]) -> str | None:
    """KubeRay's checkIfNeedSubmitServeApplications: why to PUT the config, or None."""
    if not cached:
        return "Nothing has been cached for the cluster."
    if not apps:
        return (
            "No Serve application found in the RayCluster. A possible reason is that the head "
            "Pod crashed and GCS FT was not enabled."
        )
    if cached != wanted:
        return "Current V2 Serve config doesn't match cached Serve config."
    return None


def app_statuses(apps: Mapping[str, AppView]) -> dict[str, AppStatus]:
    """Serve's applications in KubeRay's status shape; the unnamed app is "default"."""
    result: dict[str, AppStatus] = {}
    for name, app in apps.items():
        deployments = {
            dep: ServeDeploymentStatus(status=d.status or None, message=d.message or None)
            for dep, d in app.deployments.items()
        }
        result[name or DEFAULT_APP_NAME] = AppStatus(
            status=app.status or None,
            message=app.message or None,
            serve_deployment_statuses=deployments or None,
        )
    return result


def copy_cluster_status(status: ServiceClusterStatus | None) -> ServiceClusterStatus:
    return status.model_copy(deep=True) if status is not None else ServiceClusterStatus()


def with_cluster(
    status: ServiceClusterStatus,
    cluster: ObservedServiceCluster | None,
    apps: dict[str, AppStatus] | None,
) -> ServiceClusterStatus:
    """The cluster's status and this pass's application statuses (KubeRay's calculateStatus)."""
    return status.model_copy(
        update={
            "ray_cluster_status": cluster.status if cluster is not None else None,
            "application_statuses": apps or None,
        }
    )


# Counts KubeRay's RayServiceStatus declares `omitempty` (see cluster.status.OMITTED_WHEN_ZERO).
OMITTED_WHEN_ZERO = ("numServeEndpoints", "observedGeneration")


def status_wire(status: RayServiceStatus) -> dict[str, Any]:
    """The status as KubeRay's operator writes it: JSON names, zero counts left out."""
    return go_wire(status, OMITTED_WHEN_ZERO)


def comparable(status: RayServiceStatus) -> dict[str, Any]:
    dumped = status_wire(status)
    dumped.pop("lastUpdateTime", None)
    for key in ("activeServiceStatus", "pendingServiceStatus"):
        if not dumped.get(key):
            dumped.pop(key, None)
    return dumped
