"""rayplane's CRDs against KubeRay's, field by field (two levels under spec and status).

The fixture under tests/api/kuberay_crds is KubeRay's own generated CRDs (tag and commit in
each file's header), trimmed to what is compared here. A user who moves a resource between
KubeRay and rayplane should find the same fields with the same types, the same required
fields and the same defaults the API server writes; every way in which rayplane's CRDs differ
is listed in ALLOWED with the reason, and an entry that no longer differs is an error too, so
the list stays the truth.

Differences that hold everywhere, and so are not listed per field:

- rayplane's Kubernetes-owned types (pod templates, Services, status) carry
  ``x-kubernetes-preserve-unknown-fields`` so that fields rayplane does not model survive,
  where KubeRay spells out the full Kubernetes schema; that is not compared.
- ``format`` (int32, int64, date-time) and descriptions are not generated; integer ranges
  are enforced by minimum/maximum instead.
- v1alpha1 has v1's schema (KubeRay keeps its frozen v1alpha1 schema; with no conversion
  webhook a v1 field read through v1alpha1 would otherwise be pruned).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayplane.api import crds
from rayplane.api.common import ALPHA_KINDS

FIXTURES = Path(__file__).resolve().parent / "kuberay_crds"
LEVELS = 2

# (kind, path, aspect) -> why rayplane differs on purpose. Paths are as in `_facts`: dots
# for properties, [] for list items, {} for map values.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("RayJob", "spec.submissionMode", "enum"): (
        "KubeRay checks the mode in its Go validation and records a failed RayJob; the CRD "
        "refuses an unknown mode at `kubectl apply`, naming the allowed ones."
    ),
    ("RayService", "spec.upgradeStrategy.type", "enum"): (
        "As submissionMode: refused at apply time instead of by the controller later."
    ),
    ("RayCronJob", "spec.jobTemplate.submissionMode", "enum"): (
        "The jobTemplate is a RayJob spec: the same enum as RayJob's submissionMode."
    ),
    **{
        (kind, f"{prefix}.{field}", "extra"): (
            "Idle termination (issue 15 item 4): KubeRay PR #5210's fields, which Ray 2.60's "
            "KubeRay cloud provider already writes; KubeRay has not merged them yet."
        )
        for kind, prefix in (
            ("RayCluster", "spec"),
            ("RayJob", "spec.rayClusterSpec"),
            ("RayService", "spec.rayClusterConfig"),
        )
        for field in ("idleSuspend", "idleTerminationOptions")
    },
    **{
        ("RayCluster", f"spec.idleTerminationOptions.{field}", "extra"): (
            "The fields of idleTerminationOptions, as KubeRay PR #5210 and Ray 2.60 name them."
        )
        for field in ("timeoutSeconds", "policy")
    },
}

# KubeRay kinds that rayplane does not define a CRD for yet: kind -> where it is being built.
# When the kind gets its CRD, the comparison covers it and this entry must go.
NOT_YET: dict[str, str] = {}


@dataclass(frozen=True)
class Facts:
    """What is compared of one schema node."""

    type: str | None
    required: tuple[str, ...]
    pattern: str | None
    enum: tuple[Any, ...] | None
    default: Any
    rules: tuple[tuple[str, str], ...]  # CEL (rule, message)

    def aspects(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "required": self.required,
            "pattern": self.pattern,
            "enum": self.enum,
            "default": self.default,
            "rules": self.rules,
        }


def _facts(node: dict[str, Any], path: str, levels: int, out: dict[str, Facts]) -> None:
    """Facts of *node* and of its properties *levels* deep, lists and maps not counting."""
    int_or_string = bool(node.get("x-kubernetes-int-or-string"))
    out[path] = Facts(
        type="int-or-string" if int_or_string else node.get("type"),
        required=tuple(sorted(node.get("required", []))),
        # Only an int-or-string's pattern (the Quantity one) is compared: KubeRay puts other
        # patterns on fields three and more levels down only.
        pattern=node.get("pattern") if int_or_string else None,
        enum=tuple(node["enum"]) if "enum" in node else None,
        default=node.get("default"),
        rules=tuple(
            (r["rule"], r.get("message", "")) for r in node.get("x-kubernetes-validations", [])
        ),
    )
    if int_or_string:
        return
    if "items" in node:
        _facts(node["items"], f"{path}[]", levels, out)
    elif isinstance(node.get("additionalProperties"), dict):
        _facts(node["additionalProperties"], f"{path}{{}}", levels, out)
    elif levels > 0:
        for name, child in node.get("properties", {}).items():
            _facts(child, f"{path}.{name}", levels - 1, out)


@functools.cache
def _kuberay() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(FIXTURES.glob("ray.io_*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        docs[doc["spec"]["names"]["kind"]] = doc
    return docs


@functools.cache
def _ours() -> dict[str, dict[str, Any]]:
    return {crd["spec"]["names"]["kind"]: crd for crd in crds.crd_manifests()}


def _version(crd: dict[str, Any], name: str) -> dict[str, Any]:
    for version in crd["spec"]["versions"]:
        if version["name"] == name:
            result: dict[str, Any] = version
            return result
    raise AssertionError(f"{crd['metadata']['name']} has no version {name}")


def _compared_kinds() -> list[str]:
    return sorted(set(_kuberay()) & set(_ours()))


def _all_facts(crd: dict[str, Any]) -> dict[str, Facts]:
    root = _version(crd, "v1")["schema"]["openAPIV3Schema"]["properties"]
    out: dict[str, Facts] = {}
    for part in ("spec", "status"):
        _facts(root[part], part, LEVELS, out)
    return out


def _differences(kind: str) -> Iterator[tuple[str, str, str]]:
    """(path, aspect, explanation) for each way rayplane's schema differs from KubeRay's."""
    theirs = _all_facts(_kuberay()[kind])
    ours = _all_facts(_ours()[kind])
    for path in sorted(set(theirs) | set(ours)):
        if path not in ours:
            yield path, "missing", f"KubeRay has {path} ({theirs[path].type}); rayplane does not"
        elif path not in theirs:
            yield path, "extra", f"rayplane has {path} ({ours[path].type}); KubeRay does not"
        else:
            mine, kuberay = ours[path].aspects(), theirs[path].aspects()
            for aspect in mine:
                if mine[aspect] != kuberay[aspect]:
                    yield (
                        path,
                        aspect,
                        f"{path} {aspect}: KubeRay {kuberay[aspect]!r}, rayplane {mine[aspect]!r}",
                    )


# --- the fixture is what it says it is ---------------------------------------------------------


def test_fixture_names_its_source() -> None:
    for path in FIXTURES.glob("ray.io_*.yaml"):
        header = path.read_text(encoding="utf-8").splitlines()[:3]
        assert any("github.com/ray-project/kuberay" in line for line in header), path
        assert any(line.startswith("# Tag v") and "commit" in line for line in header), path


def test_every_kuberay_kind_has_a_crd() -> None:
    missing = sorted(set(_kuberay()) - set(_ours()) - set(NOT_YET))
    assert missing == [], f"KubeRay defines {missing}; rayplane has no CRD for them"
    landed = sorted(set(NOT_YET) & set(_ours()))
    assert landed == [], f"{landed} now have a CRD and are compared; drop them from NOT_YET"


# --- spec and status, two levels deep ----------------------------------------------------------


@pytest.mark.parametrize("kind", _compared_kinds())
def test_schema_matches_kuberay(kind: str) -> None:
    unexplained = [
        text for path, aspect, text in _differences(kind) if (kind, path, aspect) not in ALLOWED
    ]
    assert unexplained == [], "\n".join(unexplained)


def test_allowed_differences_still_differ() -> None:
    actual = {
        (kind, path, aspect) for kind in _compared_kinds() for path, aspect, _ in _differences(kind)
    }
    stale = sorted(set(ALLOWED) - actual)
    assert stale == [], f"these no longer differ from KubeRay; drop them from ALLOWED: {stale}"


def test_comparison_sees_a_difference() -> None:
    """The comparison itself works: a changed type, a dropped field and a lost required show."""
    node = {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
    }
    changed = {"type": "object", "properties": {"a": {"type": "integer"}}}
    theirs: dict[str, Facts] = {}
    ours: dict[str, Facts] = {}
    _facts(node, "spec", LEVELS, theirs)
    _facts(changed, "spec", LEVELS, ours)
    assert set(theirs) - set(ours) == {"spec.b"}
    assert theirs["spec"].required != ours["spec"].required
    assert theirs["spec.a"].type != ours["spec.a"].type


# --- the rest of the CRD: names, versions, columns ---------------------------------------------


@pytest.mark.parametrize("kind", _compared_kinds())
def test_names_scope_and_group_match_kuberay(kind: str) -> None:
    theirs, ours = _kuberay()[kind]["spec"], _ours()[kind]["spec"]
    assert ours["names"] == theirs["names"]
    assert (ours["group"], ours["scope"]) == (theirs["group"], theirs["scope"])
    assert _ours()[kind]["metadata"]["name"] == _kuberay()[kind]["metadata"]["name"]


def _envelope(version: dict[str, Any]) -> dict[str, Any]:
    keys = ("served", "storage", "deprecated", "deprecationWarning", "subresources")
    return {key: version.get(key) for key in keys}


@pytest.mark.parametrize("kind", _compared_kinds())
def test_versions_match_kuberay(kind: str) -> None:
    """v1 is stored; v1alpha1 served and deprecated with KubeRay's warning where it has it."""
    theirs, ours = _kuberay()[kind]["spec"]["versions"], _ours()[kind]["spec"]["versions"]
    assert [v["name"] for v in ours] == [v["name"] for v in theirs]
    for mine, kuberay in zip(ours, theirs, strict=True):
        assert _envelope(mine) == _envelope(kuberay), mine["name"]


@pytest.mark.parametrize("kind", _compared_kinds())
def test_printer_columns_match_kuberay(kind: str) -> None:
    theirs, ours = _kuberay()[kind]["spec"]["versions"], _ours()[kind]["spec"]["versions"]
    for mine, kuberay in zip(ours, theirs, strict=True):
        assert mine.get("additionalPrinterColumns") == kuberay.get("additionalPrinterColumns"), (
            f"{kind} {mine['name']}"
        )


@pytest.mark.parametrize("kind", sorted(ALPHA_KINDS))
def test_v1alpha1_has_the_v1_schema(kind: str) -> None:
    crd = _ours()[kind]
    assert _version(crd, "v1alpha1")["schema"] == _version(crd, "v1")["schema"]
