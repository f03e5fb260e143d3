"""The `rayplane` command: kubectl's verbs and flags over rayplane's runtimes.

The CLI stays thin: it reads files, calls the api / runtime layers and prints. Exit codes
follow one rule everywhere: 0 done, 1 the input or the resource failed, 2 unusable input.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from rayplane import __version__
from rayplane.api.configdata import check, is_config_kind
from rayplane.api.convert import ConversionError, convert_cluster_launcher, installed_ray_version
from rayplane.api.findings import Finding
from rayplane.api.validation import KINDS, FeatureGates, validate
from rayplane.cli.documents import load_or_exit
from rayplane.cli.gates import resolve_gates
from rayplane.cli.output import dump, err, out, print_findings, safe
from rayplane.settings import SettingsError

app = typer.Typer(
    name="rayplane",
    help="Run KubeRay's RayCluster, RayJob and RayService on this machine or on Kubernetes.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

Files = Annotated[
    list[str],
    typer.Option("-f", "--filename", help="File, directory or - (stdin) with the resources."),
]
OutputFormat = Annotated[str, typer.Option("-o", "--output", help="yaml or json.")]
Gates = Annotated[
    str, typer.Option("--feature-gates", help="KubeRay feature gates, e.g. RayCronJob=true.")
]


def _gates(text: str) -> FeatureGates:
    return resolve_gates(text)


def _check_format(fmt: str) -> None:
    if fmt not in ("yaml", "json"):
        err.print(f"-o {fmt}: unsupported output format; use yaml or json.")
        raise typer.Exit(2)


@app.command("validate")
def validate_cmd(
    filename: Files,
    output: Annotated[str, typer.Option("-o", "--output", help="text or json.")] = "text",
    feature_gates: Gates = "",
) -> None:
    """Check resources against KubeRay's rules; report every problem with its field path."""
    gates = _gates(feature_gates)
    docs = load_or_exit(filename)
    failed = False
    results: list[dict[str, object]] = []
    for doc in docs:
        if is_config_kind(doc.raw):
            # Secrets and ConfigMaps are stored by the local runtime for valueFrom/envFrom.
            findings = check(doc.raw)
            failed = failed or bool(findings.errors)
            _print_result(doc.where, doc.kind, doc.name, findings.items, output, results)
            continue
        if (
            doc.kind
            and doc.kind not in KINDS
            and isinstance(doc.raw, dict)
            and not str(doc.raw.get("apiVersion", "")).startswith("ray.io")
        ):
            results.append(
                {
                    "source": doc.where,
                    "kind": doc.kind,
                    "name": doc.name,
                    "valid": None,
                    "skipped": "not a ray.io kind",
                }
            )
            if output == "text":
                err.print(f"- {doc.kind}/{doc.name} ({doc.where}): skipped, not a ray.io kind")
            continue
        report = validate(doc.raw, gates)
        failed = failed or not report.ok
        _print_result(
            doc.where, report.kind, report.name, report.findings, output, results, report.ok
        )
    if output == "json":
        out.print_json(json.dumps(results))
    raise typer.Exit(1 if failed else 0)


def _print_result(
    where: str,
    kind: str,
    name: str,
    findings: list[Finding],
    output: str,
    results: list[dict[str, object]],
    ok: bool | None = None,
) -> None:
    """One document's outcome: a text line with its findings, or a JSON result entry."""
    errors = [f for f in findings if f.severity == "error"]
    ok = not errors if ok is None else ok
    results.append(
        {
            "source": where,
            "kind": kind,
            "name": name,
            "valid": ok,
            "findings": [f.as_dict() for f in findings],
        }
    )
    if output != "text":
        return
    label = f"{kind or '?'}/{name or '?'} ({where})"
    if ok:
        out.print(f"[green]valid[/green] {label}")
    else:
        count = len(errors)
        err.print(f"[red]invalid[/red] {label}: {count} error{'s' * (count != 1)}")
    print_findings(findings)


