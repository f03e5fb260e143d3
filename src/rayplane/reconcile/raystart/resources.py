"""Ray resources of a group: the `ray start` resource flags KubeRay derives from the group's
``resources`` field and container limits, and the resources the stock autoscaler computes.

Both read the same quantities with the same rounding (Go's Quantity.Value(), up), so a
group offers the same CPUs, memory, GPUs and custom resources on Kubernetes and locally.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal

from rayplane.api.k8s import Container, Quantity, ResourceRequirements
from rayplane.api.quantity import QuantityError, parse_quantity
from rayplane.api.raycluster import HeadGroupSpec, RayClusterSpec, WorkerGroupSpec
from rayplane.reconcile.raystart.shell import shell_word

# Container resource names that KubeRay turns into Ray custom resources.
ACCELERATORS = {"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"}

_MIG = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")


def ray_resources(spec: RayClusterSpec, group: WorkerGroupSpec | None) -> dict[str, int]:
    """The Ray resources a node of the group offers, as the stock autoscaler computes them.

    These are the rules of Ray's ``autoscaling_config._get_ray_resources_from_group_spec``
    (Ray 2.60), so that a local autoscaler config and the node types the KubeRay autoscaler
    derives agree: CPU = resources.CPU > num-cpus > cpu limit > cpu request (rounded up);
    GPU = resources.GPU > num-gpus > first limit-then-request key ending in "gpu";
    memory = resources.memory > memory param > memory limit > memory request; TPU from
    resources.TPU, the custom resources or google.com/tpu; custom resources from the
    ``resources`` field when set (exclusively), else from the ``resources`` param.

    Keys are left out when nothing sets them (Ray would detect them when the node starts;
    the stock autoscaler refuses a group without CPU). This differs from the `ray start`
    flags in one documented way: the autoscaler falls back to the memory *request* when
    there is no limit, while `ray start` gets no --memory then.
    """
    source: HeadGroupSpec | WorkerGroupSpec = spec.head_group_spec if group is None else group
    fields = source.resources or {}
    params = source.ray_start_params
    container = ray_container(source)
    limits: dict[str, Quantity] = {}
    requests: dict[str, Quantity] = {}
    if container is not None and container.resources is not None:
        limits = dict(container.resources.limits or {})
        requests = dict(container.resources.requests or {})

    def first(field: str, param: str, key: str) -> int | None:
        if field in fields:
            return _ceil(fields[field])
        if param in params:
            return _ceil(params[param])
        for found in (limits, requests):
            if key in found:
                return _ceil(found[key])
        return None

    resources: dict[str, int] = {}
    cpu = first("CPU", "num-cpus", "cpu")
    if cpu is not None:
        resources["CPU"] = cpu

    gpu: int | None = None
    if "GPU" in fields:
        gpu = _ceil(fields["GPU"])
    elif "num-gpus" in params:
        gpu = _ceil(params["num-gpus"])
    else:
        for key, value in [*limits.items(), *requests.items()]:
            amount = _ceil(value) if key.endswith("gpu") else None
            if amount:
                gpu = amount
                break
    if gpu is not None:
        resources["GPU"] = gpu

    custom: dict[str, int] = {}
    if fields:
        for key, value in fields.items():
            amount = _ceil(value) if key not in {"CPU", "GPU", "TPU", "memory"} else None
            if amount is not None:
                custom[key] = amount
    elif "resources" in params:
        parsed = _parse_resources_param(params["resources"])
        custom = {k: math.ceil(v) for k, v in parsed.items() if math.isfinite(v)}

    tpu: int | None = None
    if "TPU" in fields:
        tpu = _ceil(fields["TPU"])
    elif "TPU" in custom:
        tpu = custom["TPU"]
    else:
        for found in (limits, requests):
            amount = _ceil(found["google.com/tpu"]) if "google.com/tpu" in found else None
            if amount:
                tpu = amount
                break
    if tpu is not None and "TPU" not in custom:
        resources["TPU"] = tpu

    memory = first("memory", "memory", "memory")
    if memory is not None:
        resources["memory"] = memory
    resources.update(custom)
    return resources


def is_gpu_resource_key(key: str) -> bool:
    """KubeRay's IsGPUResourceKey: "...gpu" (nvidia.com/gpu) or an NVIDIA MIG slice."""
    return key.endswith("gpu") or _MIG.search(key) is not None


def ray_container(source: HeadGroupSpec | WorkerGroupSpec) -> Container | None:
    """Container 0 is the Ray container by KubeRay's convention (RayContainerIndex)."""
    containers = source.template.spec.containers
    return containers[0] if containers else None


