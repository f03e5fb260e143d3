"""Turn a Ray cluster-launcher config (``ray up`` YAML) into a KubeRay ``RayCluster``.

People arrive with launcher YAML written for EC2, GCP and the like. Most of what it says
about *Ray* (node types, their resources, min/max counts, autoscaler knobs) has a direct
RayCluster equivalent, while everything about *machines* (``node_config``, ``auth``, setup
commands, ``provider``) has none: a pod template plays that role. This module carries over
the first kind, and for the second kind says in plain sentences what was left behind so
the user can decide how to replace it, rather than guessing pod fields for them.

The output is a plain dict, camelCase, shaped the way a user would write the resource by
hand, so it can be dumped as YAML or handed to the rest of rayplane unchanged. Nothing here
imports ``ray``: the installed Ray version is read from package metadata so that importing
``rayplane.api`` stays cheap.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import yaml

from rayplane.api.loading import safe_load
from rayplane.errors import RayplaneError

__all__ = [
    "Conversion",
    "ConversionError",
    "convert_cluster_launcher",
    "installed_ray_version",
]

#: Used when Ray's package metadata cannot be read; it matches the ``ray==2.60.*`` pin in
#: pyproject.toml so a converted cluster still names an image that exists.
FALLBACK_RAY_VERSION = "2.60.0"

#: KubeRay's validation limit for RayCluster names: child objects append suffixes such as
#: ``-head-svc``, so the name itself must stay shorter than a full 63-character label.
MAX_CLUSTER_NAME_LENGTH = 53

#: The launcher's global ``max_workers`` default (``autoscaler/aws/defaults.yaml`` and the
#: other providers' defaults); a node type without its own ``max_workers`` inherits it.
DEFAULT_GLOBAL_MAX_WORKERS = 2

#: The Kubernetes extended resource name used for ``GPU``. The launcher never says which
#: vendor, and NVIDIA's device plugin is by far the most common, so the choice is noted.
GPU_RESOURCE_NAME = "nvidia.com/gpu"

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_DIGITS = re.compile(r"[0-9]+")
# Characters that would break the escaped JSON string KubeRay puts into a bash command:
# Ray's parser drops every backslash, and bash expands ``$`` and backticks inside "...".
_UNSAFE_RESOURCE_NAME_CHARS = frozenset('"\\$`')

# Global launcher fields that describe machines, not Ray, with the reason each has no
# RayCluster counterpart. Order is the order notes are emitted in.
_DROPPED_GLOBAL_FIELDS: dict[str, str] = {
    "auth": "pods are reached through the Kubernetes API, not over SSH",
    "docker": "each pod runs the container image named in its template",
    "file_mounts": "mount volumes in the pod template or use a runtime environment",
    "cluster_synced_files": "mount volumes in the pod template instead",
    "file_mounts_sync_continuously": "there is nothing to sync between pods",
    "rsync_exclude": "there is nothing to rsync to pods",
    "rsync_filter": "there is nothing to rsync to pods",
    "initialization_commands": "bake them into the container image",
    "setup_commands": "bake them into the container image or use a runtime environment",
    "head_setup_commands": "bake them into the head container image",
    "worker_setup_commands": "bake them into the worker container image",
    "head_start_ray_commands": "KubeRay generates `ray start` from rayStartParams",
    "worker_start_ray_commands": "KubeRay generates `ray start` from rayStartParams",
    "no_restart": "KubeRay restarts Ray by recreating pods",
    "metadata": "use the RayCluster's own metadata",
    "min_workers": "it is a legacy field; minimums are set per worker group",
}

_DROPPED_NODE_TYPE_FIELDS: dict[str, str] = {
    "node_config": "pick nodes with the pod template's nodeSelector, affinity or tolerations",
    "initialization_commands": "bake them into the container image",
    "worker_setup_commands": "bake them into the container image or use a runtime environment",
    "docker": "each pod runs the container image named in its template",
}

_KNOWN_GLOBAL_FIELDS = frozenset(
    {
        "cluster_name",
        "provider",
        "available_node_types",
        "head_node_type",
        "max_workers",
        "upscaling_speed",
        "idle_timeout_minutes",
        *_DROPPED_GLOBAL_FIELDS,
    }
)
_KNOWN_NODE_TYPE_FIELDS = frozenset(
    {
        "resources",
        "min_workers",
        "max_workers",
        "idle_timeout_s",
        "priority",
        "labels",
        *_DROPPED_NODE_TYPE_FIELDS,
    }
)


class ConversionError(RayplaneError, ValueError):
    """The input is not a cluster-launcher config this converter can read.

    A ``ValueError`` so callers that already treat bad user input that way need nothing new;
    the message always names the offending path (``available_node_types.x.resources``).
    """


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
    document = _load(text_or_dict)
    unset: list[str] = []
    substituted = _substitute(document, env, unset)
    assert isinstance(substituted, dict)
    converter = _Converter(substituted, installed_ray_version())
    resource = converter.convert()
    # A head type that also launches workers is visited twice; say each thing once.
    notes = list(dict.fromkeys(converter.notes))
    return Conversion(resource=resource, notes=notes, unset_variables=unset)


def _load(text_or_dict: str | Mapping[str, Any]) -> dict[str, Any]:
    """Parse YAML text, or copy a mapping, into a plain dict with string keys."""
    if isinstance(text_or_dict, str):
        try:
            loaded = safe_load(text_or_dict)
        except yaml.YAMLError as exc:
            raise ConversionError(f"The cluster-launcher config is not valid YAML: {exc}") from exc
    else:
        loaded = text_or_dict
    if not isinstance(loaded, Mapping):
        raise ConversionError(
            f"The cluster-launcher config must be a mapping at the top level, not {_kind(loaded)}."
        )
    return dict(loaded)


def _substitute(value: Any, env: Mapping[str, str], unset: list[str]) -> Any:
    """Replace placeholders in every string value, recording undefined names once each.

    Keys are left alone: launcher keys are fixed field names, and node type names become
    group names, which should not change with the environment.
    """
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name in env:
                return env[name]
            if name not in unset:
                unset.append(name)
            return match.group(0)

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, Mapping):
        return {key: _substitute(item, env, unset) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, env, unset) for item in value]
    return value


def _kind(value: Any) -> str:
    """A short description of a value's YAML type, for error messages."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _int_field(value: Any, path: str) -> int:
    """Read a non-negative integer, accepting digit strings left by substitution."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConversionError(f"{path} must be a non-negative integer, not {value}.")
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    hint = " (it still holds an unset placeholder)" if _has_placeholder(value) else ""
    raise ConversionError(f"{path} must be a non-negative integer, not {_kind(value)}{hint}.")


def _number_field(value: Any, path: str) -> float:
    """Read a non-negative number, accepting numeric strings left by substitution."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            hint = " (it still holds an unset placeholder)" if _has_placeholder(value) else ""
            raise ConversionError(f"{path} must be a number, not {_kind(value)}{hint}.") from None
    else:
        raise ConversionError(f"{path} must be a number, not {_kind(value)}.")
    if not math.isfinite(number) or number < 0:
        raise ConversionError(f"{path} must be a non-negative number, not {value!r}.")
    return number


