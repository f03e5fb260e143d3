"""The validating admission webhook: the same validation as ``rayplane validate``.

The API server sends every CREATE and UPDATE of a RayCluster, RayJob or RayService to the
operator's kopf webhook server; :func:`admission_problems` runs
:func:`rayplane.api.validation.validate` on the object and a denial lists every error with
its field path (``spec.rayClusterSpec.headGroupSpec.template.spec.containers: ...``), so
``kubectl apply`` prints what to fix. Warnings go back as admission warnings.

The handler ids are KubeRay's webhook paths (``/validate-ray-io-v1-raycluster``), so a
ValidatingWebhookConfiguration written for KubeRay's webhook works unchanged; KubeRay itself
only validates RayClusters there (names and unique worker group names), this validates
all three kinds with the full rule set. TLS: see docs/kubernetes.md.
"""

from __future__ import annotations

from typing import Any

from rayplane.api.validation import FeatureGates, validate

WEBHOOK_PATHS = {
    "RayCluster": "validate-ray-io-v1-raycluster",
    "RayJob": "validate-ray-io-v1-rayjob",
    "RayService": "validate-ray-io-v1-rayservice",
}
PLURALS = {"RayCluster": "rayclusters", "RayJob": "rayjobs", "RayService": "rayservices"}
MAX_MESSAGE = 3000


def admission_problems(
    body: dict[str, Any], gates: FeatureGates | None = None
) -> tuple[str | None, list[str]]:
    """(denial message or None, warnings) for the object *body* under admission.

    Fields the API server fills in (status, managedFields, uid...) are dropped first:
    the object is judged as the user wrote it.
    """
    document = {k: v for k, v in body.items() if k != "status"}
    metadata = dict(document.get("metadata") or {})
    for key in ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"):
        metadata.pop(key, None)
    document["metadata"] = metadata
    report = validate(document, gates)
    warnings = [str(finding) for finding in report.warnings]
    if not report.errors:
        return None, warnings
    kind = report.kind or str(body.get("kind") or "object")
    name = report.name or metadata.get("name") or metadata.get("generateName") or ""
    lines = "; ".join(str(finding) for finding in report.errors)
    message = f"{kind} {name!r} is invalid: {lines}"
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return message, warnings
