"""KubeRay's rules for a RayCluster's head and worker groups: templates, rayStartParams,
resources, labels, replica counts (validation.go's group checks)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

from rayplane.api.common import MAX_INT32
from rayplane.api.findings import Findings, show
from rayplane.api.k8s import Container, PodTemplateSpec
from rayplane.api.quantity import QuantityError, is_quantity, parse_quantity
from rayplane.api.raycluster import HeadGroupSpec, RayClusterSpec, WorkerGroupSpec
from rayplane.api.validation.gates import FeatureGates
from rayplane.api.validation.head import autoscaler_v2
from rayplane.api.validation.meta import check_template_meta
from rayplane.api.validation.names import (
    label_key_problem,
    label_value_problem,
    version_problem,
)
from rayplane.api.validation.paths import join

# What KubeRay's generated `ray start --KEY=VALUE` command takes as a key.
_FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# rayStartParams that collide with the group-level `resources` field.
_RESOURCE_PARAMS = ("num-cpus", "num-gpus", "memory", "resources")


def _containers(template: PodTemplateSpec) -> Iterable[tuple[int, Container]]:
    return enumerate(template.spec.containers)


def _check_template(template: PodTemplateSpec, path: str, out: Findings, what: str) -> None:
    check_template_meta(template.metadata, join(path, "metadata"), out)
    cpath = join(join(path, "spec"), "containers")
    if not template.spec.containers:
        out.error(
            cpath,
            f"the {what} pod template has no container; add one that runs the Ray image, e.g. "
            f"containers: [{{name: ray-{what}, image: rayproject/ray:2.60.0}}].",
            [],
        )
    for index, container in _containers(template):
        for section in ("limits", "requests"):
            values = getattr(container.resources, section, None) if container.resources else None
            for key, value in (values or {}).items():
                rpath = join(join(join(join(cpath, index), "resources"), section), key)
                _check_quantity(value, rpath, out)


def _check_param_key(key: str, value: str, path: str, out: Findings) -> None:
    """A key becomes `--KEY=VALUE` of `ray start`, unquoted in KubeRay's shell command, so
    it must be a plain flag name; anything else smuggles in other flags or shell words."""
    if _FLAG_NAME.match(key):
        return
    name, equals, rest = key.partition("=")
    stripped = name.strip().lstrip("-").strip()
    if equals and _FLAG_NAME.match(stripped):
        fix = f"write it as {stripped}: {show(rest)}"
    elif _FLAG_NAME.match(stripped):
        fix = f"drop the dashes and spaces: {stripped}: {show(value)}"
    else:
        fix = "use the flag's name without dashes, e.g. num-cpus or dashboard-host"
    out.error(
        path,
        f"key {show(key)} is not a `ray start` flag name (lowercase letters, digits and "
        f"'-', not starting with '-'); {fix}.",
        key,
        "^[a-z0-9][a-z0-9-]*$",
    )


def _check_quantity(value: object, path: str, out: Findings) -> None:
    """A Kubernetes quantity that is not negative (the API server refuses negative pod
    resources, and Ray a negative --num-cpus)."""
    try:
        parsed = parse_quantity(value)  # type: ignore[arg-type]
    except QuantityError as exc:
        out.error(
            path,
            f"{show(value)} is not a Kubernetes quantity{_reason(exc)}.",
            value,
            "a number with an optional suffix, e.g. 2, 500m, 4Gi, 1e3",
        )
        return
    if parsed < 0:
        out.error(path, f"{show(value)} is negative; a resource amount must be 0 or more.", value)


def _reason(exc: QuantityError) -> str:
    """The specific reason parse_quantity gave ("it must be a finite number"), if any."""
    _, marker, reason = str(exc).partition("quantity: ")
    return f": {reason}" if marker else ""


def _check_params_and_resources(
    params: dict[str, str],
    resources: dict[str, str] | None,
    labels: dict[str, str] | None,
    path: str,
    out: Findings,
) -> None:
    ppath = join(path, "rayStartParams")
    for key, value in params.items():
        _check_param_key(key, value, join(ppath, key), out)
    for key in ("num-cpus", "num-gpus", "memory"):
        if key in params and not is_quantity(params[key]):
            # KubeRay passes it on; `ray start` then fails. Said here, not dropped silently.
            out.warn(
                join(ppath, key),
                f"{show(params[key])} is not a number; `ray start --{key}` will refuse it, "
                "and rayplane counts the group's resource as unset.",
                params[key],
            )
    if resources:
        mixed = [key for key in _RESOURCE_PARAMS if params.get(key)]
        for key in mixed:
            out.error(
                join(ppath, key),
                f"sets {key} while the group also sets `resources`; KubeRay refuses both. "
                f"Move it into {join(path, 'resources')}.",
                params[key],
            )
        for key, value in resources.items():
            _check_quantity(value, join(join(path, "resources"), key), out)
    if "labels" in params:
        out.error(
            join(ppath, "labels"),
            f"rayStartParams.labels is not allowed; set labels in {join(path, 'labels')} instead "
            "(a map of key: value).",
            params["labels"],
        )
    if "resources" in params:
        _check_resources_param(params["resources"], join(ppath, "resources"), out)
    for key, value in (labels or {}).items():
        problem = label_key_problem(key)
        if problem:
            out.error(join(join(path, "labels"), key), f"label key '{key}' {problem}.", key)
        problem = label_value_problem(value)
        if problem:
            out.error(join(join(path, "labels"), key), f"label value '{value}' {problem}.", value)


def _check_resources_param(text: str, path: str, out: Findings) -> None:
    """rayStartParams.resources must be JSON of numbers, possibly wrapped in quotes."""
    candidate = text.strip()
    if len(candidate) >= 2 and candidate[0] == candidate[-1] and candidate[0] in "'\"":
        candidate = candidate[1:-1].replace('\\"', '"')
    try:
        parsed = json.loads(candidate)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in parsed.values()
    ):
        out.error(
            path,
            f"{text!r} is not a JSON map of resource names to numbers.",
            text,
            '\'"{\\"Graviton\\": 1}"\' as in KubeRay samples',
        )


def check_head(head: HeadGroupSpec, path: str, out: Findings) -> None:
    _check_template(head.template, join(path, "template"), out, "head")
    if head.head_service is not None:
        check_template_meta(
            head.head_service.metadata, join(join(path, "headService"), "metadata"), out
        )
    _check_params_and_resources(head.ray_start_params, head.resources, head.labels, path, out)


def check_groups(spec: RayClusterSpec, path: str, out: Findings, gates: FeatureGates) -> None:
    seen: dict[str, int] = {}
    v2 = autoscaler_v2(spec)
    for index, group in enumerate(spec.worker_group_specs):
        gpath = join(join(path, "workerGroupSpecs"), index)
        _check_group(spec, group, gpath, out, gates, v2)
        if group.group_name:
            if group.group_name in seen:
                out.error(
                    join(gpath, "groupName"),
                    f"'{group.group_name}' is already the name of workerGroupSpecs"
                    f"[{seen[group.group_name]}]; worker group names must be unique.",
                    group.group_name,
                )
            seen.setdefault(group.group_name, index)


def _check_group(
    spec: RayClusterSpec,
    group: WorkerGroupSpec,
    path: str,
    out: Findings,
    gates: FeatureGates,
    v2: bool,
) -> None:
    if not group.group_name:
        out.error(
            join(path, "groupName"),
            "is required: every worker group needs a name (e.g. groupName: workers).",
        )
    _check_template(group.template, join(path, "template"), out, "worker")
    _check_params_and_resources(group.ray_start_params, group.resources, group.labels, path, out)
    for field, value in (
        ("replicas", group.replicas),
        ("minReplicas", group.min_replicas),
        ("maxReplicas", group.max_replicas),
    ):
        if value is not None and value < 0:
            out.error(join(path, field), f"is {value}; it must be 0 or more.", value, ">= 0")
    if group.num_of_hosts < 1:
        out.error(
            join(path, "numOfHosts"),
            f"is {group.num_of_hosts}; it must be 1 or more.",
            group.num_of_hosts,
            ">= 1",
        )
    if (
        group.min_replicas is not None
        and group.max_replicas is not None
        and group.min_replicas > group.max_replicas
    ):
        out.error(
            join(path, "minReplicas"),
            f"is {group.min_replicas}, more than maxReplicas {group.max_replicas}; "
            "minReplicas must not exceed maxReplicas.",
            group.min_replicas,
        )
    if not spec.autoscaling and (group.min_replicas is None or group.max_replicas is None):
        missing = [
            n
            for n, v in (("minReplicas", group.min_replicas), ("maxReplicas", group.max_replicas))
            if v is None
        ]
        out.warn(
            path,
            f"{' and '.join(missing)} not set while autoscaling is off; KubeRay's defaults "
            f"(minReplicas 0, maxReplicas {MAX_INT32}) apply. Set them to say what you mean.",
        )
    if group.idle_timeout_seconds is not None:
        if group.idle_timeout_seconds < 0:
            out.error(
                join(path, "idleTimeoutSeconds"),
                f"is {group.idle_timeout_seconds}; it must be 0 or more.",
                group.idle_timeout_seconds,
                ">= 0",
            )
        if not v2:
            out.error(
                join(path, "idleTimeoutSeconds"),
                "is set, but a per-group idle timeout needs autoscaler v2; set "
                "autoscalerOptions.version: v2 (with enableInTreeAutoscaling: true).",
                group.idle_timeout_seconds,
            )
    # KubeRay defaults priority to 0 and only checks a non-zero priority.
    if group.priority:
        if not v2:
            out.error(
                join(path, "priority"),
                "needs autoscaler v2; set autoscalerOptions."
                "version: v2 (with enableInTreeAutoscaling: true).",
                group.priority,
            )
        problem = version_problem(spec.ray_version, (2, 56))
        if problem:
            out.error(join(path, "priority"), f"needs Ray 2.56 or newer; {problem}", group.priority)
    if group.suspend:
        if not gates.RayJobDeletionPolicy:
            out.error(
                join(path, "suspend"),
                "needs the RayJobDeletionPolicy feature gate. "
                + gates.hint("RayJobDeletionPolicy"),
                True,
            )
        if spec.autoscaling:
            out.error(
                join(path, "suspend"),
                "a worker group cannot be suspended while "
                "enableInTreeAutoscaling is true; the autoscaler owns its size.",
                True,
            )
    if v2 and spec.autoscaling:
        policy = group.template.spec.restart_policy
        if policy not in (None, "", "Never"):
            out.error(
                join(join(join(path, "template"), "spec"), "restartPolicy"),
                f"is {policy}; autoscaler v2 needs Never (or unset).",
                policy,
                "Never",
            )
