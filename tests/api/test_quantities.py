"""Quantities: validation takes what Kubernetes takes, and nothing it takes crashes a
reconciler or `render`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rayplane.api.quantity import parse_quantity
from rayplane.api.validation import validate
from tests.api.conftest import minimal
from tests.api.fuzzing import exercise

LIMIT = Decimal(2**63 - 1)  # int64: what Go's Quantity.Value() can hold
LIMITS = "spec.headGroupSpec.template.spec.containers[0].resources.limits"


def _with_limits(cpu: Any, memory: Any = "1Gi") -> dict[str, Any]:
    doc = minimal("RayCluster")
    container = doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"limits": {"cpu": cpu, "memory": memory}}
    return doc


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1, "-500m", "1e3Ki"])
def test_quantities_kubernetes_refuses_are_refused_with_the_path(value: Any) -> None:
    report = validate(_with_limits(value))
    assert f"{LIMITS}.cpu" in {f.path for f in report.errors}, [str(f) for f in report.errors]


@pytest.mark.parametrize("value", ["1e40", 2**64, 1e300])
def test_absurd_but_valid_quantities_do_not_crash_any_reconciler(value: Any) -> None:
    for doc in (_with_limits(value), _with_limits(1, value), _job_with_limits(value)):
        report = validate(doc)
        assert report.ok and report.resource is not None, [str(f) for f in report.errors]
        assert exercise(report.resource)


def _job_with_limits(value: Any) -> dict[str, Any]:
    doc = minimal("RayJob")
    worker = doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    worker["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": value}}
    return doc


def test_values_beyond_int64_are_held_at_its_limit() -> None:
    assert parse_quantity("1e40") == LIMIT
    assert parse_quantity(-(2**70)) == -LIMIT
    assert parse_quantity("1e-40") == Decimal("1e-9")  # rounded up to a nano, as Go does


@pytest.mark.parametrize("field", ["env", "volumes", "volumeMounts", "ports"])
def test_render_survives_null_lists_in_the_pod_template(field: str) -> None:
    doc = minimal("RayService")
    pod = doc["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    target = pod if field == "volumes" else pod["containers"][0]
    target[field] = None
    report = validate(doc)
    assert report.ok and report.resource is not None, [str(f) for f in report.errors]
    assert exercise(report.resource)


def test_a_service_port_that_is_not_a_mapping_is_refused_with_its_path() -> None:
    doc = minimal("RayService")
    doc["spec"]["serveService"] = {"spec": {"ports": [None]}}
    assert "spec.serveService.spec.ports[0]" in {f.path for f in validate(doc).errors}


def test_replicas_beyond_int32_are_refused() -> None:
    doc = minimal("RayCluster")
    doc["spec"]["workerGroupSpecs"][0]["replicas"] = 2**31
    errors = {f.path: str(f) for f in validate(doc).errors}
    assert "32-bit" in errors["spec.workerGroupSpecs[0].replicas"]


def test_a_ray_start_param_that_is_no_number_is_warned_about_and_survives() -> None:
    doc = minimal("RayCluster")
    doc["spec"]["workerGroupSpecs"][0]["rayStartParams"] = {"num-cpus": "two"}
    report = validate(doc)
    assert report.ok and report.resource is not None
    warned = {f.path for f in report.warnings}
    assert "spec.workerGroupSpecs[0].rayStartParams.num-cpus" in warned
    assert exercise(report.resource)
