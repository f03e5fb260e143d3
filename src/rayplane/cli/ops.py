"""logs, dashboard and controller: operating what runs locally."""

from __future__ import annotations

import os
import time
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer

from rayplane.cli.kept_logs import job_attempt, kept_node_log, print_driver_log, say_where
from rayplane.cli.kinds import split_ref
from rayplane.cli.output import err, out
from rayplane.cli.resources import Namespace, client, dashboard_url
from rayplane.local.client import ControllerError
from rayplane.local.history import Attempt, History
from rayplane.local.serve_failures import LOG_NAME as SERVE_FAILURE_LOG
from rayplane.settings import SettingsError, load

controller_app = typer.Typer(
    help="Run or inspect the local controller.", no_args_is_help=True, rich_markup_mode=None
)


def _tail(path: Path, lines: int) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:]) if lines >= 0 else text


def logs_cmd(
    ref: Annotated[str, typer.Argument(help="raycluster/NAME, rayjob/NAME or rayservice/NAME")],
    node: Annotated[
        str | None,
        typer.Option("--node", help="A node, a group, or 'autoscaler' (default: the head)."),
    ] = None,
    follow: Annotated[bool, typer.Option("-f", "--follow")] = False,
    tail: Annotated[int, typer.Option("--tail", help="Lines to show; -1 for all.")] = 200,
    attempt: Annotated[
        int | None,
        typer.Option("--attempt", help="A RayJob's kept attempt (after its cluster is gone)."),
    ] = None,
    namespace: Namespace = "default",
) -> None:
    """Print a node's log (its `ray start` output) or a RayJob's driver log; -f follows.

    Once a RayJob's cluster is deleted, the logs its history kept are shown instead. For a
    RayService whose Serve apps failed, Serve's full messages (tracebacks); else, and with
    --node, the nodes of the cluster it brings up.
    """
    kind, name = split_ref(ref, "RayCluster")
    ctl = client()
    try:
        detail = ctl.get(kind, namespace, name)
    except ControllerError as exc:
        err.print(str(exc))
        raise typer.Exit(1) from exc
    history = History(ctl.settings.home)
    kept = None
    if detail is None and kind == "RayCluster":
        kept = history.for_cluster(namespace, name)
    elif detail is not None and kind == "RayJob":
        kept = job_attempt(history, detail, attempt)
    if kept is not None:
        _kept_logs(history, kept, node, tail, driver=kind == "RayJob")
        return
    if detail is None:
        err.print(f'{kind} "{name}" not found in namespace {namespace}')
        raise typer.Exit(1)
    if kind == "RayJob" and node is None:
        _job_logs(detail, follow)
        return
    nodes = (detail.get("local") or {}).get("nodes", [])
    autoscaler = (detail.get("local") or {}).get("autoscaler")
    if autoscaler:  # `--node autoscaler`: the local twin of the head pod's autoscaler container
        nodes = [*nodes, {"name": "autoscaler", "group": "", "kind": "", "log": autoscaler["log"]}]
    failures = (detail.get("local") or {}).get("serveFailureLog")
    if kind == "RayService" and node is None and failures:
        # What Serve said when its apps failed, in full; the nodes' logs are one --node away.
        shown = ", ".join(n["name"] for n in nodes) or "none"
        err.print(
            f"Serve failures of RayService {name} ({failures}); --node NODE for a node ({shown})"
        )
        path = Path(failures)
    else:
        path = _node_log(nodes, node, name)
    text = _tail(path, tail)
    if path.name == SERVE_FAILURE_LOG and "\n=== " in f"\n{text}":
        text = text[f"\n{text}".index("\n=== ") :]  # whole failures only, not half of one
    if text:
        out.print(text, markup=False, highlight=False)
    if not follow:
        return
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        try:
            while True:
                chunk = handle.read()
                if chunk:
                    out.print(chunk.decode("utf-8", "replace"), end="", markup=False)
                else:
                    time.sleep(0.3)
        except KeyboardInterrupt:
            return


