"""CustomResourceDefinitions for ray.io (v1, and v1alpha1 served), generated from the models.

The models are the one description of the API; the CRDs are derived from them so that what a
Kubernetes API server accepts and what rayplane loads cannot drift apart. The checked-in copies
under deploy/crds are regenerated with::

    python -m rayplane.api.crds deploy/crds

Kubernetes only accepts *structural* schemas (no ``$ref``, ``anyOf`` only in the
int-or-string form, a ``type`` on every node that does not preserve unknown fields), so the
pydantic JSON schema is rewritten rather than embedded. Anything the rewrite does not know how
to express raises ``CRDSchemaError``: a model change that cannot become a valid CRD should fail
the generator, not produce a manifest the API server rejects at install time.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from rayplane.api.base import CRD_DEFAULT_KEY, CRD_REQUIRED_KEY, CRD_RULES_KEY
from rayplane.api.common import ALPHA_API_VERSION, ALPHA_KINDS, GROUP, alpha_deprecation
from rayplane.api.raycluster import RayCluster
from rayplane.api.raycronjob import RayCronJob
from rayplane.api.rayjob import RayJob
from rayplane.api.rayservice import RayService
from rayplane.errors import RayplaneError

VERSION = "v1"
# KubeRay 1.7 still serves ray.io/v1alpha1 for its three original kinds: served, not
# stored, deprecated with KubeRay's warning. No conversion webhook: the API server only
# rewrites apiVersion between the two, which is exact because they share one schema here.
ALPHA_VERSION = ALPHA_API_VERSION.rsplit("/", 1)[1]

Schema = dict[str, Any]

# Kubernetes' own regular expression for resource.Quantity, as every CRD that embeds a
# Quantity carries it (valid both for Go's RE2 and Python's re).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

HEADER = (
    "# Generated from rayplane's pydantic models by rayplane.api.crds; do not edit.\n"
    "# Regenerate with: python -m rayplane.api.crds deploy/crds\n"
)

# JSON-schema keys that may pass into a CRD unchanged. pydantic emits others (title,
# $defs, const, ...) which are rewritten or dropped; an unexpected key is an error.
_SCALAR_KEYS = frozenset(
    {
        "description",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
    }
)
_DROPPED_KEYS = frozenset({"title", "default", "examples"})
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


class CRDSchemaError(RayplaneError, ValueError):
    """A model construct that has no structural OpenAPI v3 equivalent."""


@dataclass(frozen=True)
class PrinterColumn:
    """One ``kubectl get`` column, copied from KubeRay's kubebuilder printcolumn markers."""

    name: str
    json_path: str
    type: str
    priority: int = 0

    def manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "jsonPath": self.json_path, "type": self.type}
        if self.priority:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class Kind:
    """What a CRD needs beyond the schema: names and the columns KubeRay shows."""

    model: type[BaseModel]
    kind: str
    plural: str
    columns: tuple[PrinterColumn, ...]
    # Whether KubeRay gives v1alpha1 printer columns too (only RayCluster's v1alpha1 type
    # carries the markers).
    v1alpha1_columns: bool = False

    @property
    def served_v1alpha1(self) -> bool:
        """KubeRay still serves v1alpha1 for its three original kinds, not for newer ones."""
        return self.kind in ALPHA_KINDS

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def filename(self) -> str:
        return f"{GROUP}_{self.plural}.yaml"


_AGE = PrinterColumn("age", ".metadata.creationTimestamp", "date")

