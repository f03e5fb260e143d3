"""A RayCluster handle: its nodes and how to reach its head.

``connect``, ``jobs``, ``build`` and ``scale`` sit on other modules
(:mod:`rayplane.sdk.connect`, :mod:`rayplane.sdk.jobs`, :mod:`rayplane.sdk.builder`,
:mod:`rayplane.sdk.scaling`) and only need :meth:`Cluster._fetch` and ``runtime.backend``.
"""

from __future__ import annotations

from typing import ClassVar

from rayplane.sdk.backend import BackendError, NodeInfo, PortName
from rayplane.sdk.resource import Resource


class Cluster(Resource):
    """A RayCluster."""

    kind: ClassVar[str] = "RayCluster"
    api_version: ClassVar[str] = "ray.io/v1"

    def nodes(self) -> list[NodeInfo]:
        """The cluster's Ray nodes now (head and workers, with state and reason)."""
        fresh = self._fetch()
        return self.backend.nodes(fresh) if fresh is not None else []

    def _reach(self, port: PortName) -> str | None:
        """``host:port`` of the head's *port* once the cluster is ready, else None."""
        fresh = self._fetch()
        if fresh is None or (fresh.get("status") or {}).get("state") != "ready":
            return None
        try:
            return self.runtime.reach(fresh, port)
        except BackendError:
            return None

    @property
    def dashboard_url(self) -> str | None:
        """The Ray dashboard (``http://host:port``), None until the cluster is ready.

        Locally it stays valid while the cluster runs; on Kubernetes it is a port-forward
        the runtime holds open until ``runtime.close()``.
        """
        where = self._reach("dashboard")
        return f"http://{where}" if where else None

    @property
    def address(self) -> str | None:
        """The GCS address ``ray.init`` takes (``127.0.0.1:PORT`` locally), None until
        the cluster is ready."""
        return self._reach("gcs-server")