def _has_placeholder(value: Any) -> bool:
    return isinstance(value, str) and _PLACEHOLDER.search(value) is not None


def _mapping_field(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConversionError(f"{path} must be a mapping, not {_kind(value)}.")
    for key in value:
        if not isinstance(key, str):
            raise ConversionError(f"{path} must have string keys, not {key!r}.")
    return dict(value)


def _describe_dropped(value: Any) -> str:
    """A short parenthetical saying what a dropped value held, so notes are concrete."""
    if isinstance(value, list):
        count = len(value)
        return f" ({count} command{'s' if count != 1 else ''})" if count else ""
    if isinstance(value, Mapping):
        if "InstanceType" in value:  # AWS
            return f" (InstanceType {value['InstanceType']})"
        if "machineType" in value:  # GCP
            return f" (machineType {value['machineType']})"
        if "type" in value and isinstance(value["type"], str):  # provider
            return f" (type {value['type']})"
        if "image" in value:  # docker
            return f" (image {value['image']})"
    return ""


def _were(value: Any) -> str:
    """Agreement for notes: a dropped command list "were", anything else "was"."""
    return "were" if isinstance(value, list) else "was"


def _is_empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


def kuberay_resources_param(custom: Mapping[str, int]) -> str:
    """Encode custom resources the way KubeRay samples write ``rayStartParams.resources``.

    The value is a JSON object wrapped in literal double quotes with its inner quotes
    backslash-escaped: ``"{\\"Intel\\": 1}"``. Both readers need that form: KubeRay pastes it
    into ``ray start --resources=...`` inside a bash command, where the shell removes the
    outer quotes and the escapes, and Ray's autoscaler (``_get_custom_resources``) strips the
    first and last character and every backslash before ``json.loads``.
    """
    return '"' + json.dumps(dict(custom)).replace('"', '\\"') + '"'


def dns1035_name(raw: str) -> str:
    """Make ``raw`` a valid RayCluster name: DNS-1035, at most 53 characters.

    Launcher cluster names are free strings (``Ray_On_AWS``); Kubernetes rejects anything
    but a lowercase letter followed by letters, digits and hyphens, ending in an
    alphanumeric. Invalid characters become hyphens so word boundaries survive.
    """
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower())
    name = re.sub(r"-{2,}", "-", name).strip("-")
    if not name:
        raise ConversionError(
            f"cluster_name {raw!r} has no letters or digits to build a Kubernetes name from."
        )
    if not name[0].isalpha():
        name = f"ray-{name}"
    return name[:MAX_CLUSTER_NAME_LENGTH].rstrip("-")


