"""`rayplane metrics up|down|status|dashboards`: Prometheus and dashboards for the local runtime.

Prometheus is the distribution's binary, run with a config and data under the home, on
127.0.0.1; see :mod:`rayplane.local.prometheus` for what it scrapes and how it is stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rayplane.cli.output import err, out, safe
from rayplane.cli.resources import client
from rayplane.local import dashboards, prometheus
from rayplane.local.client import ControllerError
from rayplane.local.metrics import controller_address
from rayplane.settings import load_local

metrics_app = typer.Typer(
    help="Prometheus for the local runtime's clusters, and Grafana dashboards.",
    no_args_is_help=True,
)


def _heads() -> list[tuple[str, Path]]:
    """(namespace/name, head temp dir) of every cluster whose head runs, from the controller."""
    ctl = client()
    try:
        found = []
        for doc in ctl.request("GET", "/resources", kind="RayCluster"):
            meta = doc.get("metadata") or {}
            detail = ctl.request(
                "GET", f"/resources/RayCluster/{meta.get('namespace')}/{meta.get('name')}"
            )
            for node in (detail.get("local") or {}).get("nodes") or []:
                if node.get("kind") == "head" and node.get("pid") and node.get("tempDir"):
                    found.append(
                        (f"{meta.get('namespace')}/{meta.get('name')}", Path(node["tempDir"]))
                    )
        return found
    except ControllerError:
        return []
    finally:
        ctl.close()


@metrics_app.command("up")
def up_cmd(
    port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Port on 127.0.0.1; 0: any free one (default: the last up's, else 9090 if free)",
        ),
    ] = None,
    scrape_interval: Annotated[
        float, typer.Option(min=1.0, max=3600.0, help="Seconds between scrapes")
    ] = 10.0,
) -> None:
    """Start Prometheus for this home's clusters and controller (no-op if it runs)."""
    home = load_local().home
    had_port = prometheus.chosen_port(home)
    try:
        found = prometheus.up(home, port=port, scrape_interval_s=scrape_interval)
    except prometheus.PrometheusError as exc:
        err.print(safe(exc))
        raise typer.Exit(1) from exc
    out.print(f"prometheus: {found.url} (pid {found.pid})")
    if controller_address(home) is None:
        out.print("  the controller is not running: its /metrics joins when it starts")
    if had_port != found.port and _heads():
        # Heads started before this port was chosen have no RAY_PROMETHEUS_HOST for it.
        out.print(
            "  clusters started before now keep their dashboard's own default Prometheus "
            "address; their metrics are scraped all the same"
        )


@metrics_app.command("down")
def down_cmd() -> None:
    """Stop the Prometheus `metrics up` started (only that process); its data is kept."""
    stopped = prometheus.down(load_local().home)
    out.print(f"stopped prometheus (pid {stopped.pid})" if stopped else "prometheus is not running")


@metrics_app.command("status")
def status_cmd() -> None:
    """Where Prometheus and the controller's /metrics are, and how many targets are up."""
    home = load_local().home
    address = controller_address(home)
    out.print(f"controller metrics: {f'http://{address}/metrics' if address else 'not served'}")
    found = prometheus.running(home)
    if found is None:
        out.print("prometheus: not running (rayplane metrics up)")
        raise typer.Exit(1)
    out.print(f"prometheus: {found.url} (pid {found.pid})")
    try:
        active = prometheus.targets(found)
    except Exception as exc:  # answering is what status reports
        out.print(f"  targets: unknown ({safe(exc)})")
        raise typer.Exit(1) from exc
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for target in active:
        labels = target.get("labels") or {}
        key = (str(labels.get("job", "")), str(labels.get("ray_io_cluster", "")))
        by_key.setdefault(key, []).append(target)
    for (job, cluster), items in sorted(by_key.items()):
        up = sum(1 for t in items if t.get("health") == "up")
        where = f" ray_io_cluster={cluster}" if cluster else ""
        out.print(f"  {job}{where}: {up}/{len(items)} targets up")


@metrics_app.command("dashboards")
def dashboards_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into")],
) -> None:
    """Export Ray's Grafana dashboards and rayplane's into a folder, for your Grafana."""
    written, origin = dashboards.export(_heads(), output)
    problems = [p for path in written for p in dashboards.check(path)]
    for path in written:
        out.print(str(path))
    out.print(f"Ray's dashboards: {origin}")
    out.print(
        "import each into Grafana and pick your Prometheus as the data source "
        "(rayplane metrics status shows its URL)"
    )
    if problems:
        for problem in problems:
            err.print(safe(problem))
        raise typer.Exit(1)
