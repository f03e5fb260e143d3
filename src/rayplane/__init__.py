"""rayplane: run KubeRay's ray.io/v1 resources on Kubernetes or on one machine.

The Python API lives here, one import away::

    import rayplane

    with rayplane.Cluster.from_yaml("examples/raycluster-basic.yaml") as cluster:
        print(cluster.dashboard_url, cluster.address)

Names are imported on first use, so ``import rayplane`` stays cheap and does not import
Ray (a driver must set Ray's loopback switch before Ray is imported).
"""

from __future__ import annotations

import importlib
import sys
import types
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("rayplane")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from rayplane.sdk.backend import BackendError, NodeInfo
    from rayplane.sdk.errors import ApplyError, NotFoundError, WaitError
    from rayplane.sdk.resources import Cluster, ConfigMap, RayJob, RayService, Secret
    from rayplane.sdk.runtime import Runtime, kubernetes, local
    from rayplane.sdk.status import Condition, Status

_LAZY = {
    "ApplyError": "rayplane.sdk.errors",
    "BackendError": "rayplane.sdk.backend",
    "Cluster": "rayplane.sdk.resources",
    "Condition": "rayplane.sdk.status",
    "ConfigMap": "rayplane.sdk.resources",
    "NodeInfo": "rayplane.sdk.backend",
    "NotFoundError": "rayplane.sdk.errors",
    "RayJob": "rayplane.sdk.resources",
    "RayService": "rayplane.sdk.resources",
    "Runtime": "rayplane.sdk.runtime",
    "Secret": "rayplane.sdk.resources",
    "Status": "rayplane.sdk.status",
    "WaitError": "rayplane.sdk.errors",
    "kubernetes": "rayplane.sdk.runtime",
}

__all__ = [
    "ApplyError",
    "BackendError",
    "Cluster",
    "Condition",
    "ConfigMap",
    "NodeInfo",
    "NotFoundError",
    "RayJob",
    "RayService",
    "Runtime",
    "Secret",
    "Status",
    "WaitError",
    "__version__",
    "kubernetes",
    "local",
]


class _LocalPackage(types.ModuleType):
    """The local runtime's package, callable as the SDK's ``rayplane.local(home=None)``.

    Python binds an imported subpackage as an attribute of its parent, so ``rayplane.local``
    is the package :mod:`rayplane.local` as soon as anything imports it (the SDK itself
    does). Calling that package is calling :func:`rayplane.sdk.runtime.local`, so the public
    name works however it was reached, and ``rayplane.local.client`` still imports.
    """

    def __call__(self, home: Any = None) -> Any:
        return importlib.import_module("rayplane.sdk.runtime").local(home)


class _Package(types.ModuleType):
    """This package: makes the ``local`` subpackage callable when the import binds it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "local" and type(value) is types.ModuleType:
            value.__class__ = _LocalPackage
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name == "local":  # the callable package (see _LocalPackage); importing it binds it
        return importlib.import_module("rayplane.local")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rayplane' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"local"})
