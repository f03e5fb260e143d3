"""The conversion itself: a launcher config's node types become a RayCluster's groups.

One :class:`LauncherConverter` per conversion walks the substituted document in document
order (head, then each worker type) and collects a note for everything it could not carry
over or had to translate approximately.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rayplane.api.launcher_fields import (
    DROPPED_GLOBAL_FIELDS,
    DROPPED_NODE_TYPE_FIELDS,
    KNOWN_GLOBAL_FIELDS,
    KNOWN_NODE_TYPE_FIELDS,
    MAX_CLUSTER_NAME_LENGTH,
    ConversionError,
    describe_dropped,
    dns1035_name,
    int_field,
    is_empty,
    kind,
    mapping_field,
    number_field,
    were,
)
from rayplane.api.launcher_resources import node_labels, pod_template, split_resources

#: The launcher's global ``max_workers`` default (``autoscaler/aws/defaults.yaml`` and the
#: other providers' defaults); a node type without its own ``max_workers`` inherits it.
DEFAULT_GLOBAL_MAX_WORKERS = 2


class LauncherConverter:
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
            provider = mapping_field(provider, "provider")
            if "namespace" in provider:
                namespace = provider["namespace"]
                if not isinstance(namespace, str) or not namespace:
                    raise ConversionError(
                        f"provider.namespace must be a non-empty string, not {kind(namespace)}."
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
        raw = mapping_field(self.config["available_node_types"], "available_node_types")
        if not raw:
            raise ConversionError("available_node_types must name at least one node type.")
        node_types: dict[str, dict[str, Any]] = {}
        for name, body in raw.items():
            path = f"available_node_types.{name}"
            node_type = mapping_field(body, path)
            if "resources" not in node_type:
                raise ConversionError(f"{path}.resources is missing.")
            for key in node_type:
                if key not in KNOWN_NODE_TYPE_FIELDS:
                    self.notes.append(
                        f"{path}.{key} is not a cluster-launcher node type field; it was ignored."
                    )
            node_types[name] = node_type
        for key in self.config:
            if key not in KNOWN_GLOBAL_FIELDS:
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
        return int_field(self.config["max_workers"], "max_workers")

    def _cluster_name(self) -> str:
        if "cluster_name" not in self.config:
            raise ConversionError("cluster_name is missing; a RayCluster needs a name.")
        raw = self.config["cluster_name"]
        if not isinstance(raw, str) or not raw.strip():
            raise ConversionError(f"cluster_name must be a non-empty string, not {kind(raw)}.")
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
            minutes = number_field(self.config["idle_timeout_minutes"], "idle_timeout_minutes")
            seconds = math.ceil(minutes * 60)
            options["idleTimeoutSeconds"] = seconds
            if seconds != minutes * 60:
                self.notes.append(
                    f"idle_timeout_minutes {minutes:g} was rounded up to "
                    f"autoscalerOptions.idleTimeoutSeconds {seconds}: KubeRay takes whole seconds."
                )
        if "upscaling_speed" in self.config:
            speed = number_field(self.config["upscaling_speed"], "upscaling_speed")
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
                    f"provider{describe_dropped(provider)} was not carried over"
                    f"{' apart from its namespace' if 'namespace' in provider else ''}: "
                    "KubeRay creates pods itself."
                )
        for key, reason in DROPPED_GLOBAL_FIELDS.items():
            if key in self.config and not is_empty(self.config[key]):
                self.notes.append(
                    f"{key}{describe_dropped(self.config[key])} "
                    f"{were(self.config[key])} not carried over: {reason}."
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
        max_workers = int_field(node_type.get("max_workers", 0), f"{path}.max_workers")
        if max_workers > 0:
            self.notes.append(
                f"{path}.max_workers is {max_workers}, so besides the head a worker group "
                f"{name!r} was created for workers of the head node type."
            )
            return max_workers
        for key in ("min_workers", "idle_timeout_s", "priority"):
            if key in node_type and not is_empty(node_type[key]) and node_type[key] != 0:
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
        min_workers = int_field(node_type.get("min_workers", 0), f"{path}.min_workers")
        if head_max is not None:
            max_workers = head_max
        else:
            max_workers = int_field(node_type.get("max_workers", global_max), f"{path}.max_workers")
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
            seconds = number_field(node_type["idle_timeout_s"], f"{path}.idle_timeout_s")
            group["idleTimeoutSeconds"] = math.ceil(seconds)
            if group["idleTimeoutSeconds"] != seconds:
                self.notes.append(
                    f"{path}.idle_timeout_s {seconds:g} was rounded up to idleTimeoutSeconds "
                    f"{group['idleTimeoutSeconds']}: KubeRay takes whole seconds."
                )
        if "priority" in node_type:
            group["priority"] = int_field(node_type["priority"], f"{path}.priority")
        labels = node_labels(node_type, path)
        if labels:
            group["labels"] = labels
        start_params, container_resources = split_resources(node_type, path, self.notes)
        group["rayStartParams"] = start_params
        group["template"] = pod_template("ray-worker", self.image, container_resources)
        self._note_dropped_node_type_fields(node_type, path)
        return group

    def _head_group(self, name: str, node_type: Mapping[str, Any]) -> dict[str, Any]:
        path = f"available_node_types.{name}"
        start_params, container_resources = split_resources(node_type, path, self.notes)
        head: dict[str, Any] = {"rayStartParams": {"dashboard-host": "0.0.0.0", **start_params}}
        labels = node_labels(node_type, path)
        if labels:
            head["labels"] = labels
        head["template"] = pod_template("ray-head", self.image, container_resources)
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

    def _note_dropped_node_type_fields(self, node_type: Mapping[str, Any], path: str) -> None:
        for key, reason in DROPPED_NODE_TYPE_FIELDS.items():
            if key in node_type and not is_empty(node_type[key]):
                self.notes.append(
                    f"{path}.{key}{describe_dropped(node_type[key])} {were(node_type[key])} "
                    "not carried over: "
                    f"{reason}."
                )
