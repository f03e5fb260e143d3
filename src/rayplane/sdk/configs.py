"""Secret and ConfigMap handles: what a cluster's ``valueFrom`` and ``envFrom`` read.

Stored at once, with nothing to wait for; the local runtime keeps them for its nodes as
Kubernetes keeps them for Pods.
"""

from __future__ import annotations

from typing import ClassVar

from rayplane.sdk.resource import Resource


class Secret(Resource):
    """A core/v1 Secret."""

    kind: ClassVar[str] = "Secret"
    api_version: ClassVar[str] = "v1"


class ConfigMap(Resource):
    """A core/v1 ConfigMap."""

    kind: ClassVar[str] = "ConfigMap"
    api_version: ClassVar[str] = "v1"
