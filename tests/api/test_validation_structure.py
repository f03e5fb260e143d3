"""Type and shape errors, reported as sentences a KubeRay user can act on; and loading."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rayplane.api.loading import LoadError, load, parse_text
from rayplane.api.validation import Report, validate

Make = Callable[[str], dict[str, Any]]


def errors_at(report: Report, path: str) -> list[str]:
    return [str(f) for f in report.errors if f.path == path]


def one_error_at(report: Report, path: str) -> str:
    found = errors_at(report, path)
    assert len(found) == 1, [str(f) for f in report.errors]
    return found[0]


# ---------------------------------------------------------------- wrong types


def test_unquoted_number_in_ray_start_params_says_to_quote_it(make: Make) -> None:
    doc = make("RayCluster")
    doc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0
    report = validate(doc)
    assert not report.ok
    text = one_error_at(report, "spec.headGroupSpec.rayStartParams.num-cpus")
    assert "string" in text
    assert 'Quote it: "0"' in text


@pytest.mark.parametrize(("value", "quoted"), [(2.47, '"2.47"'), (2, '"2"')])
def test_unquoted_ray_version_says_to_quote_it(make: Make, value: Any, quoted: str) -> None:
    doc = make("RayCluster")
    doc["spec"]["rayVersion"] = value
    assert f"Quote it: {quoted}" in one_error_at(validate(doc), "spec.rayVersion")


def test_unquoted_boolean_in_ray_start_params(make: Make) -> None:
    doc = make("RayJob")
    doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["rayStartParams"]["block"] = True
    text = one_error_at(
        validate(doc), "spec.rayClusterSpec.workerGroupSpecs[0].rayStartParams.block"
    )
    assert 'Quote it: "true"' in text


def test_quoted_number_where_a_whole_number_is_needed(make: Make) -> None:
    doc = make("RayCluster")
    doc["spec"]["workerGroupSpecs"][0]["replicas"] = "3"
    text = one_error_at(validate(doc), "spec.workerGroupSpecs[0].replicas")
    assert "whole number" in text
    assert "Quote" not in text


@pytest.mark.parametrize(
    ("path", "value", "wanted"),
    [
        (["spec", "workerGroupSpecs"], {"groupName": "w"}, "a list"),
        (["spec", "headGroupSpec"], "head", "a mapping"),
        (["spec", "enableInTreeAutoscaling"], "yes", "true or false"),
        (["metadata", "labels"], ["a"], "a mapping"),
    ],
)
def test_wrong_container_types(make: Make, path: list[str], value: Any, wanted: str) -> None:
    doc = make("RayCluster")
    doc[path[0]][path[1]] = value
    report = validate(doc)
    assert wanted in one_error_at(report, ".".join(path))


def test_enum_value_with_a_close_match_is_suggested(make: Make) -> None:
    doc = make("RayJob")
    doc["spec"]["submissionMode"] = "K8sJob"
    report = validate(doc)
    text = one_error_at(report, "spec.submissionMode")
    assert "Did you mean 'K8sJobMode'?" in text
    assert report.errors[0].allowed is not None
    assert "InteractiveMode" in report.errors[0].allowed


def test_enum_case_mismatch_is_suggested(make: Make) -> None:
    doc = make("RayCluster")
    doc["spec"]["enableInTreeAutoscaling"] = True
    doc["spec"]["autoscalerOptions"] = {"upscalingMode": "aggressive"}
    assert "Did you mean 'Aggressive'?" in one_error_at(
        validate(doc), "spec.autoscalerOptions.upscalingMode"
    )


# ---------------------------------------------------------------- kind and apiVersion


def test_unknown_kind_suggests_the_closest(make: Make) -> None:
    doc = make("RayCluster")
    doc["kind"] = "RayClustr"
    report = validate(doc)
    assert not report.ok and report.resource is None
    assert "Did you mean 'RayCluster'?" in one_error_at(report, "kind")


def test_foreign_kind_lists_the_kinds_rayplane_runs(make: Make) -> None:
    doc = make("RayCluster")
    doc["kind"] = "Deployment"
    text = one_error_at(validate(doc), "kind")
    assert "Did you mean" not in text
    assert "RayCluster, RayJob, RayService" in text


def test_missing_kind(make: Make) -> None:
    doc = make("RayJob")
    del doc["kind"]
    assert "missing" in one_error_at(validate(doc), "kind")


@pytest.mark.parametrize("kind", ["RayCluster", "RayJob", "RayService"])
def test_v1alpha1_is_served_deprecated_and_read_as_v1(make: Make, kind: str) -> None:
    # KubeRay 1.7 still serves v1alpha1 for these kinds, with a deprecation warning.
    doc = make(kind)
    doc["apiVersion"] = "ray.io/v1alpha1"
    report = validate(doc)
    assert report.ok
    [warning] = [f for f in report.findings if f.path == "apiVersion"]
    assert warning.severity == "warning"
    assert f"ray.io/v1alpha1 {kind} is deprecated; use ray.io/v1 {kind}" in warning.message
    assert report.resource is not None
    assert report.resource.wire()["apiVersion"] == "ray.io/v1"


def test_other_api_versions_are_refused(make: Make) -> None:
    doc = make("RayService")
    doc["apiVersion"] = "ray.io/v2"
    report = validate(doc)
    assert not report.ok
    assert "ray.io/v1" in one_error_at(report, "apiVersion")


def test_missing_api_version(make: Make) -> None:
    doc = make("RayCluster")
    del doc["apiVersion"]
    assert "ray.io/v1" in one_error_at(validate(doc), "apiVersion")


# ---------------------------------------------------------------- unknown and missing fields


@pytest.mark.parametrize(
    ("kind", "parent", "wrong", "right"),
    [
        ("RayCluster", ["spec", "workerGroupSpecs", 0], "minReplica", "minReplicas"),
        ("RayJob", ["spec"], "runtimeEnvYaml", "runtimeEnvYAML"),
        ("RayCluster", ["spec"], "enableInTreeAutoscalling", "enableInTreeAutoscaling"),
        ("RayCluster", ["spec", "headGroupSpec"], "rayStartParam", "rayStartParams"),
        ("RayService", ["spec"], "serveConfigv2", "serveConfigV2"),
        # Kubernetes only knows the camelCase wire names; snake_case would be pruned.
        ("RayCluster", ["spec", "workerGroupSpecs", 0], "max_replicas", "maxReplicas"),
    ],
)
def test_misspelled_field_suggests_the_real_one(
    make: Make, kind: str, parent: list[Any], wrong: str, right: str
) -> None:
    doc = make(kind)
    obj: Any = doc
    for key in parent:
        obj = obj[key]
    obj[wrong] = "1"
    report = validate(doc)
    assert not report.ok
    path = ".".join(str(p) for p in parent).replace(".0", "[0]") + f".{wrong}"
    assert f"Did you mean '{right}'?" in one_error_at(report, path)


def test_snake_case_field_is_not_silently_accepted(make: Make) -> None:
    doc = make("RayCluster")
    group = doc["spec"]["workerGroupSpecs"][0]
    group["min_replicas"] = group.pop("minReplicas")
    report = validate(doc)
    assert not report.ok
    assert "spec.workerGroupSpecs[0].min_replicas" in {f.path for f in report.errors}


def test_unknown_field_without_a_close_match_lists_allowed_fields(make: Make) -> None:
    doc = make("RayJob")
    doc["spec"]["zzz"] = 1
    report = validate(doc)
    finding = next(f for f in report.errors if f.path == "spec.zzz")
    assert "Did you mean" not in finding.message
    assert finding.allowed is not None and "entrypoint" in finding.allowed


def test_unknown_pod_template_fields_are_kept_not_refused(make: Make) -> None:
    doc = make("RayCluster")
    doc["spec"]["headGroupSpec"]["template"]["spec"]["futurePodField"] = {"x": 1}
    assert validate(doc).ok


def test_env_var_without_name_is_missing_required(make: Make) -> None:
    doc = make("RayCluster")
    container = doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "OK", "value": "1"}, {"value": "x"}]
    text = one_error_at(validate(doc), "spec.headGroupSpec.template.spec.containers[0].env[1].name")
    assert "required but missing" in text


def test_deletion_rule_without_policy_is_missing_required(make: Make) -> None:
    doc = make("RayJob")
    doc["spec"]["deletionStrategy"] = {"deletionRules": [{"condition": {"jobStatus": "FAILED"}}]}
    assert "required" in one_error_at(
        validate(doc), "spec.deletionStrategy.deletionRules[0].policy"
    )


# ---------------------------------------------------------------- everything at once


def test_all_problems_of_a_document_are_reported_at_once(make: Make) -> None:
    doc = make("RayCluster")
    doc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0  # type error
    group = doc["spec"]["workerGroupSpecs"][0]
    group["minReplica"] = group.pop("minReplicas")  # unknown field
    group["maxReplicas"] = -1  # semantic error
    report = validate(doc)
    paths = {f.path for f in report.errors}
    assert {
        "spec.headGroupSpec.rayStartParams.num-cpus",
        "spec.workerGroupSpecs[0].minReplica",
        "spec.workerGroupSpecs[0].maxReplicas",
    } <= paths
    assert report.resource is None


def test_type_error_and_semantic_error_in_an_embedded_cluster(make: Make) -> None:
    doc = make("RayJob")
    doc["spec"]["backoffLimit"] = "2"  # type error
    doc["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"] = []
    doc["metadata"]["name"] = "x" * 48
    paths = {f.path for f in validate(doc).errors}
    assert {
        "spec.backoffLimit",
        "spec.rayClusterSpec.headGroupSpec.template.spec.containers",
        "metadata.name",
    } <= paths


@pytest.mark.parametrize("document", [None, [], ["RayCluster"], "kind: RayCluster", 3])
def test_a_document_that_is_not_an_object(document: Any) -> None:
    report = validate(document)
    assert not report.ok
    assert [f.path for f in report.errors] == ["(document)"]
    assert "not an object" in str(report.errors[0])


@pytest.mark.parametrize(
    ("key", "value"), [("metadata", "demo"), ("spec", []), ("spec", None), ("status", 5)]
)
def test_sections_of_the_wrong_type(make: Make, key: str, value: Any) -> None:
    doc = make("RayService")
    doc[key] = value
    report = validate(doc)
    assert not report.ok
    # Only the type error: no follow-on errors about the defaults the rules saw instead.
    assert [f.path for f in report.errors] == [key]
    assert "must be a mapping" in str(report.errors[0])


def test_wrong_type_does_not_hide_independent_rule_errors(make: Make) -> None:
    doc = make("RayCluster")
    doc["spec"]["headGroupSpec"] = "head"
    doc["metadata"]["name"] = "Demo"
    report = validate(doc)
    assert [f.path for f in report.errors] == ["spec.headGroupSpec", "metadata.name"]


def test_missing_name(make: Make) -> None:
    doc = make("RayJob")
    del doc["metadata"]["name"]
    assert "is missing" in one_error_at(validate(doc), "metadata.name")


@pytest.mark.parametrize("kind", [["RayCluster"], {"a": 1}, 7])
def test_kind_of_the_wrong_type(make: Make, kind: Any) -> None:
    doc = make("RayCluster")
    doc["kind"] = kind
    report = validate(doc)
    assert [f.path for f in report.errors] == ["kind"]


def test_validate_does_not_modify_its_input(make: Make) -> None:
    doc = make("RayJob")
    doc["spec"]["backoffLimit"] = "x"
    doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["minReplica"] = 1
    before = json.dumps(doc, sort_keys=True)
    validate(doc)
    assert json.dumps(doc, sort_keys=True) == before


def test_report_of_a_valid_document_round_trips(make: Make) -> None:
    from rayplane.api.validation import validate_object

    doc = make("RayService")
    report = validate(doc)
    assert report.ok and report.resource is not None
    assert report.resource.wire() == doc
    assert validate_object(report.resource).ok


# ---------------------------------------------------------------- loading

CLUSTER_YAML = """\
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: one}
"""


def test_multi_document_yaml(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(CLUSTER_YAML + "---\n---\n" + CLUSTER_YAML.replace("one", "two") + "...\n")
    docs = load([path])
    assert [d.name for d in docs] == ["one", "two"]
    assert [d.where for d in docs] == [f"{path}#1", f"{path}#2"]
    assert all(d.kind == "RayCluster" for d in docs)


def test_json_document(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(
        json.dumps({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j"}})
    )
    (doc,) = load([str(path)])
    assert doc.kind == "RayJob" and doc.name == "j"


def test_kind_list_is_unpacked() -> None:
    text = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {"kind": "RayCluster", "metadata": {"name": "a"}},
                {"kind": "RayJob", "metadata": {"name": "b"}},
            ],
        }
    )
    docs = parse_text(text, "list.json")
    assert [(d.kind, d.name, d.index) for d in docs] == [("RayCluster", "a", 0), ("RayJob", "b", 1)]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(CLUSTER_YAML))
    (doc,) = load(["-"])
    assert doc.source == "<stdin>" and doc.name == "one"


def test_directory_loads_its_yaml_and_json_files(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(CLUSTER_YAML.replace("one", "b"))
    (tmp_path / "a.json").write_text(json.dumps({"kind": "RayJob", "metadata": {"name": "a"}}))
    (tmp_path / "notes.txt").write_text("kind: RayService\n")
    assert [d.name for d in load([tmp_path])] == ["a", "b"]


def test_missing_file_raises_load_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(LoadError, match=r"nope\.yaml: cannot read"):
        load([missing])


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root reads files regardless of their mode",
)
def test_unreadable_file_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(CLUSTER_YAML)
    path.chmod(0)
    try:
        with pytest.raises(LoadError, match=r"secret\.yaml: cannot read: Permission denied"):
            load([path])
    finally:
        path.chmod(0o600)


def test_binary_file_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "blob.yaml"
    path.write_bytes(b"\xff\xfe\x00kind")
    with pytest.raises(LoadError, match="UTF-8"):
        load([path])


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("kind: RayCluster\nmetadata:\n  name: [unclosed\n", 4),
        ("kind: RayCluster\n  spec: x\n", 2),
        ('{"kind": "RayJob",\n "spec": {\n}', 3),
    ],
)
def test_malformed_yaml_raises_load_error_with_the_line(text: str, line: int) -> None:
    with pytest.raises(LoadError) as info:
        parse_text(text, "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml: ")
    assert f"line {line}" in message


def test_malformed_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: b\n- c\n")
    with pytest.raises(LoadError, match=r"bad\.yaml: not valid YAML or JSON at line 2"):
        load([path])
