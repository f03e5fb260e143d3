"""A RayJob handle: its Ray job's status, its end, and its driver's logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Literal, overload

from rayplane.clients.jobs_api import JobsClient, JobsClientError
from rayplane.sdk.auth import cluster_token
from rayplane.sdk.backend import BackendError
from rayplane.sdk.errors import WaitError
from rayplane.sdk.resource import Resource
from rayplane.sdk.waiting import JOB_TERMINAL, job_outcome

LOG_POLL_S = 0.5


class RayJob(Resource):
    """A RayJob. ``apply`` waits until the job has finished, as `rayplane apply` and
    `ray job submit` do; ``apply(wait=False)`` and then :meth:`wait` or
    ``logs(follow=True)`` watch it instead."""

    kind: ClassVar[str] = "RayJob"
    api_version: ClassVar[str] = "ray.io/v1"

    @property
    def job_status(self) -> str | None:
        """Ray's status of the job (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED), None
        before it is submitted."""
        fresh = self._fetch()
        return ((fresh or {}).get("status") or {}).get("jobStatus") or None

    def wait(self, timeout: float | None = None, progress: bool = True) -> str:
        """Wait until the RayJob has finished; return the job's terminal status
        (SUCCEEDED, FAILED, STOPPED). WaitError when it cannot finish (its cluster cannot
        start, it was deleted, it was refused) or *timeout* seconds pass."""
        limit = timeout if timeout is not None else self.runtime.apply_timeout_s
        try:
            self._wait(job_outcome, limit, progress)
        except WaitError as exc:
            status = self.object.get("status") or {}
            if exc.timed_out or status.get("jobDeploymentStatus") not in JOB_TERMINAL:
                raise
            if not status.get("jobStatus"):
                raise
        return str((self.object.get("status") or {}).get("jobStatus"))

    @contextmanager
    def _jobs(self) -> Iterator[tuple[JobsClient, str]]:
        """The Jobs API of the RayJob's cluster and the job's id, reached through the
        backend (a port-forward on Kubernetes)."""
        status = (self._fetch() or self.object).get("status") or {}
        job_id, cluster = status.get("jobId"), status.get("rayClusterName")
        cluster_obj = self.backend.get("RayCluster", self.namespace, cluster) if cluster else None
        if not job_id or cluster_obj is None:
            raise JobsClientError(
                f"RayJob {self.namespace}/{self.name} has no running job to read "
                f"(phase {status.get('jobDeploymentStatus') or 'New'}, cluster "
                f"{cluster or 'none'}); `rayplane logs rayjob/{self.name}` reads kept logs"
            )
        try:
            token = cluster_token(self.backend, cluster_obj)  # the cluster's, with token auth
            with (
                self.backend.reach(cluster_obj, "dashboard") as where,
                JobsClient(where, token=token) as client,
            ):
                yield client, str(job_id)
        except BackendError as exc:
            raise JobsClientError(str(exc)) from exc

    @overload
    def logs(self, follow: Literal[False] = False) -> str: ...

    @overload
    def logs(self, follow: Literal[True]) -> Iterator[str]: ...

    def logs(self, follow: bool = False) -> str | Iterator[str]:
        """The driver's logs so far; with *follow*, an iterator of new text until the
        job has finished."""
        if not follow:
            with self._jobs() as (client, job_id):
                return client.logs(job_id)
        return self._follow()

    def _follow(self) -> Iterator[str]:
        printed = 0
        while True:
            detail = self._fetch()
            done = job_outcome(detail).done
            try:
                with self._jobs() as (client, job_id):
                    text = client.logs(job_id)
            except JobsClientError:
                text = ""  # not submitted yet, or the cluster is going away after the job
            if len(text) > printed:
                yield text[printed:]
                printed = len(text)
            if done:
                return
            time.sleep(LOG_POLL_S)