class _Converter:
    """One conversion's state: the substituted document, the Ray version and the notes."""

    def __init__(self, config: dict[str, Any], ray_version: str) -> None:
        self.config = config
        self.ray_version = ray_version
        self.image = f"rayproject/ray:{ray_version}"
        self.notes: list[str] = []

    def convert(self) -> dict[str, Any]:
        config = self.config
        node_types = self._node_types()
        head_type = self._head_type(node_types)
        global_max = self._global_max_workers()

        metadata_: dict[str, Any] = {"name": self._cluster_name()}
        provider = config.get("provider")
        if provider is not None:
            provider = _mapping_field(provider, "provider")
            if "namespace" in provider:
                namespace = provider["namespace"]
                if not isinstance(namespace, str) or not namespace:
                    raise ConversionError(
                        f"provider.namespace must be a non-empty string, not {_kind(namespace)}."
                    )
                metadata_["namespace"] = namespace

        # The head first, so notes read in document order: head, then each worker type.
        head_group = self._head_group(head_type, node_types[head_type])
        worker_types = [name for name in node_types if name != head_type]
        groups: list[dict[str, Any]] = []
        head_as_worker = self._head_worker_counts(head_type, node_types[head_type])
        if head_as_worker is not None:
            groups.append(
                self._worker_group(head_type, node_types[head_type], global_max, head_as_worker)
            )
        groups.extend(
            self._worker_group(name, node_types[name], global_max, None) for name in worker_types
        )
        autoscaling = any(group["maxReplicas"] > group["minReplicas"] for group in groups)

        spec: dict[str, Any] = {
            "rayVersion": self.ray_version,
            "enableInTreeAutoscaling": autoscaling,
        }
        autoscaler_options = self._autoscaler_options(autoscaling)
        if self._strip_v2_only_fields(groups, autoscaling):
            autoscaler_options["version"] = "v2"
        if autoscaler_options:
            spec["autoscalerOptions"] = autoscaler_options
        spec["headGroupSpec"] = head_group
        spec["workerGroupSpecs"] = groups

        self._note_dropped_global_fields(provider, global_max, groups)
        return {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": metadata_,
            "spec": spec,
        }

    # -- top level -------------------------------------------------------------------

    def _node_types(self) -> dict[str, dict[str, Any]]:
        if "available_node_types" not in self.config:
            raise ConversionError(
                "available_node_types is missing: this is not a cluster-launcher config "
                "with node types (legacy head_node/worker_nodes configs are not supported)."
            )
        raw = _mapping_field(self.config["available_node_types"], "available_node_types")
        if not raw:
            raise ConversionError("available_node_types must name at least one node type.")
        node_types: dict[str, dict[str, Any]] = {}
        for name, body in raw.items():
            path = f"available_node_types.{name}"
            node_type = _mapping_field(body, path)
            if "resources" not in node_type:
                raise ConversionError(f"{path}.resources is missing.")
            for key in node_type:
                if key not in _KNOWN_NODE_TYPE_FIELDS:
                    self.notes.append(
                        f"{path}.{key} is not a cluster-launcher node type field; it was ignored."
                    )
            node_types[name] = node_type
        for key in self.config:
            if key not in _KNOWN_GLOBAL_FIELDS:
                self.notes.append(f"{key} is not a cluster-launcher field; it was ignored.")
        return node_types

    def _head_type(self, node_types: Mapping[str, Any]) -> str:
        if "head_node_type" not in self.config:
            raise ConversionError(
                "head_node_type is missing: it must name the entry of available_node_types "
                "that runs the Ray head."
            )
        head_type = self.config["head_node_type"]
        if not isinstance(head_type, str) or head_type not in node_types:
            known = ", ".join(sorted(node_types))
            raise ConversionError(
                f"head_node_type {head_type!r} does not name a type in available_node_types "
                f"(which has: {known})."
            )
        return head_type

    def _global_max_workers(self) -> int:
        if "max_workers" not in self.config:
            return DEFAULT_GLOBAL_MAX_WORKERS
        return _int_field(self.config["max_workers"], "max_workers")

    def _cluster_name(self) -> str:
        if "cluster_name" not in self.config:
            raise ConversionError("cluster_name is missing; a RayCluster needs a name.")
        raw = self.config["cluster_name"]
        if not isinstance(raw, str) or not raw.strip():
            raise ConversionError(f"cluster_name must be a non-empty string, not {_kind(raw)}.")
        name = dns1035_name(raw)
        if name != raw:
            self.notes.append(
                f"cluster_name {raw!r} became metadata.name {name!r}: RayCluster names must be "
                f"DNS-1035 labels (lowercase letters, digits and '-') of at most "
                f"{MAX_CLUSTER_NAME_LENGTH} characters."
            )
        return name

    def _autoscaler_options(self, autoscaling: bool) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if "idle_timeout_minutes" in self.config:
            minutes = _number_field(self.config["idle_timeout_minutes"], "idle_timeout_minutes")
            seconds = math.ceil(minutes * 60)
            options["idleTimeoutSeconds"] = seconds
            if seconds != minutes * 60:
                self.notes.append(
                    f"idle_timeout_minutes {minutes:g} was rounded up to "
                    f"autoscalerOptions.idleTimeoutSeconds {seconds}: KubeRay takes whole seconds."
                )
        if "upscaling_speed" in self.config:
            speed = _number_field(self.config["upscaling_speed"], "upscaling_speed")
            mode = "Conservative" if speed <= 1 else "Default"
            options["upscalingMode"] = mode
            self.notes.append(
                f"upscaling_speed {speed:g} became autoscalerOptions.upscalingMode {mode}: "
                "KubeRay only offers Conservative (speed 1) or Default (no rate limit)."
            )
        missing = [
            key for key in ("idle_timeout_minutes", "upscaling_speed") if key not in self.config
        ]
        if autoscaling and missing:
            self.notes.append(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} unset: the "
                "launcher's defaults (5 minutes idle, upscaling speed 1) differ from KubeRay's "
                "(60 seconds idle, upscalingMode Default)."
            )
        return options

    def _note_dropped_global_fields(
        self, provider: dict[str, Any] | None, global_max: int, groups: list[dict[str, Any]]
    ) -> None:
        if provider:
            rest = {key: value for key, value in provider.items() if key != "namespace"}
            if rest:
                self.notes.append(
                    f"provider{_describe_dropped(provider)} was not carried over"
                    f"{' apart from its namespace' if 'namespace' in provider else ''}: "
                    "KubeRay creates pods itself."
                )
        for key, reason in _DROPPED_GLOBAL_FIELDS.items():
            if key in self.config and not _is_empty(self.config[key]):
                self.notes.append(
                    f"{key}{_describe_dropped(self.config[key])} "
                    f"{_were(self.config[key])} not carried over: {reason}."
                )
        if "max_workers" in self.config:
            total = sum(group["maxReplicas"] for group in groups)
            cap = (
                f"their sum, {total}, exceeds the launcher's cap"
                if total > global_max
                else f"their sum is {total}"
            )
            self.notes.append(
                f"max_workers ({global_max}) has no RayCluster field: each worker group is "
                f"capped only by its maxReplicas, and {cap}."
            )

    # -- node types ------------------------------------------------------------------

    def _head_worker_counts(self, name: str, node_type: Mapping[str, Any]) -> int | None:
        """The launcher may also launch *workers* of the head type if its max_workers > 0.

        Its default there is 0 (``fill_node_type_min_max_workers``), so only an explicit
        positive ``max_workers`` yields a worker group named after the head type.
        """
        path = f"available_node_types.{name}"
        max_workers = _int_field(node_type.get("max_workers", 0), f"{path}.max_workers")
        if max_workers > 0:
            self.notes.append(
                f"{path}.max_workers is {max_workers}, so besides the head a worker group "
                f"{name!r} was created for workers of the head node type."
            )
            return max_workers
        for key in ("min_workers", "idle_timeout_s", "priority"):
            if key in node_type and not _is_empty(node_type[key]) and node_type[key] != 0:
                self.notes.append(f"{path}.{key} was not carried over: the head is not a worker.")
        return None

    def _worker_group(
        self,
        name: str,
        node_type: Mapping[str, Any],
        global_max: int,
        head_max: int | None,
    ) -> dict[str, Any]:
        path = f"available_node_types.{name}"
        min_workers = _int_field(node_type.get("min_workers", 0), f"{path}.min_workers")
        if head_max is not None:
            max_workers = head_max
        else:
            max_workers = _int_field(
                node_type.get("max_workers", global_max), f"{path}.max_workers"
            )
        if min_workers > max_workers:
            raise ConversionError(
                f"{path}.min_workers ({min_workers}) is larger than its max_workers "
                f"({max_workers})."
            )
        group: dict[str, Any] = {
            "groupName": name,
            "replicas": min_workers,
            "minReplicas": min_workers,
            "maxReplicas": max_workers,
        }
        if node_type.get("idle_timeout_s") is not None:
            seconds = _number_field(node_type["idle_timeout_s"], f"{path}.idle_timeout_s")
            group["idleTimeoutSeconds"] = math.ceil(seconds)
            if group["idleTimeoutSeconds"] != seconds:
                self.notes.append(
                    f"{path}.idle_timeout_s {seconds:g} was rounded up to idleTimeoutSeconds "
                    f"{group['idleTimeoutSeconds']}: KubeRay takes whole seconds."
                )
        if "priority" in node_type:
            group["priority"] = _int_field(node_type["priority"], f"{path}.priority")
        labels = self._labels(node_type, path)
        if labels:
            group["labels"] = labels
        start_params, container_resources = self._resources(node_type, path)
        group["rayStartParams"] = start_params
        group["template"] = _pod_template("ray-worker", self.image, container_resources)
        self._note_dropped_node_type_fields(node_type, path)
        return group

    def _head_group(self, name: str, node_type: Mapping[str, Any]) -> dict[str, Any]:
        path = f"available_node_types.{name}"
        start_params, container_resources = self._resources(node_type, path)
        head: dict[str, Any] = {"rayStartParams": {"dashboard-host": "0.0.0.0", **start_params}}
        labels = self._labels(node_type, path)
        if labels:
            head["labels"] = labels
        head["template"] = _pod_template("ray-head", self.image, container_resources)
        self._note_dropped_node_type_fields(node_type, path)
        return head

    def _strip_v2_only_fields(self, groups: list[dict[str, Any]], autoscaling: bool) -> bool:
        """Keep per-group idleTimeoutSeconds/priority only where KubeRay accepts them.

        KubeRay's validation rejects both unless autoscaler v2 is selected, and without
        autoscaling they mean nothing. Returns whether any were kept (so v2 is required).
        """
        kept = False
        for group in groups:
            for field_name in ("idleTimeoutSeconds", "priority"):
                if field_name not in group:
                    continue
                if autoscaling:
                    kept = True
                    continue
                del group[field_name]
                launcher_key = (
                    "idle_timeout_s" if field_name == "idleTimeoutSeconds" else field_name
                )
                self.notes.append(
                    f"available_node_types.{group['groupName']}.{launcher_key} was not carried "
                    "over: no worker type autoscales (every min_workers equals max_workers)."
                )
        if kept:
            self.notes.append(
                "autoscalerOptions.version was set to v2: KubeRay accepts a worker group's "
                "idleTimeoutSeconds and priority only with autoscaler v2."
            )
        return kept

    def _labels(self, node_type: Mapping[str, Any], path: str) -> dict[str, str]:
        if _is_empty(node_type.get("labels")):
            return {}
        labels = _mapping_field(node_type["labels"], f"{path}.labels")
        for key, value in labels.items():
            if not isinstance(value, str):
                raise ConversionError(f"{path}.labels.{key} must be a string, not {_kind(value)}.")
        return labels

    def _resources(
        self, node_type: Mapping[str, Any], path: str
    ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """Split launcher ``resources`` into rayStartParams and container resources.

        CPU, GPU and memory go on the container, which is where KubeRay and Ray's autoscaler
        both read them and where Kubernetes schedules on them. A zero cannot be expressed as
        a container limit (a zero limit means "no limit"), so zeros, common for a head that
        should run no tasks, go to ``num-cpus``/``num-gpus``/``memory`` instead. Everything
        else is a Ray custom resource and goes to ``rayStartParams.resources``.
        """
        resources_path = f"{path}.resources"
        raw = _mapping_field(node_type["resources"], resources_path)
        start_params: dict[str, str] = {}
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        custom: dict[str, int] = {}
        for key, value in raw.items():
            amount = _int_field(value, f"{resources_path}.{key}")
            if key == "CPU":
                if amount == 0:
                    start_params["num-cpus"] = "0"
                else:
                    requests["cpu"] = limits["cpu"] = str(amount)
            elif key == "GPU":
                if amount == 0:
                    start_params["num-gpus"] = "0"
                else:
                    limits[GPU_RESOURCE_NAME] = str(amount)
                    self.notes.append(
                        f"{resources_path}.GPU became the container limit {GPU_RESOURCE_NAME}; "
                        "change it if the nodes use another device plugin."
                    )
            elif key == "memory":
                if amount == 0:
                    start_params["memory"] = "0"
                else:
                    limits["memory"] = str(amount)
            elif key == "object_store_memory":
                start_params["object-store-memory"] = str(amount)
            else:
                unsafe = sorted(_UNSAFE_RESOURCE_NAME_CHARS.intersection(key))
                if unsafe:
                    raise ConversionError(
                        f"{resources_path}.{key}: custom resource names cannot contain "
                        f"{' '.join(unsafe)} in KubeRay's rayStartParams.resources."
                    )
                custom[key] = amount
        if "CPU" not in raw:
            self.notes.append(
                f"{resources_path} has no CPU: the launcher filled it in from the instance "
                "type, but Ray's KubeRay autoscaler needs it; set the container's cpu."
            )
        if custom:
            start_params["resources"] = kuberay_resources_param(custom)
        container_resources: dict[str, dict[str, str]] = {}
        if requests:
            container_resources["requests"] = requests
        if limits:
            container_resources["limits"] = limits
        return start_params, container_resources

    def _note_dropped_node_type_fields(self, node_type: Mapping[str, Any], path: str) -> None:
        for key, reason in _DROPPED_NODE_TYPE_FIELDS.items():
            if key in node_type and not _is_empty(node_type[key]):
                self.notes.append(
                    f"{path}.{key}{_describe_dropped(node_type[key])} {_were(node_type[key])} "
                    "not carried over: "
                    f"{reason}."
                )


def _pod_template(
    container_name: str, image: str, resources: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """A minimal pod template: one Ray container, as in KubeRay's samples."""
    container: dict[str, Any] = {"name": container_name, "image": image}
    if resources:
        container["resources"] = resources
    return {"spec": {"containers": [container]}}
