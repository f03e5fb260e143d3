"""One validation for every entry point: `rayplane validate`, `apply`, and the webhook.

``validate`` never raises on bad input: whatever the document, it returns a Report with
every finding, so a caller can print them all at once or deny an admission with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from rayplane.api.common import (
    ALPHA_API_VERSION,
    ALPHA_KINDS,
    API_VERSION,
    Resource,
    alpha_deprecation,
)
from rayplane.api.findings import Finding, Findings, show
from rayplane.api.raycluster import RayCluster
from rayplane.api.raycronjob import RayCronJob
from rayplane.api.rayjob import RayJob
from rayplane.api.rayservice import RayService
from rayplane.api.validation.cluster import validate_cluster_spec
from rayplane.api.validation.cronjob import validate_raycronjob_spec
from rayplane.api.validation.gates import FeatureGates
from rayplane.api.validation.job import validate_rayjob
from rayplane.api.validation.meta import (
    check_annotations,
    check_generate_name,
    check_labels,
    check_namespace,
)
from rayplane.api.validation.names import dns1035_problem
from rayplane.api.validation.service import validate_rayservice
from rayplane.api.validation.structure import parse, suggest, without_nulls

KINDS: dict[str, type[Resource]] = {
    "RayCluster": RayCluster,
    "RayJob": RayJob,
    "RayService": RayService,
    "RayCronJob": RayCronJob,
}
# Name limits leave room for the suffixes KubeRay appends (contract section 5); a
# RayCronJob's RayJobs are named <name>-<unix minute>, ten digits more than 36.
NAME_LIMITS = {"RayCluster": 53, "RayJob": 47, "RayService": 47, "RayCronJob": 36}

__all__ = ["KINDS", "FeatureGates", "Report", "validate", "validate_object"]


@dataclass
class Report:
    """The outcome of validating one document."""

    kind: str
    name: str
    findings: list[Finding] = field(default_factory=list)
    resource: Resource | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors and self.resource is not None


def validate(raw: Any, gates: FeatureGates | None = None) -> Report:
    """Validate one parsed document; never raises for bad input."""
    gates = gates or FeatureGates()
    out = Findings()
    if not isinstance(raw, dict):
        out.error(
            "(document)",
            f"is a {type(raw).__name__}, not an object with apiVersion, kind, metadata and spec.",
        )
        return Report("", "", out.items)
    kind = raw.get("kind")
    name = _name(raw)
    if not kind:
        out.error("kind", "is missing.", allowed=", ".join(KINDS))
    elif not isinstance(kind, str) or kind not in KINDS:
        guess = suggest(str(kind), list(KINDS))
        hint = f" Did you mean '{guess}'?" if guess else ""
        out.error("kind", f"'{kind}' is not a kind rayplane runs.{hint}", kind, ", ".join(KINDS))
    api = raw.get("apiVersion")
    if api == ALPHA_API_VERSION and kind in ALPHA_KINDS:
        # Served as KubeRay's API server serves it: the same object, stored as v1.
        out.warn("apiVersion", f"{alpha_deprecation(str(kind))} It is stored as {API_VERSION}.")
        raw = {**raw, "apiVersion": API_VERSION}
        api = API_VERSION
    if api != API_VERSION:
        fix = (
            f" KubeRay serves ray.io/v1alpha1 only for {', '.join(ALPHA_KINDS)}; "
            "change it to ray.io/v1."
            if api == ALPHA_API_VERSION
            else ""
        )
        out.error("apiVersion", f"is {api!r}; rayplane reads {API_VERSION}.{fix}", api, API_VERSION)
    if not isinstance(kind, str) or kind not in KINDS:
        return Report(str(kind or ""), name, out.items)
    model_cls = KINDS[kind]
    raw = without_nulls(raw)
    if "spec" not in raw:
        out.error(
            "spec",
            f"is missing or null, but it must be a mapping: the {kind}'s spec (see "
            "KubeRay's samples for one to start from).",
        )
        return Report(str(kind), name, out.items)
    # A wrong apiVersion is reported above; a right one stays, so resource.wire() has it.
    body = raw if api == API_VERSION else {k: v for k, v in raw.items() if k != "apiVersion"}
    parsed = parse(model_cls, body, out)
    if isinstance(parsed, Resource):
        # Fields with type errors were dropped for the rules, which then saw defaults there;
        # what the rules say at or under such a field is about the default, not the user's.
        dropped = [f.path for f in out.items if f.path not in ("kind", "apiVersion")]
        rules = Findings()
        _rules(parsed, rules, gates)
        out.items.extend(f for f in rules.items if not _under_any(f.path, dropped))
        resource: Resource | None = parsed if not out.errors else None
    else:
        resource = None
    return Report(str(kind), name, out.items, resource)


def validate_object(obj: BaseModel, gates: FeatureGates | None = None) -> Report:
    """Validate an object already in model form (e.g. after the controller edits it)."""
    assert isinstance(obj, Resource)
    return validate(obj.wire(), gates)


def _check_identity(obj: Resource, out: Findings) -> None:
    """Name (or generateName on create), namespace, labels and annotations of the object."""
    meta = obj.metadata
    limit = NAME_LIMITS[obj.kind]
    if meta.name:
        problem = dns1035_problem(meta.name, limit)
        if problem:
            out.error("metadata.name", f"{show(meta.name)} {problem}.", meta.name)
    elif meta.generate_name:
        # `kubectl create` of KubeRay's samples: the API server makes the name.
        check_generate_name(meta.generate_name, limit, "metadata.generateName", out)
    else:
        out.error(
            "metadata.name",
            "is missing; every resource needs a name (e.g. name: demo), or a generateName "
            "prefix (e.g. generateName: demo-) for the name to be made on create.",
        )
    check_namespace(meta.namespace, "metadata.namespace", out)
    check_labels(meta.labels, "metadata.labels", out)
    check_annotations(meta.annotations, "metadata.annotations", out)


def _under_any(path: str, parents: list[str]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in parents)


def _name(raw: dict[str, Any]) -> str:
    meta = raw.get("metadata")
    return str(meta.get("name") or "") if isinstance(meta, dict) else ""


def _rules(obj: Resource, out: Findings, gates: FeatureGates) -> None:
    _check_identity(obj, out)
    annotations = obj.metadata.annotations or {}
    if isinstance(obj, RayCluster):
        validate_cluster_spec(obj.spec, "spec", out, gates, annotations, standalone=True)
        conditions = {c.type: c.status for c in (obj.status.conditions or [])} if obj.status else {}
        if (
            conditions.get("RayClusterSuspending") == "True"
            and conditions.get("RayClusterSuspended") == "True"
        ):
            out.error(
                "status.conditions",
                "RayClusterSuspending and RayClusterSuspended cannot both be True.",
            )
    elif isinstance(obj, RayJob):
        validate_rayjob(obj, out, gates)
    elif isinstance(obj, RayService):
        validate_rayservice(obj, out, gates)
    elif isinstance(obj, RayCronJob):
        if not gates.RayCronJob:
            out.error(
                "kind",
                "RayCronJob is an alpha KubeRay feature behind the RayCronJob feature gate, "
                "off by default. " + gates.hint("RayCronJob"),
                "RayCronJob",
            )
        validate_raycronjob_spec(obj, out, gates)
