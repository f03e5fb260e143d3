"""Turn a Ray cluster-launcher config (``ray up`` YAML) into a KubeRay ``RayCluster``.

People arrive with launcher YAML written for EC2, GCP and the like. Most of what it says
about *Ray* (node types, their resources, min/max counts, autoscaler knobs) has a direct
RayCluster equivalent, while everything about *machines* (``node_config``, ``auth``, setup
commands, ``provider``) has none: a pod template plays that role. The conversion carries
over the first kind, and for the second kind says in plain sentences what was left behind
so the user can decide how to replace it, rather than guessing pod fields for them.

This is the entry point; the rooms behind it are ``launcher_fields`` (reading and checking
the launcher's values), ``launcher_converter`` (node types to groups, the notes) and
``launcher_resources`` (resources, labels and the pod template as KubeRay spells them).

The output is a plain dict, camelCase, shaped the way a user would write the resource by
hand, so it can be dumped as YAML or handed to the rest of rayplane unchanged. Nothing here
imports ``ray``: the installed Ray version is read from package metadata so that importing
``rayplane.api`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from rayplane.api.launcher_converter import LauncherConverter
from rayplane.api.launcher_fields import ConversionError, load, substitute

__all__ = [
    "Conversion",
    "ConversionError",
    "convert_cluster_launcher",
    "installed_ray_version",
]

#: Used when Ray's package metadata cannot be read; it matches the ``ray==2.60.*`` pin in
#: pyproject.toml so a converted cluster still names an image that exists.
FALLBACK_RAY_VERSION = "2.60.0"


@dataclass(frozen=True)
class Conversion:
    """The result of a conversion.

    ``resource`` is the RayCluster; ``notes`` are sentences about launcher fields that were
    not carried over or were translated approximately, each naming the field's path;
    ``unset_variables`` names every ``${VAR}``/``$VAR`` placeholder the environment did not
    define (left verbatim in the output, so the user can see and fix it).
    """

    resource: dict[str, Any]
    notes: list[str]
    unset_variables: list[str]


def installed_ray_version() -> str:
    """The installed Ray's version, without importing Ray (which takes seconds).

    The converted cluster runs the same Ray as this control plane, so that jobs and the
    autoscaler behave the way rayplane was tested against.
    """
    try:
        return metadata.version("ray")
    except metadata.PackageNotFoundError:
        return FALLBACK_RAY_VERSION


def convert_cluster_launcher(
    text_or_dict: str | Mapping[str, Any], env: Mapping[str, str]
) -> Conversion:
    """Convert launcher YAML text (or an already-parsed mapping) into a RayCluster.

    Placeholders are substituted from ``env`` first, the way the launcher docs' ``envsubst``
    workflows do, so every later check sees the values the user meant. Substitution works on
    parsed string values, so a value that is only a placeholder stays a string; integer
    fields therefore also accept strings of digits.
    """
    document = load(text_or_dict)
    unset: list[str] = []
    substituted = substitute(document, env, unset)
    assert isinstance(substituted, dict)
    converter = LauncherConverter(substituted, installed_ray_version())
    resource = converter.convert()
    # A head type that also launches workers is visited twice; say each thing once.
    notes = list(dict.fromkeys(converter.notes))
    return Conversion(resource=resource, notes=notes, unset_variables=unset)