@app.command("convert")
def convert_cmd(
    file: Annotated[str, typer.Argument(help="Ray cluster-launcher YAML (ray up), or -.")],
    output: OutputFormat = "yaml",
    namespace: Annotated[
        str | None, typer.Option("-n", "--namespace", help="Namespace to set.")
    ] = None,
) -> None:
    """Turn a Ray cluster-launcher config (ray up) into a RayCluster."""
    _check_format(output)
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        err.print(f"{file}: cannot read: {exc.strerror or exc}")
        raise typer.Exit(2) from exc
    try:
        result = convert_cluster_launcher(text, os.environ)
    except ConversionError as exc:
        err.print(f"{file}: {exc}")
        raise typer.Exit(1) from exc
    resource = result.resource
    if namespace:
        resource.setdefault("metadata", {})["namespace"] = namespace
    sys.stdout.write(dump([resource], output))
    for name in result.unset_variables:
        err.print(
            f"[yellow]warning[/yellow] ${{{name}}} is not set in the environment; "
            "it was left as written."
        )
    for note in result.notes:
        err.print(f"note: {note}")


@app.command("crds")
def crds_cmd() -> None:
    """Print the ray.io CRDs, v1 stored and v1alpha1 served as KubeRay 1.7 does (kubectl apply)."""
    from rayplane.api.crds import render_crds_yaml

    sys.stdout.write(render_crds_yaml())


@app.command("version")
def version_cmd(output: Annotated[str, typer.Option("-o", "--output")] = "text") -> None:
    """Print rayplane's version, the Ray it runs, and the KubeRay API it speaks."""
    info = {
        "rayplane": __version__,
        "ray": installed_ray_version(),
        "api": "ray.io/v1 (KubeRay v1.4-v1.7)",
        "python": sys.version.split()[0],
    }
    if output == "json":
        out.print_json(json.dumps(info))
        return
    for key, value in info.items():
        out.print(f"{key}: {value}")


def run() -> None:
    """Console-script entry point. A setting that cannot be read (an environment variable
    any verb may load) ends the command with its one-line reason, not a traceback."""
    try:
        app()
    except SettingsError as exc:
        err.print(f"rayplane: {safe(exc)}")
        sys.exit(2)


def _register() -> None:
    from rayplane.cli import apply_cmd, delete_cmd, describe, get_cmd, operator_cmd, ops, render_cmd
    from rayplane.cli.completion import completion_cmd
    from rayplane.cli.create_cmd import create_app
    from rayplane.cli.ray_envs_cmd import ray_envs_app
    from rayplane.cli.scale_cmd import scale_app

    app.command("apply")(apply_cmd.apply_cmd)
    app.command("get")(get_cmd.get_cmd)
    app.command("describe")(describe.describe_cmd)
    app.command("delete")(delete_cmd.delete_cmd)
    app.command("logs")(ops.logs_cmd)
    app.command("dashboard")(ops.dashboard_cmd)
    app.command("render")(render_cmd.render_cmd)
    app.command("operator", context_settings=operator_cmd.OPERATOR_CONTEXT)(
        operator_cmd.operator_cmd
    )
    app.add_typer(ops.controller_app, name="controller")
    app.add_typer(create_app, name="create")
    app.add_typer(scale_app, name="scale")
    app.command("completion")(completion_cmd)
    app.add_typer(ray_envs_app, name="ray-envs")
    _register_observability()


def _register_observability() -> None:
    from rayplane.cli.metrics_cmd import metrics_app
    from rayplane.cli.top_cmd import top_cmd

    app.add_typer(metrics_app, name="metrics")
    app.command("top")(top_cmd)


def _register_driver_verbs() -> None:
    from rayplane.cli import connect_cmd, job_cmd, session_cmd

    app.add_typer(job_cmd.job_app, name="job")
    app.command("connect")(connect_cmd.connect_cmd)
    app.command("run")(connect_cmd.run_cmd)
    app.command("session")(session_cmd.session_cmd)


_register()
_register_driver_verbs()
