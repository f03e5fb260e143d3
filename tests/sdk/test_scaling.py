"""scaled: one worker group's replicas, refused (never clamped) outside its bounds."""

from __future__ import annotations

import pytest

from rayplane.api.validation import validate
from rayplane.sdk.builder import build_cluster
from rayplane.sdk.scaling import ScaleError, scaled
from tests.support import example


def test_scaled_sets_replicas_of_that_group_only_and_leaves_the_input_alone() -> None:
    seed = example("raycluster-basic.yaml")  # workers: replicas 2, min 1, max 10
    result = scaled(seed, "workers", 5)
    assert result["spec"]["workerGroupSpecs"][0]["replicas"] == 5
    assert seed["spec"]["workerGroupSpecs"][0]["replicas"] == 2
    assert validate(result).ok


def test_an_object_read_back_from_the_local_runtime_scales_to_an_applicable_one() -> None:
    read_back = build_cluster("demo") | {"status": {"state": "ready"}, "local": {"nodes": []}}
    result = scaled(read_back, "workergroup", 2)
    assert "local" not in result
    assert validate(result).ok


def test_bounds_change_in_the_same_step_as_kubectl_ray_allows() -> None:
    obj = build_cluster("demo", workers=1, max_workers=2)
    result = scaled(obj, "workergroup", 4, max_replicas=4)
    (group,) = result["spec"]["workerGroupSpecs"]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (4, 0, 4)
    only_min = scaled(obj, "workergroup", None, min_replicas=1)
    assert only_min["spec"]["workerGroupSpecs"][0]["minReplicas"] == 1


def test_a_group_without_max_replicas_has_kuberays_maxint32() -> None:
    obj = build_cluster("demo")
    del obj["spec"]["workerGroupSpecs"][0]["maxReplicas"]
    assert scaled(obj, "workergroup", 500)["spec"]["workerGroupSpecs"][0]["replicas"] == 500


@pytest.mark.parametrize(
    ("replicas", "bounds", "says"),
    [
        (11, {}, ["replicas 11", "maxReplicas 10", "allowed 1..10", "--max-replicas 11"]),
        (0, {}, ["replicas 0", "minReplicas 1", "allowed 1..10", "--min-replicas 0"]),
        (3, {"min_replicas": 5, "max_replicas": 4}, ["minReplicas 5", "maxReplicas 4"]),
        (-1, {}, ["--replicas -1", "0 to 2147483647"]),
        (None, {}, ["give --replicas"]),
    ],
)
def test_out_of_range_is_refused_naming_both_bounds_and_the_fix(
    replicas: int | None, bounds: dict[str, int], says: list[str]
) -> None:
    with pytest.raises(ScaleError) as caught:
        scaled(example("raycluster-basic.yaml"), "workers", replicas, **bounds)
    for words in says:
        assert words in str(caught.value)


def test_unknown_group_lists_the_groups() -> None:
    with pytest.raises(ScaleError) as caught:
        scaled(example("raycluster-basic.yaml"), "gpu", 1)
    message = str(caught.value)
    assert "'gpu' not found in RayCluster raydata/raycluster-basic" in message
    assert "its worker groups: workers" in message


def test_only_a_raycluster_scales() -> None:
    with pytest.raises(ScaleError, match="not a RayJob"):
        scaled({"kind": "RayJob", "metadata": {"name": "j"}}, "g", 1)
