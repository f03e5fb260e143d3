"""`rayplane job submit`: kubectl-ray's verb, with our progress and reasons.

As kubectl-ray does, ``-f rayjob.yaml`` creates the RayJob (it must be InteractiveMode:
the CLI, not a submitter, submits its entrypoint), waits until its cluster is ready,
submits the entrypoint and records the submission id in ``spec.jobId`` so the RayJob
follows the job from there. ``--cluster NAME`` submits to a RayCluster that exists.
Either way the job's log streams to stdout, the lifecycle goes to stderr, and the last
line says the outcome: exit 0 only when the job SUCCEEDED, 1 otherwise, 2 for bad input.
Unlike kubectl-ray, nothing here shells out to ``ray job submit`` (whose errors its
users found swallowed): the SDK's :class:`rayplane.sdk.jobs.Jobs` does the submission.
"""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from rayplane.api.loading import LoadError, load
from rayplane.api.validation import validate
from rayplane.cli.connect_cmd import find_cluster, runtime_backend
from rayplane.cli.output import err, out, print_findings, safe
from rayplane.cli.progress import Outcome, wait_for
from rayplane.cli.readiness import cluster_outcome
from rayplane.cli.resources import Namespace
from rayplane.errors import RayplaneError
from rayplane.sdk.backend import Backend, Obj
from rayplane.sdk.jobs import JobHandle, Jobs
from rayplane.settings import SettingsError, load_gates, load_local

