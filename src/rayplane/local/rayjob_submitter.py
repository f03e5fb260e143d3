"""A RayJob's submitter on the local runtime: KubeRay's submitter Job as one process.

In K8sJobMode KubeRay runs `ray job submit` in a Job whose pod retries up to
backoffLimit; here the same script runs as a process started through the runtime port,
and an exit file stands in for the pod's exit code. What it must remember (PID, attempts,
exit code, log offset) is a dict the caller keeps in the store, so a restarted
controller neither loses a submitter nor starts a second.
"""

from __future__ import annotations

import contextlib
import shlex
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rayplane.api.k8s import Container
from rayplane.local.configrefs import CONFIG_ERROR, ConfigError, StoreConfigs
from rayplane.local.env import container_env
from rayplane.local.homepaths import make_dir
from rayplane.local.logs import log_tail
from rayplane.local.node_launcher import NodeLauncher
from rayplane.local.node_view import (
    remove_submitter_view,
    submitter_view,
    view_from_json,
    view_to_json,
)
from rayplane.local.ray_envs import venv_environment
from rayplane.local.store import Store, StoredResource
from rayplane.reconcile.job import CreateSubmitter, ObservedSubmitter
from rayplane.settings import LocalSettings


class Submitters:
    """Starts, watches, retries and stops the submitter processes of RayJobs."""

    def __init__(self, settings: LocalSettings, store: Store, launcher: NodeLauncher) -> None:
        self.settings = settings
        self.store = store
        self.launcher = launcher

    def observe(self, stored: StoredResource, state: dict[str, Any]) -> ObservedSubmitter | None:
        sub = state.get("submitter")
        if not sub:
            return None
        if sub.get("phase") in ("succeeded", "failed"):
            return _submitter(sub)
        if self.launcher.alive(sub["pid"], sub["create_time"]):
            return ObservedSubmitter(phase="running")
        code = _exit_code(Path(sub["exit_file"]))
        if code == 0:
            sub.update(phase="succeeded", exit_code=0, finished_at=time.time())
        elif sub["attempts"] <= sub["backoff_limit"]:
            # The local twin of a Job's pod retries: run the script again (it checks
            # `ray job status` before submitting, so a retry never submits twice).
            self.store.event(
                stored.uid,
                "SubmitterRetry",
                f"submitter exited {code}; attempt "
                f"{sub['attempts'] + 1} of {sub['backoff_limit'] + 1}",
                "Warning",
            )
            self._spawn(stored, sub)
            return ObservedSubmitter(phase="running")
        else:
            sub.update(
                phase="failed",
                exit_code=code,
                finished_at=time.time(),
                message=log_tail(sub["log"], 3),
            )
        return _submitter(sub)

    def _spawn(self, stored: StoredResource, sub: dict[str, Any]) -> None:
        Path(sub["exit_file"]).unlink(missing_ok=True)
        wrapped = [
            "/bin/bash",
            "-c",
            f"{shlex.join(sub['command'])}; code=$?; "
            f"echo $code > {shlex.quote(sub['exit_file'])}; exit $code",
        ]
        started = self.launcher.start(
            wrapped,
            dict(sub["env"]),
            Path(sub["log"]),
            cwd=Path(sub["cwd"]),
            view=view_from_json(sub.get("view")),
        )
        sub.update(
            pid=started.pid,
            create_time=started.create_time,
            marker=started.marker,
            attempts=sub.get("attempts", 0) + 1,
            phase="running",
        )

    def create(
        self,
        stored: StoredResource,
        action: CreateSubmitter,
        state: dict[str, Any],
        cwd: Path,
        python: Path | None = None,
        *,
        auth: dict[str, str] | None = None,
    ) -> None:
        """Start the submitter; *python* is the Ray env of a pinned rayVersion, whose `ray`
        CLI submits (KubeRay's submitter runs the cluster's image). *auth* (the cluster's
        token env) yields to the action's own RAY_AUTH_* entries, as
        SetContainerTokenAuthEnvVars yields to existing ones."""
        if state.get("submitter", {}).get("phase") == "running":
            return
        logs = make_dir(self.settings.home, "logs", stored.namespace, stored.name)
        container = action.template.spec.containers[0] if action.template.spec.containers else None
        command = list(action.command)
        if container is not None and container.command:
            # submitterPodTemplate's own command wins, as it does in KubeRay's Job.
            command = list(container.command) + list(container.args or [])
        labels = {"ray.io/originated-from-crd": "RayJob", "job-name": action.name}
        try:
            env, _ = container_env(
                Container(name="ray-job-submitter", env=list(action.env)),
                labels,
                action.name,
                stored.namespace,
                {},
                StoreConfigs(self.store),
                who="the submitter",
                strict=True,
            )
        except ConfigError as exc:
            # The submitter Pod would sit in CreateContainerConfigError; so does this job,
            # retried every pass, until the Secret or ConfigMap is applied.
            if state.get("submitter_config_error") != str(exc):
                state["submitter_config_error"] = str(exc)
                self.store.event(stored.uid, CONFIG_ERROR, str(exc), "Warning")
            return
        try:
            view = submitter_view(self.settings, self.store, stored, action.template)
        except ConfigError as exc:
            if state.get("submitter_config_error") != str(exc):
                state["submitter_config_error"] = str(exc)
                self.store.event(stored.uid, CONFIG_ERROR, str(exc), "Warning")
            return
        state.pop("submitter_config_error", None)
        env = {**(auth or {}), **env}
        if python is not None:
            env.update(venv_environment(python, env.get("PATH")))
        exit_file = tempfile.mktemp(prefix="submitter-", dir=logs)
        log_path = logs / "submitter.log"
        sub: dict[str, Any] = {
            "name": action.name,
            "command": command,
            "env": env,
            "backoff_limit": action.backoff_limit,
            "attempts": 0,
            "log": str(log_path),
            # The log is appended to by every attempt; this one's output starts here.
            "log_start": log_path.stat().st_size if log_path.exists() else 0,
            "exit_file": exit_file,
            "cwd": str(cwd),
            "view": view_to_json(view),
        }
        self._spawn(stored, sub)
        state["submitter"] = sub
        state["submitter_log"] = sub["log"]  # removed with the RayJob
        self.store.event(stored.uid, "CreatedSubmitter", f"started submitter (pid {sub['pid']})")

    def delete(self, state: dict[str, Any]) -> None:
        sub = state.pop("submitter", None)
        if sub and sub.get("pid"):
            self.launcher.stop(sub["pid"], sub["create_time"], 5, marker=sub.get("marker"))
        if sub and sub.get("view"):
            remove_submitter_view(self.settings, sub["view"])


def _submitter(sub: dict[str, Any]) -> ObservedSubmitter:
    finished = sub.get("finished_at")
    return ObservedSubmitter(
        phase=sub["phase"],
        finished_at=datetime.fromtimestamp(finished, UTC) if finished else None,
        reason="BackoffLimitExceeded" if sub["phase"] == "failed" else "",
        message=sub.get("message", ""),
        exit_code=sub.get("exit_code"),
    )


def remove_submitter_files(log: Path) -> None:
    """The submitter's log and exit files; the directory too once nothing else is in it
    (a RayCluster of the same name keeps its node logs there)."""
    for path in [log, *log.parent.glob("submitter-*")]:
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        log.parent.rmdir()


def _exit_code(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return -1  # killed before it could write one
