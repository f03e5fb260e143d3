"""build_cluster: every object it returns is a RayCluster KubeRay accepts, and every bad
argument is refused before anything is created, naming the argument and the fix."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rayplane.api.convert import installed_ray_version
from rayplane.api.validation import validate
from rayplane.sdk.builder import build_cluster

names = st.from_regex(r"[a-z]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True)
cpus = st.one_of(
    st.integers(0, 64),
    st.sampled_from(["500m", "1", "2", "0.5", "1500m", 0.25, 1.5]),
)
memory = st.sampled_from(["1Gi", "512Mi", "2Gi", "4G", "1500Mi", "8Gi", 2**30])


@st.composite
def arguments(draw: st.DrawFn) -> dict[str, Any]:
    workers = draw(st.integers(0, 20))
    low = draw(st.one_of(st.none(), st.integers(0, workers)))
    high = draw(st.one_of(st.none(), st.integers(max(workers, low or 0), 50)))
    return {
        "name": draw(names),
        "workers": workers,
        "worker_cpus": draw(cpus),
        "worker_memory": draw(memory),
        "head_cpus": draw(cpus),
        "head_memory": draw(memory),
        "min_workers": low,
        "max_workers": high,
        "autoscaling": draw(st.booleans()),
        "namespace": draw(st.sampled_from(["default", "raydata", "team-a"])),
        "ray_version": draw(st.sampled_from([None, "2.46.0", "2.60.0"])),
        "group": draw(st.sampled_from(["workergroup", "small-group", "gpu"])),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arguments())
def test_every_built_cluster_validates_with_no_findings(args: dict[str, Any]) -> None:
    name = args.pop("name")
    obj = build_cluster(name, **args)
    report = validate(obj)
    assert report.ok, [str(f) for f in report.findings]
    assert report.findings == [], [str(f) for f in report.findings]
    # the same object survives a YAML round trip (what --dry-run prints applies as is)
    assert yaml.safe_load(yaml.safe_dump(obj)) == obj
    (group,) = obj["spec"]["workerGroupSpecs"]
    assert group["groupName"] == args["group"]
    assert group["minReplicas"] <= group["replicas"] == args["workers"] <= group["maxReplicas"]
    assert obj["spec"].get("enableInTreeAutoscaling", False) is args["autoscaling"]


def test_defaults_follow_the_installed_ray_and_kuberays_shape() -> None:
    obj = build_cluster("demo")
    version = installed_ray_version()
    spec = obj["spec"]
    assert obj["metadata"] == {"name": "demo", "namespace": "default"}
    assert spec["rayVersion"] == version
    (head,) = spec["headGroupSpec"]["template"]["spec"]["containers"]
    (group,) = spec["workerGroupSpecs"]
    (worker,) = group["template"]["spec"]["containers"]
    assert (head["name"], worker["name"]) == ("ray-head", "ray-worker")
    assert head["image"] == worker["image"] == f"rayproject/ray:{version}"
    assert head["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert worker["resources"]["requests"] == worker["resources"]["limits"]
    assert worker["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert {p["name"] for p in head["ports"]} == {"gcs-server", "dashboard", "client"}
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (1, 0, 10)
    assert "enableInTreeAutoscaling" not in spec


def test_autoscaling_and_explicit_bounds_are_written() -> None:
    obj = build_cluster(
        "auto", workers=2, min_workers=1, max_workers=4, autoscaling=True, image="my/ray:x"
    )
    (group,) = obj["spec"]["workerGroupSpecs"]
    assert obj["spec"]["enableInTreeAutoscaling"] is True
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (2, 1, 4)
    assert group["template"]["spec"]["containers"][0]["image"] == "my/ray:x"


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"name": "Bad_Name"}, ["name='Bad_Name'", "lowercase", "e.g. name="]),
        ({"name": "x" * 54}, ["name=", "54 characters", "at most 53"]),
        ({"min_workers": 5, "max_workers": 2, "workers": 3}, ["min_workers=5", "max_workers=2"]),
        ({"workers": 7, "max_workers": 4}, ["workers=7", "0..4", "Give workers between 0 and 4"]),
        ({"workers": 1, "min_workers": 2}, ["workers=1", "2..10"]),
        ({"workers": -1}, ["workers=-1", "negative"]),
        ({"workers": 1.5}, ["workers=1.5", "whole number"]),
        ({"worker_memory": "lots"}, ["worker_memory='lots'", "quantity", "'4Gi'"]),
        ({"head_memory": "4"}, ["head_memory='4'", "bytes", "unit"]),
        ({"worker_cpus": "-1"}, ["worker_cpus='-1'", "negative"]),
        ({"head_cpus": "two"}, ["head_cpus='two'", "quantity"]),
        ({"namespace": "No"}, ["namespace='No'"]),
        ({"group": "Workers!"}, ["group='Workers!'"]),
        ({"ray_version": "2.60 beta"}, ["ray_version='2.60 beta'", "installed Ray"]),
    ],
)
def test_bad_arguments_are_refused_naming_argument_value_and_fix(
    kwargs: dict[str, Any], says: list[str]
) -> None:
    name = kwargs.pop("name", "demo")
    with pytest.raises(ValueError) as caught:
        build_cluster(name, **kwargs)
    for words in says:
        assert words in str(caught.value)
