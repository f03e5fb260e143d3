"""Tests for the CRDs generated from the ray.io/v1 models (rayplane.api.crds)."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayplane.api import crds

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "deploy" / "crds"
# Examples known to be valid resources; the other shared examples are deliberately
# incomplete or not ray.io/v1 at all.
VALID_EXAMPLES = ("raycluster-basic.yaml",)
EXAMPLE_DIRS = (REPO / "examples", Path("/work/shared/examples"))
REGENERATE = "python -m rayplane.api.crds deploy/crds"


@functools.cache
def _files() -> dict[str, str]:
    """Generated once per session: rendering ~4000 lines of YAML is the slow part."""
    return crds.crd_files()


def _schema(kind: str) -> dict[str, Any]:
    for crd in crds.crd_manifests():
        if crd["spec"]["names"]["kind"] == kind:
            schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"no CRD for {kind}")


def _nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path, descending through properties/items/values."""
    assert isinstance(node, dict), f"{path}: schema node is not a mapping"
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}.*")
    for i, branch in enumerate(node.get("anyOf", [])):
        yield from _nodes(branch, f"{path}|{i}")


# --- (1) the checked-in files are what the models generate ------------------------------------


@pytest.mark.parametrize("name", sorted(_files()))
def test_checked_in_crds_match_models(name: str) -> None:
    path = CRD_DIR / name
    assert path.exists(), f"{path} is missing; run `{REGENERATE}`"
    assert path.read_text(encoding="utf-8") == _files()[name], (
        f"{path} is out of date with the models; run `{REGENERATE}`"
    )


def test_no_stray_files_in_crd_dir() -> None:
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == sorted(_files())


def test_regenerate_writes_each_file(tmp_path: Path) -> None:
    assert crds.main([str(tmp_path / "out")]) == 0
    written = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir()}
    assert written == _files()


def test_render_is_multi_document_yaml() -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = list(yaml.load_all(crds.render_crds_yaml(), Loader=loader))
    assert [d["metadata"]["name"] for d in docs] == [
        "rayclusters.ray.io",
        "rayjobs.ray.io",
        "rayservices.ray.io",
        "raycronjobs.ray.io",
    ]
    assert docs == crds.crd_manifests()


# --- (2) the schemas are structural ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["RayCluster", "RayJob", "RayService", "RayCronJob"])
def test_schema_is_structural(kind: str) -> None:
    schema = _schema(kind)
    int_or_string = [{"type": "integer"}, {"type": "string"}]
    for path, node in _nodes(schema):
        assert not {"$ref", "$defs", "oneOf", "allOf", "not", "title"} & set(node), path
        if node.get("x-kubernetes-int-or-string"):
            assert node.get("anyOf") == int_or_string and "type" not in node, path
            continue
        assert "anyOf" not in node, f"{path}: anyOf outside the int-or-string pattern"
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            assert "type" in node, f"{path}: no type"
        if "properties" in node or "additionalProperties" in node:
            assert node.get("type") == "object", f"{path}: object node without type: object"
        assert not ("properties" in node and "additionalProperties" in node), path
        assert not isinstance(node.get("additionalProperties"), bool), path
        if "default" in node:
            assert node["default"] is not None, path
    # Kubernetes owns the envelope: root metadata may only be `type: object`.
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["properties"]["kind"] == {"type": "string"}


def test_schema_shapes() -> None:
    cluster = _schema("RayCluster")["properties"]["spec"]["properties"]
    head = cluster["headGroupSpec"]["properties"]
    # Pod templates keep unknown fields (the full PodTemplateSpec) but type what we read.
    template = head["template"]
    assert template["x-kubernetes-preserve-unknown-fields"] is True
    pod = template["properties"]["spec"]
    assert pod["x-kubernetes-preserve-unknown-fields"] is True
    assert pod["properties"]["serviceAccountName"] == {"type": "string"}
    limits = pod["properties"]["containers"]["items"]["properties"]["resources"]["properties"][
        "limits"
    ]
    assert limits["additionalProperties"]["x-kubernetes-int-or-string"] is True
    assert head["rayStartParams"] == {"type": "object", "additionalProperties": {"type": "string"}}
    # A Strict model does not preserve unknown fields; the API server prunes them.
    assert "x-kubernetes-preserve-unknown-fields" not in cluster["headGroupSpec"]
    assert cluster["autoscalerOptions"]["properties"]["upscalingMode"] == {
        "type": "string",
        "enum": ["Default", "Aggressive", "Conservative"],
    }
    job = _schema("RayJob")["properties"]["spec"]["properties"]
    assert job["submissionMode"]["default"] == "K8sJobMode"
    assert job["entrypointNumCpus"] == {"type": "number"}
    # Status is open: controllers may write fields a newer KubeRay adds.
    assert _schema("RayService")["properties"]["status"]["x-kubernetes-preserve-unknown-fields"]


