"""Trim KubeRay's generated CRDs to what tests/api/test_crds_kuberay.py reads.

KubeRay's four CRDs are ~4 MB, almost all of it descriptions and the expanded pod template.
The comparison reads, for every version: names, served/storage/deprecation, printer columns,
subresources; for v1 only, spec and status two levels deep (type, int-or-string and its
pattern, required, enum, default, CEL rules). Everything else is dropped, so the fixture
stays small and every line of it is something a test checks.

Refresh with (the mirror is a bare clone of ray-project/kuberay)::

    python tests/api/kuberay_crds/trim.py /path/to/kuberay.git v1.7.0
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SOURCE = "ray-operator/config/crd/bases/ray.io_{plural}.yaml"
PLURALS = ("rayclusters", "rayjobs", "rayservices", "raycronjobs")
DEPTH = 2
KEPT = (
    "type",
    "x-kubernetes-int-or-string",
    "pattern",
    "required",
    "enum",
    "default",
    "x-kubernetes-validations",
)


def trim_node(node: dict[str, Any], depth: int) -> dict[str, Any]:
    """*node* with only the compared keys, its properties *depth* levels down."""
    out = {k: node[k] for k in KEPT if k in node}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        return out
    if "items" in node:
        out["items"] = trim_node(node["items"], depth)  # a list is not a level
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = trim_node(node["additionalProperties"], depth)
    if depth > 0 and "properties" in node:
        out["properties"] = {k: trim_node(v, depth - 1) for k, v in node["properties"].items()}
    return out


def trim(doc: dict[str, Any]) -> dict[str, Any]:
    versions = []
    for version in doc["spec"]["versions"]:
        kept = {k: v for k, v in version.items() if k != "schema"}
        if version["name"] == "v1":
            root = version["schema"]["openAPIV3Schema"]["properties"]
            kept["schema"] = {
                "openAPIV3Schema": {
                    "properties": {
                        part: trim_node(root[part], DEPTH)
                        for part in ("spec", "status")
                        if part in root
                    }
                }
            }
        versions.append(kept)
    spec = {k: v for k, v in doc["spec"].items() if k != "versions"}
    return {
        "apiVersion": doc["apiVersion"],
        "kind": doc["kind"],
        "metadata": {"name": doc["metadata"]["name"]},
        "spec": {**spec, "versions": versions},
    }


def main(repo: str, tag: str) -> None:
    commit = subprocess.run(
        ["git", "--git-dir", repo, "rev-parse", f"{tag}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    for plural in PLURALS:
        path = SOURCE.format(plural=plural)
        text = subprocess.run(
            ["git", "--git-dir", repo, "show", f"{commit}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        header = (
            f"# KubeRay's CRD, trimmed by tests/api/kuberay_crds/trim.py (see there).\n"
            f"# Source: github.com/ray-project/kuberay {path}\n"
            f"# Tag {tag}, commit {commit}\n"
        )
        body = yaml.safe_dump(trim(yaml.safe_load(text)), sort_keys=True, width=1_000_000)
        (HERE / f"ray.io_{plural}.yaml").write_text(header + body, encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
