"""Resource names the CLI accepts, kubectl-style: plural, singular, short name."""

from __future__ import annotations

import typer

from rayplane.cli.output import err

ALIASES = {
    "RayCluster": ("rayclusters", "raycluster", "rc"),
    "RayJob": ("rayjobs", "rayjob", "rj"),
    "RayService": ("rayservices", "rayservice", "rsvc"),
    "RayCronJob": ("raycronjobs", "raycronjob"),  # KubeRay's CRD gives it no short name
    # core/v1 objects the local runtime stores for valueFrom / envFrom
    "Secret": ("secrets", "secret"),
    "ConfigMap": ("configmaps", "configmap", "cm"),
}
_LOOKUP = {alias: kind for kind, names in ALIASES.items() for alias in (*names, kind.lower())}


def resolve(word: str) -> str:
    """The kind for *word*; exit 2 with the accepted names when it is none of them."""
    kind = _LOOKUP.get(word.lower())
    if kind is None:
        names = ", ".join(n for names in ALIASES.values() for n in names)
        err.print(f"unknown resource type {word!r}; use one of: {names}")
        raise typer.Exit(2)
    return kind


def split_ref(ref: str, default_kind: str | None = None) -> tuple[str, str]:
    """`raycluster/NAME` or NAME (with *default_kind*) -> (kind, name)."""
    if "/" in ref:
        word, name = ref.split("/", 1)
        return resolve(word), name
    if default_kind is None:
        err.print(f"{ref!r}: say which resource, e.g. raycluster/{ref}")
        raise typer.Exit(2)
    return default_kind, ref


def plural(kind: str) -> str:
    return ALIASES[kind][0]


def qualified(kind: str) -> str:
    """How kubectl names the type in `created`/`deleted` lines: raycluster.ray.io, secret."""
    singular = ALIASES[kind][1]
    return singular if kind in ("Secret", "ConfigMap") else f"{singular}.ray.io"
