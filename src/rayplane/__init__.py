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


class _RuntimePackage(types.ModuleType):
    """A runtime's package (:mod:`rayplane.local`, :mod:`rayplane.kubernetes`), callable as
    the SDK function of the same name (``rayplane.local(home=None)``,
    ``rayplane.kubernetes(kubeconfig=None, context=None, namespace=None)``).

    Python binds an imported subpackage as an attribute of its parent, so ``rayplane.local``
    is the package :mod:`rayplane.local` as soon as anything imports it (the SDK itself
    does). Calling the package calls :mod:`rayplane.sdk.runtime`'s function, so the public
    names work however they were reached, and ``rayplane.local.client`` still imports.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        function = getattr(importlib.import_module("rayplane.sdk.runtime"), self.__name__[9:])
        return function(*args, **kwargs)


_RUNTIMES = ("local", "kubernetes")


class _Package(types.ModuleType):
    """This package: makes a runtime's subpackage callable when the import binds it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _RUNTIMES and type(value) is types.ModuleType:
            value.__class__ = _RuntimePackage
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
for _name in _RUNTIMES:  # a runtime package imported before this line (none, normally)
    _bound = sys.modules.get(f"{__name__}.{_name}")
    if _bound is not None:
        setattr(sys.modules[__name__], _name, _bound)


def __getattr__(name: str) -> Any:
    if name in _RUNTIMES:  # the callable package (see _RuntimePackage); importing binds it
        return importlib.import_module(f"rayplane.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rayplane' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
