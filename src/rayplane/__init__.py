"""rayplane: run KubeRay's ray.io/v1 resources on Kubernetes or on one machine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rayplane")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