def apply_group_resources(params: dict[str, str], resources: Mapping[str, str] | None) -> None:
    if not resources:
        return
    custom: dict[str, float] = {}
    for name in sorted(resources):  # sorted: Go's map order is random, ours is not
        try:
            value = parse_quantity(resources[name])
        except QuantityError:
            continue
        lowered = name.lower()
        if lowered == "cpu":
            params["num-cpus"] = str(math.ceil(value))
        elif lowered == "memory":
            params["memory"] = str(math.ceil(value))
        elif is_gpu_resource_key(lowered):
            params["num-gpus"] = str(math.ceil(value))
        else:
            custom[name] = float(value)
    if custom:
        params["resources"] = f"'{_go_json(custom)}'"


def apply_container_resources(params: dict[str, str], resources: ResourceRequirements) -> None:
    limits = resources.limits or {}
    requests = resources.requests or {}
    if "num-cpus" not in params:
        for found in (limits, requests):
            cpu = _nonzero(found.get("cpu"))
            if cpu is not None:
                params["num-cpus"] = str(math.ceil(cpu))
                break
    if "memory" not in params:
        memory = _nonzero(limits.get("memory"))
        if memory is not None:
            params["memory"] = str(math.ceil(memory))
    _apply_accelerators(params, limits)


def _apply_accelerators(params: dict[str, str], limits: Mapping[str, Quantity]) -> None:
    """num-gpus and the first TPU/Neuron limit (KubeRay's addWellKnownAcceleratorResources).

    KubeRay gives up on *all* accelerators, GPUs included, when the ``resources`` param is
    not JSON it can read (e.g. the escaped form from Ray's docs); we read that form too,
    and when even that fails we still derive num-gpus and only skip the merge.
    """
    if not limits:
        return
    resources: dict[str, float] | None
    try:
        resources = _parse_resources_param(params.get("resources"))
    except ValueError:
        resources = None
    accelerator_done = resources is None or any(name in resources for name in ACCELERATORS.values())
    for key in sorted(limits):
        value = parse_quantity(limits[key])
        if value == 0:
            continue
        if "num-gpus" not in params and is_gpu_resource_key(key):
            params["num-gpus"] = str(math.ceil(value))
        if not accelerator_done and resources is not None and key in ACCELERATORS:
            resources[ACCELERATORS[key]] = float(value)
            params["resources"] = f"'{_go_json(resources)}'"
            accelerator_done = True


# -- helpers -----------------------------------------------------------------------------


def _nonzero(value: Quantity | None) -> Decimal | None:
    if value is None:
        return None
    parsed = parse_quantity(value)
    return parsed if parsed != 0 else None


def _ceil(value: Quantity) -> int | None:
    """The rounded-up amount, or None for a value that is no quantity: an unchecked
    rayStartParams string such as num-cpus: "--foo", which `ray start` refuses itself."""
    try:
        return math.ceil(parse_quantity(value))
    except QuantityError:
        return None


def _parse_resources_param(text: str | None) -> dict[str, float]:
    """The ``resources`` param as a dict; accepts KubeRay's and Ray's documented spellings.

    ``'{"A": 1}'`` (KubeRay trims surrounding quotes) and ``'"{\\"A\\": 1}"'`` (Ray's docs,
    a shell-quoted JSON string). Raises ValueError for anything else.
    """
    if text is None:
        return {}
    candidates = [text.strip("'\"` "), shell_word(text, None)]
    for candidate in candidates:
        try:
            loaded = json.loads(candidate)
            if isinstance(loaded, str):
                loaded = json.loads(loaded)
        except ValueError:
            continue
        if isinstance(loaded, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in loaded.values()
        ):
            return {str(k): float(v) for k, v in loaded.items()}
    raise ValueError(f"rayStartParams resources {text!r} is not a JSON object of numbers")


def _go_json(values: Mapping[str, float]) -> str:
    """json.Marshal of a map[string]float64: sorted keys, no spaces, Go's float format."""
    items = (f"{json.dumps(k)}:{_go_float(values[k])}" for k in sorted(values))
    return "{" + ",".join(items) + "}"


def _go_float(value: float) -> str:
    """Go's encoding/json float64 format: 4 not 4.0, 0.5, 1e-7, 1e+21."""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return re.sub(r"e-0(\d)$", r"e-\1", repr(value))
    if value == int(value):
        return str(int(value))
    return format(Decimal(repr(value)), "f")
