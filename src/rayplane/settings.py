"""The one settings object, read from the environment once (kopf's OperatorSettings idea).

Every tunable lives here so a user can find them all in one place and a test can change
one without monkeypatching the module that reads it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from rayplane.errors import RayplaneError


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number") from exc


@dataclass(frozen=True)
class Settings:
    """rayplane's knobs; `Settings.from_env()` is what the CLI and controller use."""

    home: Path = field(default_factory=lambda: Path.home() / ".rayplane")
    # Ray nodes get short temp dirs: Ray's Unix socket paths must stay under 107 bytes.
    temp_root: Path = Path("/tmp/rayplane")
    # How long `apply` waits for Ready before giving up with the reason.
    apply_timeout_s: float = 600.0
    # SIGTERM -> SIGKILL grace when stopping a node's process group.
    stop_grace_s: float = 35.0
    # Ray's drain on SIGTERM (RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S) for deletes.
    drain_timeout_s: float = 30.0
    # Longest a delete waits to clean a GCS FT cluster's Redis keys.
    gcs_cleanup_timeout_s: float = 60.0
    # How often the local controller runs every reconcile loop.
    reconcile_interval_s: float = 1.0
    # `ray start`s in flight at once; more than the cores can start in time fail on 2 cores.
    max_starting_nodes: int = field(default_factory=lambda: max(2, 2 * (os.cpu_count() or 1)))
    # Run Ray's v2 autoscaler for enableInTreeAutoscaling clusters, as KubeRay runs its
    # sidecar. RAYPLANE_LOCAL_AUTOSCALER=0 turns it off: autoscaling clusters then stay at
    # their replicas (useful to pin a cluster's shape while debugging).
    local_autoscaler: bool = True
    # KubeRay feature gates the local runtime validates with (RAYPLANE_FEATURE_GATES, in
    # KubeRay's `A=true,B=false` form), the twin of the operator's --feature-gates.
    feature_gates: str = ""
    # Object store size per local node, keeping many nodes on one machine affordable.
    object_store_bytes: int = 100 * 1024 * 1024

    @classmethod
    def from_env(cls) -> Settings:
        home = os.environ.get("RAYPLANE_HOME")
        temp = os.environ.get("RAYPLANE_TEMP_ROOT")
        base = cls()
        return cls(
            home=Path(home).expanduser() if home else base.home,
            temp_root=Path(temp) if temp else base.temp_root,
            apply_timeout_s=_float("RAYPLANE_APPLY_TIMEOUT", base.apply_timeout_s),
            stop_grace_s=_float("RAYPLANE_STOP_GRACE", base.stop_grace_s),
            drain_timeout_s=_float("RAYPLANE_DRAIN_TIMEOUT", base.drain_timeout_s),
            gcs_cleanup_timeout_s=_float(
                "RAYPLANE_GCS_CLEANUP_TIMEOUT", base.gcs_cleanup_timeout_s
            ),
            reconcile_interval_s=_float("RAYPLANE_RECONCILE_INTERVAL", base.reconcile_interval_s),
            max_starting_nodes=int(
                _float("RAYPLANE_MAX_STARTING_NODES", float(base.max_starting_nodes))
            ),
            local_autoscaler=os.environ.get("RAYPLANE_LOCAL_AUTOSCALER", "1").lower()
            not in ("0", "false", "no", "off"),
            feature_gates=os.environ.get("RAYPLANE_FEATURE_GATES", ""),
            object_store_bytes=int(
                _float("RAYPLANE_OBJECT_STORE_BYTES", float(base.object_store_bytes))
            ),
        )


class HomeError(RayplaneError):
    """$RAYPLANE_HOME cannot be used safely; the message says why and the fix."""


def home_problem(path: Path, *, is_dir: bool, mode: int, owner: int, me: int) -> str | None:
    """Why the existing *path* (its stat values given) must not be a home, or None.

    The home holds Secret values and the controller's socket, and the controller runs
    what it finds there: another user who owns it, or may write to it, could read the
    Secrets or plant a state file or socket the controller would trust.
    """
    if not is_dir:
        return f"RAYPLANE_HOME {path} is not a directory; point RAYPLANE_HOME at a directory"
    if owner != me:
        return (
            f"RAYPLANE_HOME {path} is owned by uid {owner}, not by you (uid {me}), so its "
            f"owner could read your Secrets or change what the controller runs; use a home "
            f"of your own (export RAYPLANE_HOME=~/.rayplane) or take it: chown -R {me} {path}"
        )
    if mode & 0o022:
        return (
            f"RAYPLANE_HOME {path} is writable by group or others (mode {mode & 0o777:04o}); "
            f"fix it with: chmod 700 {path}"
        )
    return None


def prepare_home(home: Path) -> list[str]:
    """Create the home owner-only, or check an existing one; notes on what was fixed.

    A home that is ours but group- or world-writable is set to 0700 (an older rayplane,
    or a umask, made it so) unless something in it belongs to another user: then the
    writable mode was used, and HomeError refuses it rather than trust what was planted.
    A home owned by another user is always refused.
    """
    try:
        home.mkdir(mode=0o700, parents=True)
        return []
    except FileExistsError:
        pass
    me = os.geteuid()
    st = home.stat()
    problem = home_problem(
        home, is_dir=stat.S_ISDIR(st.st_mode), mode=st.st_mode, owner=st.st_uid, me=me
    )
    if problem is None:
        return []
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != me:
        raise HomeError(problem)
    foreign = next((p for p in home.iterdir() if p.lstat().st_uid != me), None)
    if foreign is not None:
        raise HomeError(
            f"{problem}; {foreign} in it belongs to uid {foreign.lstat().st_uid}, so "
            "another user has written there: check it, remove it, then chmod"
        )
    home.chmod(0o700)
    return [f"RAYPLANE_HOME {home} was writable by group or others; set it to mode 0700"]