def _node_log(nodes: list[dict[str, Any]], node: str | None, name: str) -> Path:
    """The log of the node (or group) asked for, by default the head's."""
    chosen = (
        [n for n in nodes if (n["name"] == node or n["group"] == node)]
        if node
        else [n for n in nodes if n["kind"] == "head"]
    )
    if not chosen:
        names = ", ".join(n["name"] for n in nodes) or "none"
        err.print(f"no node {node or '(head)'} in {name}; nodes: {names}")
        raise typer.Exit(1)
    return Path(chosen[0]["log"])


def _kept_logs(history: History, kept: Attempt, node: str | None, tail: int, driver: bool) -> None:
    """A deleted job cluster's logs from its RayJob's history; nothing more will come."""
    say_where(kept, history.attempts(kept.manifest["namespace"], kept.manifest["rayJob"]))
    if driver and node is None:
        print_driver_log(kept)
        return
    text = _tail(kept_node_log(kept, node), tail)
    if text:
        out.print(text, markup=False, highlight=False)


def _job_logs(detail: dict[str, Any], follow: bool) -> None:
    """A RayJob's logs are its Ray job's driver logs, as `ray job logs` shows them."""
    from rayplane.cli.jobwatch import follow as follow_job
    from rayplane.cli.jobwatch import job_logs
    from rayplane.clients.jobs_api import JobsClientError

    meta = detail["metadata"]
    if follow:
        ctl = client()
        code = follow_job(
            lambda: ctl.get("RayJob", meta["namespace"], meta["name"]),
            f"RayJob {meta['namespace']}/{meta['name']}",
            None,
        )
        raise typer.Exit(code)
    try:
        out.print(job_logs(detail), end="", markup=False, highlight=False)
    except JobsClientError as exc:
        err.print(f"no logs for RayJob {meta['name']}: {exc}")
        raise typer.Exit(1) from exc


def dashboard_cmd(
    name: Annotated[str, typer.Argument()],
    namespace: Namespace = "default",
    open_browser: Annotated[bool, typer.Option("--open", help="Open it in a browser.")] = False,
) -> None:
    """Print the Ray dashboard URL of a RayCluster."""
    try:
        detail = client().get("RayCluster", namespace, name)
    except ControllerError as exc:
        err.print(str(exc))
        raise typer.Exit(1) from exc
    url = dashboard_url((detail or {}).get("status") or {})
    if not url:
        err.print(f"RayCluster {namespace}/{name} has no dashboard yet")
        raise typer.Exit(1)
    out.print(url)
    auth = ((detail or {}).get("local") or {}).get("auth") or {}
    if auth.get("mode") == "token":  # on stderr: stdout stays the URL alone, for scripts
        err.print(
            f"the dashboard asks for the cluster's token: Secret {auth.get('secret')} key "
            f"{auth.get('key')} (rayplane get secret {auth.get('secret')} -n {namespace} -o yaml)"
        )
    if open_browser:
        webbrowser.open(url)


@controller_app.command("run")
def controller_run() -> None:
    """Run the controller in the foreground (apply starts one in the background)."""
    import logging

    from rayplane.local.controller import AlreadyRunning, Controller

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = load()
    except SettingsError as exc:
        raise SystemExit(str(exc)) from exc
    try:
        Controller(settings.local, settings.gates).run()
    except AlreadyRunning as exc:
        err.print(str(exc))
        raise typer.Exit(1) from exc


@controller_app.command("status")
def controller_status() -> None:
    """Say whether a controller runs for this RAYPLANE_HOME."""
    ctl = client()
    try:
        info = ctl.request("GET", "/healthz")
    except ControllerError as exc:
        out.print(f"not running ({ctl.settings.home})")
        raise typer.Exit(1) from exc
    out.print(f"running: pid {info['pid']}, version {info['version']}, home {info['home']}")
    out.print(f"metrics: {info.get('metrics') or 'not served (see the controller log)'}")


@controller_app.command("stop")
def controller_stop() -> None:
    """Stop the controller; Ray nodes keep running and are adopted by the next one."""
    ctl = client()
    try:
        ctl.request("POST", "/shutdown")
    except ControllerError:
        out.print("not running")
        return
    deadline = time.monotonic() + 30
    while ctl.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    out.print("stopped" if not ctl.alive() else "still running after 30s")
