"""Object metadata as the API server checks it: namespace, generateName, labels, annotations.

rayplane stores and runs what it accepts (the local runtime has no API server in front of
it), so whatever Kubernetes would refuse at create time is refused here, with the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rayplane.api.findings import Findings, show
from rayplane.api.validation.names import (
    dns1035_problem,
    dns1123_label_problem,
    label_key_problem,
    label_value_problem,
)
from rayplane.api.validation.paths import join

# apimachinery's TotalAnnotationSizeLimitB: keys and values of one object together.
ANNOTATIONS_LIMIT = 256 * 1024
# The API server appends five random characters to generateName (names.SimpleNameGenerator).
GENERATED_SUFFIX = 5


def check_namespace(namespace: Any, path: str, out: Findings) -> None:
    if namespace is None or namespace == "":
        return
    problem = dns1123_label_problem(namespace) if isinstance(namespace, str) else None
    if not isinstance(namespace, str):
        problem = "must be a string"
    if problem:
        out.error(
            path,
            f"{show(namespace)} {problem} (a namespace is a DNS-1123 label), e.g. default.",
            namespace,
        )


def check_generate_name(prefix: str, limit: int, path: str, out: Findings) -> None:
    """*prefix* must make a valid name of at most *limit* once the suffix is added."""
    # Like the API server, a trailing '-' is fine in a prefix ("demo-" -> "demo-x7k2p").
    masked = prefix[:-1] + "a" if prefix.endswith("-") else prefix
    problem = dns1035_problem(masked, limit - GENERATED_SUFFIX)
    if problem:
        problem = problem.replace(f"at most {limit - GENERATED_SUFFIX} are allowed", "")
        out.error(
            path,
            f"{show(prefix)}: names generated from it (it plus {GENERATED_SUFFIX} random "
            f"characters) must be DNS-1035 labels of at most {limit} characters, so the prefix "
            f"is at most {limit - GENERATED_SUFFIX} lowercase letters, digits and '-', "
            "starting with a letter, e.g. generateName: demo-.",
            prefix,
        )


def check_labels(labels: Any, path: str, out: Findings) -> None:
    """Label keys are qualified names, values at most 63 characters of [A-Za-z0-9-_.]."""
    if not isinstance(labels, Mapping):
        return
    for key, value in labels.items():
        kpath = join(path, str(key))
        problem = label_key_problem(key) if isinstance(key, str) else "must be a string"
        if problem:
            out.error(kpath, f"label key {show(key)} {problem}.", key)
        if not isinstance(value, str):
            continue  # the model's type check reports it
        problem = label_value_problem(value)
        if problem:
            out.error(kpath, f"label value {show(value)} {problem}.", value)


def check_annotations(annotations: Any, path: str, out: Findings) -> None:
    """Annotation keys are qualified names; keys and values together at most 256 KiB."""
    if not isinstance(annotations, Mapping):
        return
    total = 0
    for key, value in annotations.items():
        problem = label_key_problem(key) if isinstance(key, str) else "must be a string"
        if problem:
            out.error(join(path, str(key)), f"annotation key {show(key)} {problem}.", key)
        total += len(str(key).encode()) + len(str(value).encode())
    if total > ANNOTATIONS_LIMIT:
        out.error(
            path,
            f"keys and values add up to {total} bytes; Kubernetes allows at most "
            f"{ANNOTATIONS_LIMIT} (256 KiB) of annotations per object. Move large data to a "
            "ConfigMap.",
        )


def check_template_meta(meta: Any, path: str, out: Findings) -> None:
    """Labels and annotations of an embedded template (pod or service)."""
    if meta is None:
        return
    labels = meta.get("labels") if isinstance(meta, Mapping) else getattr(meta, "labels", None)
    annotations = (
        meta.get("annotations") if isinstance(meta, Mapping) else getattr(meta, "annotations", None)
    )
    check_labels(labels, join(path, "labels"), out)
    check_annotations(annotations, join(path, "annotations"), out)
