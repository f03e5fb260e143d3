"""A small synchronous client of Ray's job REST API (the dashboard's ``/api/jobs/``).

It is what KubeRay's dashboard client does, over httpx so that a transport can be injected
(``httpx.MockTransport`` in tests, a proxy transport on Kubernetes):

* ``GET /api/jobs/<id>`` answers 404 for an unknown id; :meth:`JobsClient.get` returns None
  then, which is what the RayJob reconciler's "not found" means.
* :meth:`JobsClient.submit` GETs before it POSTs, and a POST that fails with Ray's
  "already exists" (HTTP 500, a ValueError in the job manager) counts as success: a
  controller that retries a pass, or two that race, never submit a job twice.
* A local ``working_dir`` (and local ``py_modules``) in the runtime env is zipped and
  uploaded the way ``ray job submit`` does it (``gcs://_ray_pkg_<hash>.zip``: GET
  ``/api/packages/gcs/<name>`` to check, PUT to upload), then replaced by its URI, because
  the job's driver runs on the head and cannot read the submitter's files
  (:mod:`rayplane.clients.ray_packages` does the packaging).
* With a token, every request carries ``x-ray-authorization: Bearer <token>`` (Ray's token
  auth, and the header KubeRay sends).

Every failure raises :class:`JobsClientError` with the HTTP status (None when the dashboard
did not answer) and the response text, so a caller can report it verbatim.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from rayplane.clients.auth import auth_header
from rayplane.clients.ray_packages import upload_local_paths
from rayplane.errors import RayplaneError

JOBS_PATH = "/api/jobs/"
PACKAGES_PATH = "/api/packages"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_UPLOAD_TIMEOUT_SECONDS = 300.0
_DUPLICATE_MARKERS = ("already exists", "Please use a different submission_id")


class JobsClientError(RayplaneError):
    """A job API call that failed; ``status`` is None when no HTTP answer came back."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class JobInfo:
    """One job as ``GET /api/jobs/<id>`` reports it (times in ms since the epoch).

    ``status``/``message``/``start_time``/``end_time`` are what the RayJob reconciler reads
    (it accepts a JobInfo as its ``RayJobLike``); ``raw`` keeps every field Ray sent.
    """

    status: str
    message: str = ""
    job_id: str | None = None
    submission_id: str | None = None
    type: str | None = None
    entrypoint: str | None = None
    error_type: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    driver_exit_code: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    runtime_env: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobInfo:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        def number(key: str) -> int | None:
            value = data.get(key)
            return int(value) if isinstance(value, int | float) and value else None

        exit_code = data.get("driver_exit_code")
        return cls(
            status=str(data.get("status") or ""),
            message=str(data.get("message") or ""),
            job_id=text("job_id"),
            submission_id=text("submission_id"),
            type=text("type"),
            entrypoint=text("entrypoint"),
            error_type=text("error_type"),
            start_time=number("start_time"),
            end_time=number("end_time"),
            driver_exit_code=exit_code if isinstance(exit_code, int) else None,
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            runtime_env=dict(data.get("runtime_env") or {}),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Submission:
    """The outcome of :meth:`JobsClient.submit`: ``created`` is False when the dashboard
    already had a job with this id (nothing was submitted)."""

    submission_id: str
    created: bool


def dashboard_base_url(address: str) -> str:
    """``http://host:port`` for KubeRay's ``host:port`` dashboardURL (or a full URL)."""
    address = address.strip().rstrip("/")
    return address if "://" in address else f"http://{address}"


class JobRequest(Protocol):
    """A submission as a runtime holds it; the RayJob reconciler's SubmitJob action is one.

    Both runtimes submit the reconciler's action, so the mapping of its fields onto the
    Jobs API lives here once, not in each runtime.
    """

    @property
    def job_id(self) -> str: ...
    @property
    def entrypoint(self) -> str: ...
    @property
    def runtime_env(self) -> Mapping[str, Any] | None: ...
    @property
    def metadata(self) -> Mapping[str, str] | None: ...
    @property
    def entrypoint_num_cpus(self) -> float | None: ...
    @property
    def entrypoint_num_gpus(self) -> float | None: ...
    @property
    def entrypoint_resources(self) -> Mapping[str, float] | None: ...


class JobsClient:
    """Ray's job API on one dashboard.

    *address* is ``host:port`` or a URL. *token* adds Ray's auth header. *timeout* bounds
    every call but package uploads, which get *upload_timeout*. *transport* replaces the
    network (``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        all_headers = {**(headers or {}), **auth_header(token)}
        self.base_url = dashboard_base_url(address)
        self.upload_timeout = upload_timeout
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=all_headers,
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JobsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # jobs -------------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobInfo | None:
        """The job with this submission (or job) id; None when the dashboard says 404."""
        response = self._request("GET", _job_path(job_id))
        if response.status_code == 404:
            return None
        self._check(response, f"get job {job_id}")
        return JobInfo.from_json(self._json_object(response, f"get job {job_id}"))

    def list(self) -> list[JobInfo]:
        """Every job the dashboard knows, DRIVER-type jobs (plain ``ray.init``) included."""
        response = self._request("GET", JOBS_PATH)
        self._check(response, "list jobs")
        data = self._json(response, "list jobs")
        if not isinstance(data, list):
            raise JobsClientError("list jobs: expected a JSON list", response.status_code)
        return [JobInfo.from_json(item) for item in data if isinstance(item, dict)]

    def submit_request(
        self, request: JobRequest, *, base_dir: str | Path | None = None
    ) -> Submission:
        """:meth:`submit` of a runtime's *request*, its id as the submission id."""
        return self.submit(
            request.entrypoint,
            submission_id=request.job_id,
            runtime_env=request.runtime_env,
            metadata=request.metadata,
            entrypoint_num_cpus=request.entrypoint_num_cpus,
            entrypoint_num_gpus=request.entrypoint_num_gpus,
            entrypoint_resources=request.entrypoint_resources,
            base_dir=base_dir,
        )

    def submit(
        self,
        entrypoint: str,
        *,
        submission_id: str | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        metadata: Mapping[str, str] | None = None,
        entrypoint_num_cpus: float | None = None,
        entrypoint_num_gpus: float | None = None,
        entrypoint_memory: int | None = None,
        entrypoint_resources: Mapping[str, float] | None = None,
        base_dir: str | Path | None = None,
    ) -> Submission:
        """Submit a job unless one with *submission_id* exists already.

        Local paths in *runtime_env* are uploaded first (:meth:`prepare_runtime_env`; a
        relative path is taken from *base_dir*, default the current directory). Unset
        optional fields are left out of the body, so Ray applies its own defaults.
        """
        if submission_id and self.get(submission_id) is not None:
            return Submission(submission_id, False)
        body: dict[str, Any] = {"entrypoint": entrypoint}
        if submission_id:
            body["submission_id"] = submission_id
        if runtime_env:
            body["runtime_env"] = self.prepare_runtime_env(runtime_env, base_dir=base_dir)
        if metadata:
            body["metadata"] = dict(metadata)
        if entrypoint_num_cpus is not None:
            body["entrypoint_num_cpus"] = entrypoint_num_cpus
        if entrypoint_num_gpus is not None:
            body["entrypoint_num_gpus"] = entrypoint_num_gpus
        if entrypoint_memory is not None:
            body["entrypoint_memory"] = entrypoint_memory
        if entrypoint_resources:
            body["entrypoint_resources"] = dict(entrypoint_resources)
        response = self._request("POST", JOBS_PATH, json=body)
        if (
            submission_id
            and response.status_code == 500
            and any(marker in response.text for marker in _DUPLICATE_MARKERS)
        ):
            return Submission(submission_id, False)  # lost a race with another submitter
        self._check(response, "submit job")
        answer = self._json_object(response, "submit job")
        return Submission(str(answer.get("submission_id") or submission_id or ""), True)

    def logs(self, job_id: str) -> str:
        """The job's driver log so far (JobsClientError with status 404 for an unknown id)."""
        response = self._request("GET", f"{_job_path(job_id)}/logs")
        self._check(response, f"get logs of job {job_id}")
        return str(self._json_object(response, f"get logs of job {job_id}").get("logs") or "")

    def stop(self, job_id: str) -> bool:
        """Ask Ray to stop the job; False when it was not running (or is unknown)."""
        response = self._request("POST", f"{_job_path(job_id)}/stop")
        if response.status_code == 404:
            return False
        self._check(response, f"stop job {job_id}")
        return bool(self._json_object(response, f"stop job {job_id}").get("stopped"))

    def delete(self, job_id: str) -> bool:
        """Delete a finished job's record and logs; False when the id is unknown."""
        response = self._request("DELETE", _job_path(job_id))
        if response.status_code == 404:
            return False
        self._check(response, f"delete job {job_id}")
        return bool(self._json_object(response, f"delete job {job_id}").get("deleted"))

    def version(self) -> dict[str, Any]:
        """``GET /api/version``: {"version": "4", "ray_version": ..., ...}."""
        response = self._request("GET", "/api/version")
        self._check(response, "get version")
        return self._json_object(response, "get version")

    # packages -----------------------------------------------------------------------------

    def prepare_runtime_env(
        self, runtime_env: Mapping[str, Any], *, base_dir: str | Path | None = None
    ) -> dict[str, Any]:
        """A copy of *runtime_env* whose local ``working_dir``/``py_modules`` are uploaded
        and replaced by their ``gcs://_ray_pkg_<hash>.zip`` URIs; URIs pass unchanged
        (see :mod:`rayplane.clients.ray_packages`)."""
        with _as_client_error("runtime_env"):
            return upload_local_paths(runtime_env, self, base_dir=base_dir)

    def package_exists(self, uri: str) -> bool:
        """Whether the dashboard already holds package *uri* (``gcs://<name>``)."""
        response = self._request("GET", _package_path(uri))
        if response.status_code == 404:
            return False
        self._check(response, f"check package {uri}")
        return True

    def upload_package(self, uri: str, data: bytes) -> None:
        """PUT the zip *data* as package *uri*."""
        response = self._request("PUT", _package_path(uri), content=data, upload=True)
        self._check(response, f"upload package {uri}")

    # plumbing -----------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, upload: bool = False, **kwargs: Any
    ) -> httpx.Response:
        if upload:
            kwargs["timeout"] = self.upload_timeout
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise JobsClientError(
                f"{method} {self.base_url}{path}: {type(exc).__name__}: {exc}"
            ) from exc

    @staticmethod
    def _check(response: httpx.Response, what: str) -> None:
        if response.is_success:
            return
        body = response.text
        hint = ""
        if response.status_code in (401, 403):
            hint = " (the cluster requires a Ray auth token; pass token=...)"
        raise JobsClientError(
            f"{what}: HTTP {response.status_code}{hint}: {body.strip()}",
            response.status_code,
            body,
        )

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise JobsClientError(
                f"{what}: the answer is not JSON: {response.text[:200]}",
                response.status_code,
                response.text,
            ) from exc

    def _json_object(self, response: httpx.Response, what: str) -> dict[str, Any]:
        data = self._json(response, what)
        if not isinstance(data, dict):
            raise JobsClientError(
                f"{what}: expected a JSON object", response.status_code, response.text
            )
        return data


def _job_path(job_id: str) -> str:
    if not job_id or "/" in job_id:
        raise JobsClientError(f"invalid job id {job_id!r}")
    return f"{JOBS_PATH}{job_id}"


def _split_uri(uri: str) -> tuple[str, str]:
    protocol, sep, name = uri.partition("://")
    if not sep or not name:
        raise JobsClientError(f"not a package URI: {uri!r}")
    return protocol, name


def _package_path(uri: str) -> str:
    protocol, name = _split_uri(uri)
    return f"{PACKAGES_PATH}/{protocol}/{name}"


@contextmanager
def _as_client_error(what: str) -> Iterator[None]:
    """Ray's helpers raise ValueError/TypeError/RuntimeError for a bad local path; callers
    of this client handle one exception type."""
    try:
        yield
    except JobsClientError:
        raise
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        raise JobsClientError(f"{what}: {exc}") from exc