# KubeRay v1.4-v1.7 define no shortNames; every kind is in the "all" category. Columns are in
# KubeRay's order so `kubectl get rayclusters` looks the same against either control plane.
KINDS: tuple[Kind, ...] = (
    Kind(
        RayCluster,
        "RayCluster",
        "rayclusters",
        (
            PrinterColumn("desired workers", ".status.desiredWorkerReplicas", "integer"),
            PrinterColumn("available workers", ".status.availableWorkerReplicas", "integer"),
            PrinterColumn("cpus", ".status.desiredCPU", "string"),
            PrinterColumn("memory", ".status.desiredMemory", "string"),
            PrinterColumn("gpus", ".status.desiredGPU", "string"),
            PrinterColumn("tpus", ".status.desiredTPU", "string", priority=1),
            PrinterColumn("status", ".status.state", "string"),
            _AGE,
            PrinterColumn("head pod IP", ".status.head.podIP", "string", priority=1),
            PrinterColumn("head service IP", ".status.head.serviceIP", "string", priority=1),
        ),
        v1alpha1_columns=True,
    ),
    Kind(
        RayJob,
        "RayJob",
        "rayjobs",
        (
            PrinterColumn("job status", ".status.jobStatus", "string"),
            PrinterColumn("deployment status", ".status.jobDeploymentStatus", "string"),
            PrinterColumn("ray cluster name", ".status.rayClusterName", "string"),
            PrinterColumn("start time", ".status.startTime", "string"),
            PrinterColumn("end time", ".status.endTime", "string"),
            _AGE,
        ),
    ),
    Kind(
        RayService,
        "RayService",
        "rayservices",
        (
            PrinterColumn("service status", ".status.serviceStatus", "string"),
            # KubeRay declares this integer status field as a string column; kept as-is.
            PrinterColumn("num serve endpoints", ".status.numServeEndpoints", "string"),
        ),
    ),
    Kind(  # alpha (gate RayCronJob); KubeRay installs its CRD whatever the gate says
        RayCronJob,
        "RayCronJob",
        "raycronjobs",
        (
            PrinterColumn("schedule", ".spec.schedule", "string"),
            PrinterColumn("timezone", ".spec.timeZone", "string"),
            PrinterColumn("last schedule", ".status.lastScheduleTime", "date"),
            _AGE,
            PrinterColumn("suspend", ".spec.suspend", "boolean"),
        ),
    ),
)


