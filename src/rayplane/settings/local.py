"""The local runtime's group of settings: where it keeps its state and how it paces itself.

Plain values only, so every module of the local runtime can take one without importing
anything above it; :mod:`rayplane.settings.loader` fills it from the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: Seconds between autoscaler iterations unless autoscalerOptions.env sets
#: AUTOSCALER_UPDATE_INTERVAL_S (Ray's own knob, 5 s in a KubeRay sidecar; 1 s here, where
#: a node starts in seconds).
DEFAULT_AUTOSCALER_INTERVAL_S = 1.0

#: RAYPLANE_RAY_VERSIONS values: run the installed Ray, or install the asked-for one.
RAY_VERSIONS_INSTALLED = "installed"
RAY_VERSIONS_INSTALL = "install"
RAY_VERSIONS_CHOICES = (RAY_VERSIONS_INSTALLED, RAY_VERSIONS_INSTALL)


@dataclass(frozen=True)
class LocalSettings:
    """The local control plane's knobs (environment variable in brackets).

    The defaults are what a user gets with nothing set; tests build one directly.
    """

    # [RAYPLANE_HOME] The store, logs, Secrets and the controller's socket.
    home: Path = field(default_factory=lambda: Path.home() / ".rayplane")
    # [RAYPLANE_TEMP_ROOT] Ray nodes get short temp dirs: Ray's Unix socket paths must stay
    # under 107 bytes. One per user, owner-only: Ray trusts the sockets it finds there.
    temp_root: Path = field(default_factory=lambda: Path(f"/tmp/rayplane-{os.geteuid()}"))
    # [RAYPLANE_APPLY_TIMEOUT] How long `apply` waits for Ready before giving up with the
    # reason.
    apply_timeout_s: float = 600.0
    # [RAYPLANE_STOP_GRACE] SIGTERM -> SIGKILL grace when stopping a node's process group.
    stop_grace_s: float = 35.0
    # [RAYPLANE_DRAIN_TIMEOUT] Ray's drain on SIGTERM (RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S)
    # for deletes.
    drain_timeout_s: float = 30.0
    # [RAYPLANE_GCS_CLEANUP_TIMEOUT] Longest a delete waits to clean a GCS FT cluster's
    # Redis keys.
    gcs_cleanup_timeout_s: float = 60.0
    # [RAYPLANE_RECONCILE_INTERVAL] How often the local controller runs every reconcile loop.
    reconcile_interval_s: float = 1.0
    # [RAYPLANE_MAX_STARTING_NODES] `ray start`s in flight at once; more than the cores can
    # start in time fail on 2 cores.
    max_starting_nodes: int = field(default_factory=lambda: max(2, 2 * (os.cpu_count() or 1)))
    # [RAYPLANE_LOCAL_AUTOSCALER] Run Ray's v2 autoscaler for enableInTreeAutoscaling
    # clusters, as KubeRay runs its sidecar. 0 turns it off: autoscaling clusters then stay
    # at their replicas (useful to pin a cluster's shape while debugging).
    local_autoscaler: bool = True
    # [TZ] The zone of a RayCronJob without timeZone, as KubeRay uses its operator's local
    # zone; unset: the zone /etc/localtime names, else UTC.
    time_zone: str | None = None
    # [RAYPLANE_OBJECT_STORE_BYTES] Object store size per local node, keeping many nodes on
    # one machine affordable.
    object_store_bytes: int = 100 * 1024 * 1024
    # [AUTOSCALER_UPDATE_INTERVAL_S] Seconds between the autoscaler process's iterations;
    # only that child reads it, from the environment the controller built for it out of the
    # cluster's autoscalerOptions.env (as Ray's sidecar reads its container's).
    autoscaler_interval_s: float = DEFAULT_AUTOSCALER_INTERVAL_S
    # [RAYPLANE_METRICS_PORT] The controller's /metrics port on 127.0.0.1; 0 picks a free
    # one at each start (`controller status` and `rayplane metrics` say which).
    metrics_port: int = 0
    # [RAYPLANE_RAY_VERSIONS] What a cluster whose rayVersion is not the installed Ray runs:
    # "installed" (the installed Ray, with a note) or "install" (a virtualenv with that Ray
    # built on demand under $RAYPLANE_HOME/ray-envs, as KubeRay runs the image's Ray).
    ray_versions: str = RAY_VERSIONS_INSTALLED