@pytest.mark.parametrize("kind", crds.KINDS, ids=lambda k: k.kind)
def test_crd_envelope(kind: crds.Kind) -> None:
    crd = crds.crd_manifest(kind)
    assert crd["metadata"]["name"] == f"{kind.plural}.ray.io"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == ("ray.io", "Namespaced")
    assert spec["names"]["categories"] == ["all"]
    assert "shortNames" not in spec["names"]  # KubeRay defines none
    # v1 is the one storage version; v1alpha1 is served (deprecated) for KubeRay's original
    # three kinds, with the same schema, so an object reads the same through either.
    versions = {v["name"]: v for v in spec["versions"]}
    assert [v["name"] for v in spec["versions"] if v["storage"]] == ["v1"]
    assert versions["v1"]["subresources"] == {"status": {}}
    assert versions["v1"]["served"] is True
    if not kind.served_v1alpha1:  # a kind newer than v1alpha1 (RayCronJob)
        assert set(versions) == {"v1"}
        return
    assert set(versions) == {"v1", "v1alpha1"}
    alpha = versions["v1alpha1"]
    assert (alpha["served"], alpha["storage"], alpha["deprecated"]) == (True, False, True)
    assert "use ray.io/v1" in alpha["deprecationWarning"]
    assert alpha["schema"] == versions["v1"]["schema"]
    assert alpha["subresources"] == {"status": {}}


# --- (3) valid examples validate against the generated schema --------------------------------


def _example(name: str) -> dict[str, Any]:
    for directory in EXAMPLE_DIRS:
        if (directory / name).exists():
            doc: dict[str, Any] = yaml.safe_load((directory / name).read_text(encoding="utf-8"))
            return doc
    pytest.skip(f"example {name} not found in {[str(d) for d in EXAMPLE_DIRS]}")


def _validator(kind: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    # OpenAPI v3.0 schemas are JSON Schema draft 4 plus keys (nullable, x-kubernetes-*) that
    # a draft-4 validator ignores, which is fine for checking types, enums and patterns.
    return jsonschema.Draft4Validator(_schema(kind))


@pytest.mark.parametrize("name", VALID_EXAMPLES)
def test_valid_examples_validate(name: str) -> None:
    doc = _example(name)
    errors = [f"{list(e.path)}: {e.message}" for e in _validator(doc["kind"]).iter_errors(doc)]
    assert errors == []


def test_cluster_spec_validates_inside_job_and_service() -> None:
    spec = _example("raycluster-basic.yaml")["spec"]
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "j"},
        "spec": {"entrypoint": "python x.py", "rayClusterSpec": spec},
    }
    svc = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "s"},
        "spec": {"serveConfigV2": "applications: []", "rayClusterConfig": spec},
    }
    assert list(_validator("RayJob").iter_errors(job)) == []
    assert list(_validator("RayService").iter_errors(svc)) == []


def test_schema_rejects_wrong_types() -> None:
    doc = copy.deepcopy(_example("raycluster-basic.yaml"))
    validator = _validator("RayCluster")
    doc["spec"]["workerGroupSpecs"][0]["replicas"] = "two"
    doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
        "cpu"
    ] = "lots"
    doc["spec"]["autoscalerOptions"] = {"upscalingMode": "Fast"}
    bad = {tuple(e.path)[-1] for e in validator.iter_errors(doc)}
    assert bad == {"replicas", "cpu", "upscalingMode"}


# --- (4) printer columns ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", crds.KINDS, ids=lambda k: k.kind)
def test_printer_columns(kind: crds.Kind) -> None:
    columns = crds.crd_manifest(kind)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert columns, f"{kind.kind} has no printer columns"
    schema = _schema(kind.kind)
    for column in columns:
        assert set(column) <= {"name", "jsonPath", "type", "priority"}
        assert column["type"] in {"integer", "number", "string", "boolean", "date"}
        if column["jsonPath"].startswith(".metadata."):
            continue
        # Every status column must name a field the schema has, so an alias change in the
        # models cannot silently blank a column.
        node = schema
        for part in column["jsonPath"].lstrip(".").split("."):
            assert part in node.get("properties", {}), f"{column['jsonPath']} not in schema"
            node = node["properties"][part]


def test_kuberay_columns() -> None:
    names = {k.kind: [c.name for c in k.columns] for k in crds.KINDS}
    assert names["RayCluster"][:2] == ["desired workers", "available workers"]
    assert names["RayJob"] == [
        "job status",
        "deployment status",
        "ray cluster name",
        "start time",
        "end time",
        "age",
    ]
    assert names["RayService"] == ["service status", "num serve endpoints"]
