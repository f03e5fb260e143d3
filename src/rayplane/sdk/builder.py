"""A RayCluster without writing YAML: a head and one worker group, from a few numbers.

The result is the full ray.io/v1 object a KubeRay user would write by hand (rayVersion,
image, container resources with requests equal to limits, rayStartParams, min/max
replicas), not a shorthand only rayplane reads: printed as YAML it applies unchanged with
kubectl on a cluster running KubeRay, and ``rayplane apply`` runs it locally. kubectl-ray's
``create cluster`` is the model (head ``ray-head``, worker ``ray-worker``, the head's
three named ports); unlike it, bad numbers are refused here, before anything is created,
with the argument, its value and the fix.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rayplane.api.convert import installed_ray_version
from rayplane.api.quantity import QuantityError, parse_quantity
from rayplane.api.validation import NAME_LIMITS
from rayplane.api.validation.names import dns1035_problem, dns1123_label_problem

__all__ = ["DEFAULT_MAX_WORKERS", "build_cluster"]

DEFAULT_MAX_WORKERS = 10
"""maxReplicas when none is given: room for `scale` and the autoscaler to add workers (the
seed's raycluster-basic allows 1..10), and never below the workers asked for."""

# The head's ports as KubeRay's samples and kubectl-ray name them; the local runtime picks
# its own loopback ports, Kubernetes uses these for the head Service.
_HEAD_PORTS = [
    {"containerPort": 6379, "name": "gcs-server"},
    {"containerPort": 8265, "name": "dashboard"},
    {"containerPort": 10001, "name": "client"},
]


def build_cluster(
    name: str,
    *,
    workers: int = 1,
    worker_cpus: int | float | str = 1,
    worker_memory: str = "1Gi",
    head_cpus: int | float | str = 1,
    head_memory: str = "2Gi",
    min_workers: int | None = None,
    max_workers: int | None = None,
    autoscaling: bool = False,
    namespace: str = "default",
    ray_version: str | None = None,
    image: str | None = None,
    group: str = "workergroup",
) -> dict[str, Any]:
    """A RayCluster *name*: a head and the worker group *group* of *workers* replicas.

    ``min_workers`` defaults to 0 and ``max_workers`` to ``max(workers, 10)``, so the group
    can be scaled (or autoscaled, with ``autoscaling=True``) without editing the object.
    ``ray_version`` defaults to the installed Ray, ``image`` to ``rayproject/ray:<ver>``.
    Raises ValueError naming the argument, its value and the fix.
    """
    _check_name("name", name, NAME_LIMITS["RayCluster"])
    problem = dns1123_label_problem(namespace) if namespace else "is empty"
    if problem:
        raise ValueError(f"namespace={namespace!r} {problem}; e.g. namespace='default'.")
    problem = dns1123_label_problem(group) if group else "is empty"
    if problem:
        raise ValueError(f"group={group!r} {problem}; e.g. group='workergroup'.")
    low, high = _replica_bounds(workers, min_workers, max_workers)
    version = ray_version or installed_ray_version()
    if not isinstance(version, str) or not version.strip() or any(c.isspace() for c in version):
        raise ValueError(
            f"ray_version={ray_version!r} is not a Ray version; give one like "
            f"'{installed_ray_version()}', or leave it out for the installed Ray."
        )
    image = image or f"rayproject/ray:{version}"
    if any(c.isspace() for c in image):
        raise ValueError(f"image={image!r} has whitespace; give an image like 'rayproject/ray'.")
    head = _container(
        "ray-head", image, _cpu("head_cpus", head_cpus), _memory("head_memory", head_memory)
    )
    head["ports"] = [dict(port) for port in _HEAD_PORTS]
    worker = _container(
        "ray-worker",
        image,
        _cpu("worker_cpus", worker_cpus),
        _memory("worker_memory", worker_memory),
    )
    spec: dict[str, Any] = {"rayVersion": version}
    if autoscaling:
        spec["enableInTreeAutoscaling"] = True
    # KubeRay sets the head's dashboard-host itself; empty params keep the object portable
    # (and give the local runtime nothing it must leave out).
    spec["headGroupSpec"] = {"rayStartParams": {}, "template": {"spec": {"containers": [head]}}}
    spec["workerGroupSpecs"] = [
        {
            "groupName": group,
            "replicas": workers,
            "minReplicas": low,
            "maxReplicas": high,
            "rayStartParams": {},
            "template": {"spec": {"containers": [worker]}},
        }
    ]
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _check_name(argument: str, value: object, limit: int) -> None:
    problem = dns1035_problem(value, limit) if isinstance(value, str) else "is not a string"
    if problem:
        raise ValueError(f"{argument}={value!r} {problem}; e.g. {argument}='my-cluster'.")


def _count(argument: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{argument}={value!r} is not a whole number; give e.g. {argument}=2.")
    if value < 0:
        raise ValueError(f"{argument}={value} is negative; give 0 or more.")
    if value > 2**31 - 1:
        raise ValueError(f"{argument}={value} is more than KubeRay allows (2147483647).")
    return value


def _replica_bounds(workers: int, low: int | None, high: int | None) -> tuple[int, int]:
    """(minReplicas, maxReplicas), refusing any combination KubeRay would clamp silently."""
    _count("workers", workers)
    low = 0 if low is None else _count("min_workers", low)
    high = max(workers, DEFAULT_MAX_WORKERS, low) if high is None else _count("max_workers", high)
    if low > high:
        raise ValueError(
            f"min_workers={low} is more than max_workers={high}; make min_workers <= max_workers."
        )
    if not low <= workers <= high:
        raise ValueError(
            f"workers={workers} is outside min_workers..max_workers ({low}..{high}); "
            f"KubeRay would clamp it. Give workers between {low} and {high}, or widen the range."
        )
    return low, high


def _quantity(argument: str, value: object, example: str) -> tuple[str, Decimal]:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{argument}={value!r} is not a quantity; give e.g. {argument}={example}.")
    text = value.strip() if isinstance(value, str) else str(value)
    try:
        amount = parse_quantity(text)
    except QuantityError as exc:
        raise ValueError(f"{argument}={value!r}: {exc}; give e.g. {argument}={example}.") from exc
    if amount < 0:
        raise ValueError(f"{argument}={value!r} is negative; give 0 or more.")
    return text, amount


def _cpu(argument: str, value: object) -> str:
    text, _ = _quantity(argument, value, "2 or '500m'")
    return text


def _memory(argument: str, value: object) -> str:
    text, amount = _quantity(argument, value, "'4Gi'")
    if amount < 2**20:
        raise ValueError(
            f"{argument}={value!r} is less than 1Mi; memory is in bytes, so give a unit, "
            f"e.g. {argument}='4Gi'."
        )
    return text


def _container(name: str, image: str, cpu: str, memory: str) -> dict[str, Any]:
    """A Ray container; requests equal limits, as KubeRay recommends (num-cpus and memory
    come from the limits, and the scheduler reserves the same)."""
    resources = {"cpu": cpu, "memory": memory}
    return {
        "name": name,
        "image": image,
        "resources": {"requests": dict(resources), "limits": dict(resources)},
    }