job_app = typer.Typer(
    help="Submit Ray jobs: to a RayCluster, or with an InteractiveMode RayJob.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

INTERACTIVE = "InteractiveMode"


def _bad(message: str) -> typer.Exit:
    err.print(message, markup=False)
    return typer.Exit(2)


def read_runtime_env(path: str | None, text: str | None) -> dict[str, Any] | None:
    """The runtime_env of ``--runtime-env FILE`` (YAML or JSON) or ``--runtime-env-json``."""
    if path and text:
        raise _bad("--runtime-env and --runtime-env-json: give one of them")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise _bad(f"--runtime-env {path}: cannot read: {exc.strerror or exc}") from exc
        return parse_runtime_env(text, f"--runtime-env {path}")
    return parse_runtime_env(text, "--runtime-env-json") if text else None


def parse_runtime_env(text: str, where: str) -> dict[str, Any] | None:
    """A runtime_env mapping from YAML (JSON is YAML); exit 2 naming *where* if it is not."""
    try:
        env = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _bad(f"{where}: not valid YAML or JSON: {exc}") from exc
    if env is None:
        return None
    if not isinstance(env, dict):
        raise _bad(f"{where}: a runtime_env is a mapping (working_dir, pip, env_vars, ...)")
    return env


def entrypoint_text(words: list[str]) -> str:
    """The shell command Ray runs: one word as written (the user quoted it whole),
    several joined with shell quoting, so `-- python -c "print('a b')"` arrives intact."""
    return words[0] if len(words) == 1 else shlex.join(words)


def read_rayjob(filename: str, namespace: str) -> dict[str, Any]:
    """The one RayJob of *filename*, valid and InteractiveMode, in its namespace."""
    try:
        docs = load([filename])
    except LoadError as exc:
        raise _bad(str(exc)) from exc
    jobs = [d for d in docs if d.kind == "RayJob"]
    if len(jobs) != 1 or len(docs) != 1:
        raise _bad(f"{filename}: job submit -f takes a file with exactly one RayJob")
    doc = jobs[0]
    try:
        report = validate(doc.raw, load_gates())
    except SettingsError as exc:
        raise _bad(str(exc)) from exc
    print_findings(report.findings)
    if not report.ok:
        err.print(f"[red]invalid[/red] RayJob/{safe(doc.name)} ({safe(doc.where)}): not applied")
        raise typer.Exit(1)
    raw = dict(doc.raw)
    spec = dict(raw.get("spec") or {})
    mode = spec.get("submissionMode") or "K8sJobMode"
    if mode != INTERACTIVE:
        raise _bad(
            f"{filename}: spec.submissionMode is {mode}; job submit submits the entrypoint "
            f"itself, so the RayJob must say submissionMode: {INTERACTIVE} (or use "
            "`rayplane apply -f` for a RayJob that submits its own spec.entrypoint)"
        )
    meta = dict(raw.get("metadata") or {})
    if meta.get("namespace") and namespace != "default" and meta["namespace"] != namespace:
        raise _bad(
            f"{filename}: metadata.namespace is {meta['namespace']} but -n says {namespace}; "
            "drop one of them"
        )
    meta.setdefault("namespace", namespace)
    raw["metadata"], raw["spec"] = meta, spec
    return raw


def waiting_outcome(detail: dict[str, Any] | None) -> Outcome:
    """An InteractiveMode RayJob is ready for its job once it is Waiting (its cluster is
    up); terminal phases and a cluster that cannot start end the wait with their reason."""
    if detail is None:
        return Outcome(True, True, "the RayJob disappeared while waiting")
    status = detail.get("status") or {}
    phase = status.get("jobDeploymentStatus") or "New"
    if phase in ("Waiting", "Running"):
        return Outcome(True, False, phase)
    if phase in ("Complete", "Failed", "ValidationFailed"):
        why = f"{status.get('reason') or phase}: {status.get('message') or ''}".strip(": ")
        return Outcome(True, True, why)
    stuck = (detail.get("local") or {}).get("clusterFailure")
    if stuck:
        return Outcome(True, True, str(stuck))
    return Outcome(False, False, f"{phase}; cluster {status.get('rayClusterName') or '-'}")


def _limit(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    try:
        return load_local().apply_timeout_s
    except SettingsError as exc:
        raise _bad(str(exc)) from exc


def _start_rayjob(backend: Backend, raw: dict[str, Any], limit: float) -> str:
    """Create the RayJob, wait until it waits for its job; the name of its cluster.

    Create, not update, as kubectl-ray does: an InteractiveMode RayJob takes one job, so
    one that exists already (perhaps done) is not silently given a second.
    """
    meta = raw["metadata"]
    ns, name = meta["namespace"], meta["name"]
    existing = backend.get("RayJob", ns, name)
    if existing is not None:
        phase = (existing.get("status") or {}).get("jobDeploymentStatus") or "New"
        err.print(
            f"RayJob {safe(ns)}/{safe(name)} exists already ({safe(phase)}); delete it "
            f"(rayplane delete rayjob {safe(name)} -n {safe(ns)}) or change metadata.name"
        )
        raise typer.Exit(1)
    applied = backend.apply(raw)
    err.print(f"rayjob.ray.io/{safe(name)} {applied.verb}")
    fetch = functools.partial(backend.get, "RayJob", ns, name)
    outcome = wait_for(f"RayJob {ns}/{name}", fetch, waiting_outcome, limit)
    if outcome.failed:
        err.print(f"[red]RayJob {safe(ns)}/{safe(name)} cannot run[/red]: {safe(outcome.message)}")
        raise typer.Exit(1)
    cluster = str(((fetch() or {}).get("status") or {}).get("rayClusterName") or "")
    if not cluster:
        err.print(f"RayJob {safe(ns)}/{safe(name)} is {outcome.message} but names no cluster")
        raise typer.Exit(1)
    return cluster


def _ready_cluster(backend: Backend, ns: str, name: str, limit: float) -> Obj:
    """The RayCluster once ready (at once if it is), or exit 1 with why it is not."""
    found = find_cluster(backend, ns, name)
    now = cluster_outcome(found)
    if now.done and not now.failed:
        return found  # ready already: no progress to show
    fetch = functools.partial(backend.get, "RayCluster", ns, name)
    outcome = wait_for(f"RayCluster {ns}/{name}", fetch, cluster_outcome, limit)
    obj = fetch()
    if outcome.failed or obj is None:
        err.print(
            f"[red]RayCluster {safe(ns)}/{safe(name)} is not ready[/red]: {safe(outcome.message)}"
        )
        raise typer.Exit(1)
    return obj


def _record_job_id(backend: Backend, raw: dict[str, Any], job_id: str) -> None:
    """InteractiveMode's contract: the user sets spec.jobId after submitting; the RayJob
    then goes Running and follows the job (kubectl-ray updates the RayJob the same way)."""
    spec = {**raw["spec"], "jobId": job_id}
    try:
        backend.apply({**raw, "spec": spec})
    except RayplaneError as exc:
        err.print(
            f"[yellow]warning[/yellow] could not set spec.jobId={safe(job_id)} on RayJob "
            f"{safe(raw['metadata']['name'])}: {safe(exc)}; it stays Waiting"
        )


def follow_to_end(handle: JobHandle) -> int:
    """Stream the job's log to stdout until it is terminal; 0 only for SUCCEEDED, and the
    last line (stderr) says the outcome with Ray's reason."""
    try:
        for chunk in handle.logs(follow=True):
            out.print(chunk, end="", markup=False, highlight=False)
    except KeyboardInterrupt:
        err.print(f"stopped following job {safe(handle.id)}; it keeps running")
        return 130
    info = handle.info
    if info.status == "SUCCEEDED":
        err.print(f"[green]job {safe(handle.id)} succeeded[/green]")
        return 0
    lines = [line for line in info.message.splitlines() if line.strip()]
    # Ray appends the log tail to a failed entrypoint's message; the log was streamed.
    why = lines[0].split(", last available logs")[0] if lines else "no message from Ray"
    if info.driver_exit_code is not None and "exit code" not in why:
        why += f" (driver exit code {info.driver_exit_code})"
    err.print(f"[red]job {safe(handle.id)} {safe(info.status)}[/red]: {safe(why)}")
    return 1


def files_left_behind(entrypoint: list[str]) -> list[str]:
    """Words of the entrypoint that name a file here, which a job without a working_dir
    will not see (it runs in the head's directory, as `ray job submit` does): the usual
    first mistake, so it is named before the job fails with "can't open file"."""
    words = [w for arg in entrypoint for w in arg.split()]
    return [w for w in words if not w.startswith("-") and "/" not in w and Path(w).is_file()]


@job_app.command("submit")
def submit_cmd(
    entrypoint: Annotated[
        list[str] | None, typer.Argument(help="The entrypoint, after --.", show_default=False)
    ] = None,
    filename: Annotated[
        str | None,
        typer.Option("-f", "--filename", help="A RayJob (submissionMode: InteractiveMode)."),
    ] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="Submit to this existing RayCluster.")
    ] = None,
    namespace: Namespace = "default",
    working_dir: Annotated[
        str | None, typer.Option("--working-dir", help="Local directory the job runs in.")
    ] = None,
    runtime_env: Annotated[
        str | None, typer.Option("--runtime-env", help="YAML/JSON file with a runtime_env.")
    ] = None,
    runtime_env_json: Annotated[
        str | None, typer.Option("--runtime-env-json", help="A runtime_env as JSON.")
    ] = None,
    submission_id: Annotated[str | None, typer.Option("--submission-id")] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once submitted; do not stream logs.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait for the cluster.")
    ] = None,
) -> None:
    """Submit -- ENTRYPOINT to a RayCluster (--cluster) or with a RayJob (-f), stream its
    logs, and exit with its outcome (0 only when it SUCCEEDED)."""
    if bool(filename) == bool(cluster):
        raise _bad("job submit: give either -f RAYJOB.yaml or --cluster NAME")
    if not entrypoint:
        raise _bad("job submit: give the entrypoint after --, e.g. -- python my_script.py")
    if working_dir is not None and not Path(working_dir).is_dir():
        raise _bad(f"--working-dir {working_dir}: not a directory")
    env = read_runtime_env(runtime_env, runtime_env_json)
    raw = read_rayjob(filename, namespace) if filename else None
    if raw is not None and env is None and raw["spec"].get("runtimeEnvYAML"):
        env = parse_runtime_env(raw["spec"]["runtimeEnvYAML"], f"{filename}: spec.runtimeEnvYAML")
    if working_dir is None and not (env or {}).get("working_dir"):
        for local_file in files_left_behind(entrypoint):
            err.print(
                f"note: {safe(local_file)} is in this directory, but the job runs on the "
                "cluster without it; add --working-dir . to upload this directory."
            )
    limit = _limit(timeout)
    backend = runtime_backend(start=raw is not None)
    try:
        ns = raw["metadata"]["namespace"] if raw is not None else namespace
        name = _start_rayjob(backend, raw, limit) if raw is not None else str(cluster)
        _ready_cluster(backend, ns, name, limit)
        jobs = Jobs(backend, functools.partial(backend.get, "RayCluster", ns, name))
        handle = jobs.submit(
            entrypoint_text(entrypoint),
            working_dir=working_dir,
            runtime_env=env,
            submission_id=submission_id,
        )
        err.print(f"job {safe(handle.id)} submitted to RayCluster {safe(ns)}/{safe(name)}")
        if raw is not None:
            _record_job_id(backend, raw, handle.id)
        if no_wait:
            return
        code = follow_to_end(handle)
    except RayplaneError as exc:
        err.print(f"[red]job submit failed[/red]: {safe(exc)}")
        raise typer.Exit(1) from exc
    finally:
        backend.close()
    raise typer.Exit(code)
