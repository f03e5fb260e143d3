"""The `ray start` options only the local runtime sets, and the user params it drops.

Many nodes of many clusters share one host, and none may listen off loopback: so the
local runtime chooses every port, the node address, the dashboard host and the temp dir
itself. A KubeRay YAML routinely sets some of them (``dashboard-host: '0.0.0.0'``,
``port``, ``metrics-export-port``: KubeRay's own samples do), and such YAML must keep
working unchanged; those params are therefore dropped, never refused, and every dropped
param is said in `apply`'s output and in `describe` (:func:`dropped_param_notes`).

The pinning itself is done by :func:`rayplane.reconcile.raystart.build_ray_start`: it
matches a param to an option the way Ray's click parser does, so a key like
``dashboard-host=0.0.0.0`` is caught as well as ``dashboard-host``.
"""

from __future__ import annotations

from typing import Final

from rayplane.api.quantity import QuantityError
from rayplane.api.raycluster import RayClusterSpec, WorkerGroupSpec
from rayplane.local.loopback import LOOPBACK_IP
from rayplane.local.ports import NodePorts
from rayplane.reconcile.raystart import RayStartCommand, build_ray_start, option_name

#: Options of every node (worker groups also own ``address``). The ports are all of
#: `ray start`'s port options, set or not: a user's ``worker-port-list`` or
#: ``redis-shard-ports`` could collide with another node's ports as surely as ``port``.
#: ``ray-debugger-external`` opens the debugger to the network, which a local node never
#: does.
OWNED: Final = frozenset(
    {
        "node-ip-address",
        "dashboard-host",
        "temp-dir",
        "port",
        "dashboard-port",
        "ray-client-server-port",
        "object-manager-port",
        "node-manager-port",
        "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port",
        "runtime-env-agent-port",
        "metrics-export-port",
        "min-worker-port",
        "max-worker-port",
        "worker-port-list",
        "redis-shard-ports",
        "ray-debugger-external",
    }
)

_WHY = {
    "node-ip-address": "every local node runs on 127.0.0.1",
    "dashboard-host": "the dashboard listens on 127.0.0.1 only",
    "temp-dir": "each node gets its own directory under $RAYPLANE_HOME",
    "address": "workers join their own cluster's head",
    "ray-debugger-external": "no local listener is opened to the network",
    "head": "the group decides which node is the head",
}
_PORTS = "the runtime picks every port so that nodes on one machine do not collide"


def owned(group: WorkerGroupSpec | None) -> frozenset[str]:
    """The options the runtime owns on the head (*group* None) or a worker of *group*."""
    return OWNED if group is None else OWNED | {"address"}


def local_start_command(
    spec: RayClusterSpec,
    group: WorkerGroupSpec | None,
    ports: NodePorts,
    *,
    temp_dir: str,
    address: str,
    object_store_bytes: int,
) -> RayStartCommand:
    """The `ray start` of one local node: KubeRay's command with the runtime's pins.

    The object store size is a default, not a pin: the user's value wins.
    """
    extra: dict[str, str] = {}
    for flag in ports.start_args():
        key, _, value = flag.removeprefix("--").partition("=")
        extra[key] = value
    extra.update({"node-ip-address": LOOPBACK_IP, "temp-dir": temp_dir})
    params = (spec.head_group_spec if group is None else group).ray_start_params
    if "object-store-memory" not in {option_name(k, v) for k, v in params.items()}:
        extra["object-store-memory"] = str(object_store_bytes)
    if group is not None:
        extra["address"] = address
    return build_ray_start(spec, group, head_address=address, extra=extra, reserved=owned(group))


def dropped_param_notes(spec: RayClusterSpec, where: str = "spec") -> list[str]:
    """One note per user rayStartParams entry the local runtime leaves out, with why."""
    groups: list[tuple[str, WorkerGroupSpec | None]] = [(f"{where}.headGroupSpec", None)]
    groups += [
        (f"{where}.workerGroupSpecs[{index}]", group)
        for index, group in enumerate(spec.worker_group_specs)
    ]
    notes = []
    for path, group in groups:
        try:
            command = build_ray_start(spec, group, head_address=None, reserved=owned(group))
        except QuantityError:  # validation reports it; nothing is started either
            continue
        for key, value in command.dropped:
            why = _WHY.get(option_name(key, value), _PORTS)
            notes.append(
                f"{path}.rayStartParams.{key}={value!r} is not used locally: {why}. "
                "The same YAML keeps it on Kubernetes."
            )
    return notes
