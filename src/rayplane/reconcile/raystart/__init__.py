"""The one `ray start` command line, by KubeRay's rules, one room per concern.

* :mod:`.command`: the command of a head or worker group (:func:`build_ray_start`);
* :mod:`.resources`: resource flags and the autoscaler's view of a group's resources;
* :mod:`.options`: which `ray start` option a param reaches, as click reads it;
* :mod:`.shell`: bash quote removal of one flag.
"""

from rayplane.reconcile.raystart.command import RayStartCommand, build_ray_start, head_port
from rayplane.reconcile.raystart.options import option_name
from rayplane.reconcile.raystart.resources import is_gpu_resource_key, ray_resources

__all__ = [
    "RayStartCommand",
    "build_ray_start",
    "head_port",
    "is_gpu_resource_key",
    "option_name",
    "ray_resources",
]
