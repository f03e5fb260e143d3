"""Ray jobs on a running cluster, from Python: ``cluster.jobs.submit(...)`` and its handle.

This is ``ray job submit`` / ``JobSubmissionClient`` over rayplane's runtimes: the
dashboard is reached through :meth:`Backend.reach` (the loopback port locally, a
port-forward the backend opens and closes on Kubernetes), and every call goes through
:class:`rayplane.clients.jobs_api.JobsClient`, the same client the RayJob controllers
use, so a local ``working_dir`` is zipped and uploaded exactly as they (and Ray) do it.

Every wait ends: with the job's terminal status, or a :class:`WaitError` whose
``reason`` says why not on one line (time ran out, ``timed_out`` set; the cluster was
deleted; the dashboard stopped answering; the job is gone). A job left running is never
stopped by a wait that gives up.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal, overload

import httpx

from rayplane.clients.jobs_api import JobInfo, JobsClient, JobsClientError
from rayplane.errors import RayplaneError
from rayplane.sdk.auth import cluster_token
from rayplane.sdk.backend import Backend, BackendError, Obj
from rayplane.sdk.errors import WaitError

__all__ = ["TERMINAL", "JobError", "JobHandle", "Jobs"]

#: Ray's terminal job statuses (``ray.job_submission.JobStatus.is_terminal``).
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})

#: How long the dashboard may stay unanswering during a wait before it gives up: long
#: enough for a port-forward to be reopened, short enough not to look like a hang.
UNREACHABLE_S = 30.0

Fetch = Callable[[], Obj | None]


class JobError(RayplaneError):
    """A job request the dashboard refused or could not answer (the message says which)."""


class Jobs:
    """The Ray jobs of one cluster; *fetch* reads the RayCluster object afresh.

    *transport* replaces the network for tests (``httpx.MockTransport``); *poll_s* is the
    interval of :meth:`JobHandle.wait` and ``logs(follow=True)``.
    """

    def __init__(
        self,
        backend: Backend,
        fetch: Fetch,
        *,
        transport: httpx.BaseTransport | None = None,
        poll_s: float = 0.5,
        unreachable_s: float = UNREACHABLE_S,
    ) -> None:
        self.backend = backend
        self.fetch = fetch
        self.poll_s = poll_s
        self.unreachable_s = unreachable_s
        self._transport = transport
        self._label = "the cluster"

    # sessions -----------------------------------------------------------------------------

    def _cluster(self) -> Obj:
        obj = self.fetch()
        if obj is None:
            raise JobError(f"{self._label} does not exist (any more); its jobs went with it")
        meta = obj.get("metadata") or {}
        self._label = f"RayCluster {meta.get('namespace') or 'default'}/{meta.get('name')}"
        return obj

    def open(self, stack: ExitStack) -> JobsClient:
        """A client of the cluster's dashboard, held open by *stack* (a port-forward on
        Kubernetes lives as long as the stack)."""
        obj = self._cluster()
        try:
            token = cluster_token(self.backend, obj)  # the cluster's, when it has token auth
            address = stack.enter_context(self.backend.reach(obj, "dashboard"))
        except BackendError as exc:
            raise JobError(f"cannot reach the dashboard of {self._label}: {exc}") from exc
        return stack.enter_context(JobsClient(address, token=token, transport=self._transport))

    def _call(self, what: str, call: Callable[[JobsClient], Any]) -> Any:
        with ExitStack() as stack:
            client = self.open(stack)
            try:
                return call(client)
            except JobsClientError as exc:
                raise JobError(f"{what} on {self._label}: {exc}") from exc

    # the API ------------------------------------------------------------------------------

    def submit(
        self,
        entrypoint: str,
        *,
        working_dir: str | Path | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        submission_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> JobHandle:
        """Submit *entrypoint* (a shell command, run on the head) and return its handle.

        *working_dir* (a local directory, relative to the current one, or a URI) takes
        precedence over ``runtime_env["working_dir"]``, as ``ray job submit
        --working-dir`` does; local directories are uploaded first. With a
        *submission_id* that already exists, nothing is submitted and the handle is that
        job's: submitting is idempotent, as it is for the RayJob controllers.
        """
        env = dict(runtime_env or {})
        if working_dir is not None:
            env["working_dir"] = str(working_dir)
        submitted = self._call(
            f"submit {entrypoint!r}",
            lambda c: c.submit(
                entrypoint, submission_id=submission_id, runtime_env=env or None, metadata=metadata
            ),
        )
        return JobHandle(self, submitted.submission_id)

    def get(self, job_id: str) -> JobHandle:
        """The handle of an existing job (submission id, or Ray's job id)."""
        info = self._call(f"get job {job_id}", lambda c: c.get(job_id))
        if info is None:
            raise JobError(f"no job {job_id!r} on {self._label}; list() shows the ones there are")
        return JobHandle(self, info.submission_id or job_id)

    def list(self) -> builtins.list[JobHandle]:
        """Every submitted job of the cluster (drivers that called ``ray.init`` themselves
        have no submission id and are left out), oldest first."""
        infos: builtins.list[JobInfo] = self._call("list jobs", lambda c: c.list())
        infos.sort(key=lambda i: i.start_time or 0)
        return [JobHandle(self, i.submission_id) for i in infos if i.submission_id]


class JobHandle:
    """One Ray job on a cluster. Every property reads the dashboard afresh."""

    def __init__(self, jobs: Jobs, job_id: str) -> None:
        self._jobs = jobs
        self.id = job_id

    def __repr__(self) -> str:
        return f"JobHandle({self.id!r})"

    @property
    def info(self) -> JobInfo:
        """Everything Ray reports of the job (status, message, times, exit code, ...)."""
        info: JobInfo | None = self._jobs._call(f"get job {self.id}", lambda c: c.get(self.id))
        if info is None:
            raise JobError(f"job {self.id!r} is gone from the dashboard")
        return info

    @property
    def status(self) -> str:
        """Ray's status: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
        return self.info.status

    def stop(self) -> bool:
        """Ask Ray to stop the job; False when it was not running."""
        stopped: bool = self._jobs._call(f"stop job {self.id}", lambda c: c.stop(self.id))
        return stopped

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job is terminal and return its status (SUCCEEDED, FAILED or
        STOPPED: a failed job is an answer, not an exception).

        WaitError when *timeout* seconds pass first (the job keeps running), the cluster
        is deleted, or its dashboard stops answering.
        """
        status = ""
        for info, _ in self._watch(logs=False, timeout=timeout):
            status = info.status
        return status

    @overload
    def logs(self, follow: Literal[False] = False) -> str: ...
    @overload
    def logs(self, follow: Literal[True]) -> Iterator[str]: ...
    @overload
    def logs(self, follow: bool) -> str | Iterator[str]: ...

    def logs(self, follow: bool = False) -> str | Iterator[str]:
        """The driver's log so far; with ``follow=True`` an iterator of new text as it
        comes, which ends once the job is terminal and its last lines are yielded."""
        if follow:
            return (text for _, text in self._watch(logs=True, timeout=None) if text)
        text: str = self._jobs._call(f"get logs of job {self.id}", lambda c: c.logs(self.id))
        return text

    def _watch(self, *, logs: bool, timeout: float | None) -> Iterator[tuple[JobInfo, str]]:
        """Poll the job (and its log) until terminal, yielding (info, new log text).

        One dashboard session is held across polls; if the dashboard stops answering, the
        session is reopened (a port-forward may have dropped) until ``unreachable_s``.
        """
        jobs = self._jobs
        start = time.monotonic()
        printed = 0
        down_since: float | None = None
        last = "not read yet"
        stack = ExitStack()
        client: JobsClient | None = None
        try:
            while True:
                try:
                    if client is None:
                        client = jobs.open(stack)
                    info = client.get(self.id)
                    if info is None:
                        raise WaitError(
                            f"job {self.id}", f"it is gone from {jobs._label} (deleted?)"
                        )
                    text = client.logs(self.id) if logs else ""
                    down_since = None
                except (JobsClientError, JobError) as exc:
                    stack.close()
                    stack, client = ExitStack(), None
                    if jobs.fetch() is None:
                        raise WaitError(
                            f"job {self.id}",
                            f"{jobs._label} was deleted while waiting (last status: {last})",
                        ) from exc
                    now = time.monotonic()
                    down_since = now if down_since is None else down_since
                    if now - down_since > jobs.unreachable_s:
                        raise WaitError(
                            f"job {self.id}",
                            f"the dashboard of {jobs._label} has not answered for "
                            f"{jobs.unreachable_s:.0f}s (last status: {last}): {exc}",
                        ) from exc
                    time.sleep(jobs.poll_s)
                    continue
                last = info.status
                new = text[printed:] if len(text) > printed else ""
                printed = max(printed, len(text))
                yield info, new
                if info.status in TERMINAL:
                    return
                if timeout is not None and time.monotonic() - start > timeout:
                    raise WaitError(
                        f"job {self.id}",
                        f"still {info.status} after {timeout:g}s; it keeps running "
                        "(wait again, or stop() it)",
                        timed_out=True,
                    )
                time.sleep(jobs.poll_s)
        finally:
            stack.close()