class _Converter:
    """Rewrites one pydantic JSON schema into a structural OpenAPI v3 schema."""

    def __init__(self, defs: Mapping[str, Schema]) -> None:
        self._defs = defs
        self._resolving: list[str] = []

    def convert(self, node: Schema, path: str) -> Schema:
        if "$ref" in node:
            return self._inline(node, path)
        if "anyOf" in node:
            return self._union(node, path)
        if "oneOf" in node or "allOf" in node or "not" in node:
            raise CRDSchemaError(f"{path}: oneOf/allOf/not have no structural form")
        kind = node.get("type")
        if kind is None:
            # `Any`: nothing is known, so the API server must keep whatever is there.
            self._check_keys(node, path, set())
            return {"x-kubernetes-preserve-unknown-fields": True}
        if kind == "object":
            return self._object(node, path)
        if kind == "array":
            self._check_keys(node, path, {"items"})
            out = self._copy_scalar_keys(node)
            out["type"] = "array"
            out["items"] = self.convert(node.get("items", {}), f"{path}[]")
            return out
        if kind in _JSON_TYPES:
            return self._scalar(node, path)
        raise CRDSchemaError(f"{path}: unsupported type {kind!r}")

    def _inline(self, node: Schema, path: str) -> Schema:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        if name in self._resolving:
            # A structural schema is a finite tree; a self-referencing model cannot be one.
            raise CRDSchemaError(f"{path}: {name} refers to itself")
        self._resolving.append(name)
        try:
            merged = {**self._defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
            return self.convert(merged, path)
        finally:
            self._resolving.pop()

    def _union(self, node: Schema, path: str) -> Schema:
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        # `X | None` is just X: the API server prunes a null in a non-nullable field before
        # validating, which is the models' meaning of None ("not set"), and it is how
        # KubeRay's CRDs describe the same optional fields.
        branches = [b for b in node["anyOf"] if b != {"type": "null"}]
        if len(branches) == 1:
            return self.convert({**rest, **branches[0]}, path)
        types = {b.get("type") for b in branches}
        if any(set(b) != {"type"} for b in branches) or not types <= {
            "integer",
            "number",
            "string",
        }:
            raise CRDSchemaError(f"{path}: anyOf {branches!r} has no structural form")
        self._check_keys(rest, path, set())
        out = self._copy_scalar_keys(rest)
        if "string" not in types:
            out["type"] = "number"  # int | float: every integer is a JSON number
            return out
        # int | str (and Quantity's int | float | str) take the only union Kubernetes allows.
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        out["x-kubernetes-int-or-string"] = True
        if "number" in types:
            out.setdefault("pattern", QUANTITY_PATTERN)
        return out

    def _object(self, node: Schema, path: str) -> Schema:
        self._check_keys(
            node, path, {"properties", "required", "additionalProperties", CRD_RULES_KEY}
        )
        out = self._copy_scalar_keys(node)
        out["type"] = "object"
        if CRD_RULES_KEY in node:
            out["x-kubernetes-validations"] = list(node[CRD_RULES_KEY])
        extra = node.get("additionalProperties")
        properties: Mapping[str, Schema] = node.get("properties", {})
        if properties:
            # Only KubeRay's own (Strict) models carry KubeRay's defaults; an Open model is a
            # Kubernetes type whose model defaults are conveniences for reading ("" for a
            # missing key) and must not be written into stored objects by the API server.
            keep_defaults = extra is False
            required = list(node.get("required", []))
            out["properties"] = {}
            for name, prop in properties.items():
                if prop.get(CRD_REQUIRED_KEY) and name not in required:
                    required.append(name)
                out["properties"][name] = self._property(prop, f"{path}.{name}", keep_defaults)
            if required:
                out["required"] = required
        if extra is True:
            # An Open model (or dict[str, Any]): keep every field the user wrote, while the
            # fields we read stay typed and validated.
            out["x-kubernetes-preserve-unknown-fields"] = True
        elif isinstance(extra, dict):
            if properties:
                raise CRDSchemaError(f"{path}: properties and additionalProperties together")
            out["additionalProperties"] = self.convert(extra, f"{path}.*")
        elif extra is None and not properties:
            out["x-kubernetes-preserve-unknown-fields"] = True
        # additionalProperties: false (a Strict model) is dropped: the API server prunes
        # unknown fields and kubectl's strict field validation reports them, which is what
        # extra="forbid" means, while `false` itself is not allowed in a structural schema.
        return out

    def _property(self, prop: Schema, path: str, keep_defaults: bool) -> Schema:
        markers = {CRD_REQUIRED_KEY, CRD_DEFAULT_KEY, CRD_RULES_KEY}
        out = self.convert({k: v for k, v in prop.items() if k not in markers}, path)
        if CRD_RULES_KEY in prop:
            out["x-kubernetes-validations"] = list(prop[CRD_RULES_KEY])
        if CRD_DEFAULT_KEY in prop:
            # The field says what KubeRay's CRD defaults it to (None: nothing), whatever the
            # model's own default for reading is.
            default = prop[CRD_DEFAULT_KEY]
            if default is not None and not _valid_default(out, default):
                raise CRDSchemaError(f"{path}: CRD default {default!r} does not fit {out}")
        else:
            default = prop.get("default") if keep_defaults else None
            if default is not None and not _valid_default(out, default):
                default = None
        if default is not None:
            out["default"] = default
        return out

    def _scalar(self, node: Schema, path: str) -> Schema:
        self._check_keys(node, path, {"enum", "const"})
        out = self._copy_scalar_keys(node)
        out["type"] = node["type"]
        if "const" in node:
            out["enum"] = [node["const"]]
        elif "enum" in node:
            out["enum"] = list(node["enum"])
        return out

    @staticmethod
    def _copy_scalar_keys(node: Schema) -> Schema:
        return {k: v for k, v in node.items() if k in _SCALAR_KEYS}

    @staticmethod
    def _check_keys(node: Schema, path: str, allowed: set[str]) -> None:
        unknown = set(node) - allowed - _SCALAR_KEYS - _DROPPED_KEYS - {"type"}
        if unknown:
            raise CRDSchemaError(f"{path}: no structural form for {sorted(unknown)}")


def _valid_default(schema: Schema, value: object) -> bool:
    """A default is kept only when the API server would accept it for the node."""
    accepted = _JSON_TYPES.get(str(schema.get("type")))
    if accepted is None:
        return False
    if isinstance(value, bool) != (schema["type"] == "boolean"):
        return False
    if not isinstance(value, accepted):
        return False
    return "enum" not in schema or value in schema["enum"]


def openapi_schema(model: type[BaseModel]) -> Schema:
    """The structural openAPIV3Schema of a top-level ray.io/v1 model."""
    source = model.model_json_schema(by_alias=True, mode="validation")
    converter = _Converter(source.get("$defs", {}))
    root = converter.convert({k: v for k, v in source.items() if k != "$defs"}, model.__name__)
    props: Schema = root.setdefault("properties", {})
    # The envelope is the API server's: apiVersion/kind are plain strings and metadata may
    # only be `type: object` at the root (Kubernetes validates ObjectMeta itself).
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    root.pop("required", None)
    return root


def crd_manifest(kind: Kind) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of one kind."""
    schema = {"openAPIV3Schema": openapi_schema(kind.model)}
    versions: list[dict[str, Any]] = [
        {
            "name": VERSION,
            "served": True,
            "storage": True,
            "schema": schema,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [c.manifest() for c in kind.columns],
        }
    ]
    if kind.served_v1alpha1:
        alpha: dict[str, Any] = {
            "name": ALPHA_VERSION,
            "served": True,
            "storage": False,
            "deprecated": True,
            "deprecationWarning": alpha_deprecation(kind.kind),
            # v1's schema, not KubeRay's frozen v1alpha1 one: with no conversion webhook
            # a field v1alpha1 lacked would be pruned from a v1 object read as v1alpha1.
            "schema": copy.deepcopy(schema),
            "subresources": {"status": {}},
        }
        if kind.v1alpha1_columns:
            alpha["additionalPrinterColumns"] = [c.manifest() for c in kind.columns]
        versions.append(alpha)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name},
        "spec": {
            "group": GROUP,
            "names": {
                "categories": ["all"],
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
            },
            "scope": "Namespaced",
            "versions": versions,
        },
    }


def crd_manifests() -> list[dict[str, Any]]:
    """One CRD per kind, in the order of KINDS."""
    return [crd_manifest(kind) for kind in KINDS]


def _dump(doc: Mapping[str, Any]) -> str:
    # Sorted keys and no line wrapping: the text depends only on the content, so the
    # checked-in copies change only when the models do.
    return "---\n" + yaml.safe_dump(
        dict(doc), sort_keys=True, default_flow_style=False, width=1_000_000
    )


def crd_files() -> dict[str, str]:
    """File name -> text of every generated file under deploy/crds."""
    return {kind.filename: HEADER + _dump(crd_manifest(kind)) for kind in KINDS}


def render_crds_yaml() -> str:
    """Every CRD as one multi-document YAML stream, for `kubectl apply -f -`."""
    return HEADER + "".join(_dump(doc) for doc in crd_manifests())


def regenerate(directory: str | Path) -> list[Path]:
    """Write one file per CRD into *directory*; returns the paths written."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in crd_files().items():
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str]) -> int:
    """`python -m rayplane.api.crds [DIR]`: regenerate the CRDs (default: deploy/crds)."""
    if len(argv) > 1:
        print("usage: python -m rayplane.api.crds [DIR]", file=sys.stderr)
        return 2
    for path in regenerate(argv[0] if argv else "deploy/crds"):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
