"""A RayCluster handle: its nodes, how to reach its head, Ray and jobs on it, its size.

The work sits in modules the CLI uses too (:mod:`rayplane.sdk.connect`,
:mod:`rayplane.sdk.jobs`, :mod:`rayplane.sdk.builder`, :mod:`rayplane.sdk.scaling`,
:mod:`rayplane.sdk.waiting`), so ``rayplane connect``, ``job submit``, ``create cluster``
and ``scale cluster`` do exactly what these methods do.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from rayplane.sdk.backend import BackendError, NodeInfo, PortName
from rayplane.sdk.builder import build_cluster
from rayplane.sdk.errors import WaitError
from rayplane.sdk.jobs import Jobs
from rayplane.sdk.resource import Resource
from rayplane.sdk.runtime import Runtime
from rayplane.sdk.scaling import scaled
from rayplane.sdk.waiting import group_outcome, wait_for


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

    @classmethod
    def build(cls, name: str, *, runtime: Runtime | None = None, **shape: Any) -> Self:
        """A cluster from a few numbers, without YAML: a head and one worker group.

        *shape* takes :func:`rayplane.sdk.builder.build_cluster`'s keywords (``workers``,
        ``worker_cpus``, ``worker_memory``, ``head_cpus``, ``head_memory``, ``min_workers``,
        ``max_workers``, ``autoscaling``, ``namespace``, ``ray_version``, ``image``,
        ``group``); the result is a full ray.io/v1 object (``print(c.to_yaml())``), the same
        one ``rayplane create cluster`` makes. Bad values raise ValueError naming the fix.
        """
        return cls(build_cluster(name, **shape), runtime)

    def connect(self, **ray_init_kwargs: Any) -> Any:
        """``ray.init`` to this cluster from this Python process; returns Ray's context.

        It sets Ray's loopback switch itself (also after ``import ray``), so a local
        cluster is reached where a bare ``ray.init("127.0.0.1:...")`` would retry a
        rewritten address for minutes; on Kubernetes it goes through Ray Client over a
        port-forward it holds open. See :func:`rayplane.sdk.connect.connect`.
        """
        from rayplane.sdk.connect import connect

        fresh = self._fetch()
        if fresh is None:
            raise WaitError(f"{self.kind} {self.namespace}/{self.name}", "it is not stored")
        return connect(self.backend, fresh, **ray_init_kwargs)

    @property
    def jobs(self) -> Jobs:
        """Ray jobs on this cluster: ``submit(entrypoint, working_dir=..., runtime_env=...)``
        returns a handle with ``status``, ``wait()``, ``logs(follow=True)`` and ``stop()``."""
        return Jobs(self.backend, self._fetch)

    def scale(
        self,
        group: str,
        replicas: int,
        *,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
        wait: bool = True,
        timeout: float | None = None,
        progress: bool = True,
    ) -> Self:
        """Set worker group *group* to *replicas* and, with *wait*, wait until it has that
        many ready nodes. Outside the group's minReplicas..maxReplicas it is refused
        (ScaleError names both), as kubectl-ray's ``scale cluster`` refuses it; pass
        *min_replicas* / *max_replicas* to move the bounds in the same step. On a cluster
        not applied yet, only the object changes."""
        applied = self._applied and self._fetch() is not None
        self.object = scaled(
            self._intent(), group, replicas, min_replicas=min_replicas, max_replicas=max_replicas
        )
        if not applied:
            return self
        self.apply(wait=False, progress=False)
        if wait:
            limit = timeout if timeout is not None else self.runtime.apply_timeout_s
            what = f"{self.kind} {self.namespace}/{self.name} group {group}"
            outcome = wait_for(
                what,
                self._fetch,
                group_outcome(group, self.backend.nodes),
                limit,
                progress=progress,
            )
            if outcome.failed:
                raise WaitError(what, outcome.message, timed_out=outcome.timed_out)
        return self
