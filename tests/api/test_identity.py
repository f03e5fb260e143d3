"""Names, namespaces, labels and annotations are checked as the API server checks them."""

from __future__ import annotations

from typing import Any

import pytest

from rayplane.api.configdata import check
from rayplane.api.validation import validate
from tests.api.conftest import minimal


def _errors(doc: dict[str, Any]) -> dict[str, str]:
    return {f.path: str(f) for f in validate(doc).errors}


@pytest.mark.parametrize("namespace", ["..", "a/b", "Prod", "x" * 300, "-a"])
def test_namespace_must_be_a_dns1123_label(namespace: str) -> None:
    doc = minimal("RayCluster")
    doc["metadata"]["namespace"] = namespace
    errors = _errors(doc)
    assert "metadata.namespace" in errors
    assert "DNS-1123 label" in errors["metadata.namespace"]
    assert len(errors["metadata.namespace"]) < 400  # a 300-character value is cut short
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    secret["metadata"]["namespace"] = namespace
    assert "metadata.namespace" in {f.path for f in check(secret).errors}


@pytest.mark.parametrize(
    ("labels", "path"),
    [
        ({"a b": "x"}, "metadata.labels[a b]"),
        ({"Example.com/team": "x"}, "metadata.labels[Example.com/team]"),
        ({"a/b/c": "x"}, "metadata.labels[a/b/c]"),
        ({"team": "has space"}, "metadata.labels.team"),
        ({"team": "x" * 64}, "metadata.labels.team"),
    ],
)
def test_object_labels_are_checked(labels: dict[str, str], path: str) -> None:
    doc = minimal("RayJob")
    doc["metadata"]["labels"] = labels
    assert path in _errors(doc)


def test_pod_template_labels_and_annotation_keys_are_checked() -> None:
    doc = minimal("RayService")
    head = doc["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]
    head["metadata"] = {"labels": {"app": "-bad-"}, "annotations": {"bad key!": "v"}}
    errors = _errors(doc)
    base = "spec.rayClusterConfig.headGroupSpec.template.metadata"
    assert f"{base}.labels.app" in errors
    assert f"{base}.annotations[bad key!]" in errors


def test_annotations_are_limited_to_256_kib_in_total() -> None:
    doc = minimal("RayCluster")
    doc["metadata"]["annotations"] = {f"k{i}": "v" * 70_000 for i in range(4)}
    errors = _errors(doc)
    assert "256 KiB" in errors["metadata.annotations"]
    secret = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    secret["metadata"]["annotations"] = doc["metadata"]["annotations"]
    assert "metadata.annotations" in {f.path for f in check(secret).errors}


def test_generate_name_without_name_is_valid_on_create() -> None:
    doc = minimal("RayJob")
    doc["metadata"] = {"generateName": "rayjob-sample-"}
    report = validate(doc)
    assert report.ok, [str(f) for f in report.errors]


def test_generate_name_must_leave_room_for_the_suffix() -> None:
    doc = minimal("RayJob")
    doc["metadata"] = {"generateName": "j" * 43}
    errors = _errors(doc)
    assert "at most 42" in errors["metadata.generateName"]
    doc["metadata"] = {"generateName": "Job-"}
    assert "metadata.generateName" in _errors(doc)
