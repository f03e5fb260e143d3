"""The controller's own checks of a write: URL and body name one object, data within 1 MiB.

The CLI validates before it sends, but the socket takes any client. The store keys rows
by the URL's kind/namespace/name and paths under the home are built from them, so the
controller refuses a write whose URL disagrees with its body (as the Kubernetes API server
answers 400) or whose namespace or name is not a Kubernetes name (422), whatever the
client checked.
"""

from __future__ import annotations

from typing import Any

from rayplane.api.configdata import sizes
from rayplane.api.validation.names import dns1123_label_problem, dns1123_subdomain_problem

#: The API server's cap on a Secret's or ConfigMap's data (etcd's value limit is near).
MAX_DATA_BYTES = 1024 * 1024


def identity_problem(kind: str, namespace: str, name: str, body: Any) -> tuple[int, Any] | None:
    """(status, payload) refusing a PUT to /resources/kind/namespace/name, or None."""
    if not isinstance(body, dict):
        what = type(body).__name__ if body is not None else "an empty body"
        return 400, {"message": f"the body of a PUT must be a JSON object (a {kind}), not {what}"}
    meta = body.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return 400, {"message": "metadata must be an object with name and namespace"}
    meta = meta or {}
    mismatches = [
        (field, got, want)
        for field, got, want in (
            ("kind", body.get("kind"), kind),
            ("metadata.name", meta.get("name"), name),
            # An unset namespace takes the URL's, as kubectl's requests rely on.
            ("metadata.namespace", meta.get("namespace") or namespace, namespace),
        )
        if got != want
    ]
    if mismatches:
        field, got, want = mismatches[0]
        return 400, {
            "message": f"{field} of the body is {got!r} but the URL names {want!r}; "
            f"PUT the object to /resources/<kind>/<namespace>/<name> of its own identity",
        }
    findings = [
        {"path": path, "message": f"{value!r} {problem}.", "value": value, "severity": "error"}
        for path, value, problem in (
            ("metadata.namespace", namespace, dns1123_label_problem(namespace)),
            ("metadata.name", name, dns1123_subdomain_problem(name)),
        )
        if problem
    ]
    if findings:
        return 422, {"message": "invalid", "findings": findings}
    return None


def data_size_problem(kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The 422 the API server gives a Secret or ConfigMap whose data passes 1 MiB, or None.

    Counted as Kubernetes counts it: a Secret's decoded bytes (stringData included), a
    ConfigMap's data and binaryData together.
    """
    total = sum(sizes(body).values())
    if total <= MAX_DATA_BYTES:
        return None
    return {
        "message": "invalid",
        "findings": [
            {
                "path": "data",
                "message": f"Too long: must have at most {MAX_DATA_BYTES} bytes (the {kind} "
                f"holds {total}); keep large files out of {kind}s, e.g. in the image or a "
                "mounted volume",
                "severity": "error",
            }
        ],
    }
