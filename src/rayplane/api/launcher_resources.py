"""A launcher node type's ``resources`` and ``labels`` as KubeRay spells them.

CPU, GPU and memory become container resources (where KubeRay, Ray's autoscaler and the
Kubernetes scheduler all read them), the rest Ray custom resources in
``rayStartParams.resources``; each node type gets a minimal one-container pod template.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rayplane.api.launcher_fields import ConversionError, int_field, is_empty, kind, mapping_field

#: The Kubernetes extended resource name used for ``GPU``. The launcher never says which
#: vendor, and NVIDIA's device plugin is by far the most common, so the choice is noted.
GPU_RESOURCE_NAME = "nvidia.com/gpu"

# Characters that would break the escaped JSON string KubeRay puts into a bash command:
# Ray's parser drops every backslash, and bash expands ``$`` and backticks inside "...".
_UNSAFE_RESOURCE_NAME_CHARS = frozenset('"\\$`')


def kuberay_resources_param(custom: Mapping[str, int]) -> str:
    """Encode custom resources the way KubeRay samples write ``rayStartParams.resources``.

    The value is a JSON object wrapped in literal double quotes with its inner quotes
    backslash-escaped: ``"{\\"Intel\\": 1}"``. Both readers need that form: KubeRay pastes it
    into ``ray start --resources=...`` inside a bash command, where the shell removes the
    outer quotes and the escapes, and Ray's autoscaler (``_get_custom_resources``) strips the
    first and last character and every backslash before ``json.loads``.
    """
    return '"' + json.dumps(dict(custom)).replace('"', '\\"') + '"'


def node_labels(node_type: Mapping[str, Any], path: str) -> dict[str, str]:
    if is_empty(node_type.get("labels")):
        return {}
    labels = mapping_field(node_type["labels"], f"{path}.labels")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise ConversionError(f"{path}.labels.{key} must be a string, not {kind(value)}.")
    return labels


def split_resources(
    node_type: Mapping[str, Any], path: str, notes: list[str]
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Split launcher ``resources`` into rayStartParams and container resources, adding
    to *notes* what the user should know about the translation.

    CPU, GPU and memory go on the container, which is where KubeRay and Ray's autoscaler
    both read them and where Kubernetes schedules on them. A zero cannot be expressed as
    a container limit (a zero limit means "no limit"), so zeros, common for a head that
    should run no tasks, go to ``num-cpus``/``num-gpus``/``memory`` instead. Everything
    else is a Ray custom resource and goes to ``rayStartParams.resources``.
    """
    resources_path = f"{path}.resources"
    raw = mapping_field(node_type["resources"], resources_path)
    start_params: dict[str, str] = {}
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    custom: dict[str, int] = {}
    for key, value in raw.items():
        amount = int_field(value, f"{resources_path}.{key}")
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
                notes.append(
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
        notes.append(
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


def pod_template(
    container_name: str, image: str, resources: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """A minimal pod template: one Ray container, as in KubeRay's samples."""
    container: dict[str, Any] = {"name": container_name, "image": image}
    if resources:
        container["resources"] = resources
    return {"spec": {"containers": [container]}}
