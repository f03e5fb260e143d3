"""The local twin of KubeRay's autoscaler sidecar: one Ray autoscaler process per cluster.

For a RayCluster with ``enableInTreeAutoscaling: true`` the controller runs
``python -m rayplane.local.autoscaler --home H --cluster-uid U`` once the head has
registered, the way KubeRay adds the ``autoscaler`` container to the head pod. The
process runs Ray's own v2 autoscaler (:mod:`rayplane.local.autoscaler_provider`), which
scales by writing ``replicas`` and ``scaleStrategy.workersToDelete`` into the stored
RayCluster; the controller's reconciler then starts and stops the node processes. The
autoscaler is a spec writer, exactly as on Kubernetes, and never touches a process.

Like a node, the process is recorded in the store (PID, start time, marker under the
runtime-state key ``autoscaler``), so a restarted controller adopts it instead of
starting a twin; it is stopped by PID when autoscaling is turned off, when the head is
replaced (new GCS address), when ``autoscalerOptions.env`` changes, and when the cluster
is deleted. Its output goes to ``$RAYPLANE_HOME/logs/<ns>/<cluster>/autoscaler.log``
(``rayplane logs raycluster/NAME --node autoscaler``). The process writes a summary of
what it sees and decides in ``autoscaler-status.json`` beside its log; ``describe`` shows it.

``RAYPLANE_LOCAL_AUTOSCALER=0`` (``LocalSettings.local_autoscaler``) turns autoscalers off for a
controller; an autoscaling cluster then stays at its replicas.

This module must not import Ray: the controller imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rayplane.api.k8s import Container
from rayplane.api.raycluster import RayCluster
from rayplane.local import process
from rayplane.local.auth_token import node_auth_env
from rayplane.local.configrefs import ConfigError, ConfigSource, HomeConfigs, StoreConfigs
from rayplane.local.env import container_env
from rayplane.local.homepaths import under_home
from rayplane.local.logs import log_tail
from rayplane.local.loopback import LOOPBACK_ENV, LOOPBACK_IP
from rayplane.local.store import Store, StoredNode, StoredResource
from rayplane.settings import LocalSettings, load_local

log = logging.getLogger("rayplane.autoscaler")

#: Runtime-state key the controller owns: the autoscaler process record.
PROCESS_KEY = "autoscaler"
_STOP_GRACE_S = 5.0


def log_path(settings: LocalSettings, stored: StoredResource) -> Path:
    return under_home(settings.home, "logs", stored.namespace, stored.name, "autoscaler.log")


def status_path(settings: LocalSettings, stored: StoredResource) -> Path:
    """The summary the autoscaler process keeps current (written only by that process)."""
    return under_home(
        settings.home, "logs", stored.namespace, stored.name, "autoscaler-status.json"
    )


def autoscaler_env(
    stored: StoredResource,
    cluster: RayCluster,
    settings: LocalSettings,
    configs: ConfigSource | None = None,
) -> dict[str, str]:
    """The sidecar's environment: KubeRay's injected variables, then autoscalerOptions.env."""
    base = {
        "RAY_CLUSTER_NAME": stored.name,
        "RAY_CLUSTER_NAMESPACE": stored.namespace,
        "KUBERAY_CRD_VER": "v1",
        "RAYPLANE_HOME": str(settings.home),
        "PYTHONUNBUFFERED": "1",
    }
    # The autoscaler reads demand from the GCS over gRPC, which checks the token too.
    configs = configs or HomeConfigs(settings.home)
    with contextlib.suppress(ConfigError):  # a missing Secret holds the head back already
        base.update(node_auth_env(configs, stored.namespace, stored.name, cluster.spec))
    options = cluster.spec.autoscaler_options
    if options is None or not options.env:
        return base
    labels = {"ray.io/cluster": stored.name, "ray.io/node-type": "head"}
    # Secret/ConfigMap refs resolve here too; a missing one held the head back already.
    user, _ = container_env(
        Container(name="autoscaler", env=options.env),
        labels,
        stored.name,
        stored.namespace,
        base,
        configs,
        who="the autoscaler",
    )
    return {**base, **user}


def _env_hash(env: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:16]


class AutoscalerSupervisor:
    """Starts, adopts and stops the autoscaler process of each autoscaling RayCluster."""

    def __init__(self, settings: LocalSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.configs = StoreConfigs(store)
        # cluster uid -> (consecutive quick exits, time of the last one)
        self._exits: dict[str, tuple[int, float]] = {}

    def reconcile(
        self, stored: StoredResource, cluster: RayCluster, head: StoredNode | None
    ) -> None:
        """Make the process match the cluster: running iff autoscaling and the head is ready.

        *head* is the head node once it has registered with Ray, else None. A new head (a
        new GCS session, even on the same stable ports) gets a new autoscaler, as a new
        head pod gets a new sidecar.
        """
        state = self.store.runtime_state(stored.uid)
        record: dict[str, Any] | None = state.get(PROCESS_KEY)
        gcs = f"{LOOPBACK_IP}:{head.ports['gcs']}" if head is not None else None
        want = cluster.spec.autoscaling and stored.deleting is None and gcs is not None
        env = autoscaler_env(stored, cluster, self.settings, self.configs) if want else {}
        if record is not None:
            alive = process.is_alive(record["pid"], record["create_time"])
            stale = (
                not want
                or record.get("gcs") != gcs
                or record.get("head") != (head.name if head else None)
                or record.get("env") != _env_hash(env)
            )
            if alive and not stale:
                return
            if alive:
                self._stop(record)
                why = "autoscaling is off" if not want else "its head or env changed"
                self.store.event(stored.uid, "AutoscalerStopped", f"stopped the autoscaler: {why}")
            else:
                self._note_exit(stored, record)
            state = self.store.runtime_state(stored.uid)
            state.pop(PROCESS_KEY, None)
            self.store.set_runtime_state(stored.uid, state)
            if not want:
                status_path(self.settings, stored).unlink(missing_ok=True)
        if want and head is not None and gcs is not None and not self._backing_off(stored.uid):
            self._start(stored, head.name, gcs, env)

    def stop(self, stored: StoredResource) -> None:
        """Stop the cluster's autoscaler (the cluster is being deleted)."""
        state = self.store.runtime_state(stored.uid)
        record = state.pop(PROCESS_KEY, None)
        if record is None:
            return
        self._stop(record)
        self.store.set_runtime_state(stored.uid, state)
        status_path(self.settings, stored).unlink(missing_ok=True)
        self._exits.pop(stored.uid, None)

    def describe(self, stored: StoredResource) -> dict[str, Any] | None:
        """What `describe` shows: the process and the autoscaler's own summary."""
        cluster_spec = (stored.body.get("spec") or {}) if stored.kind == "RayCluster" else {}
        if not cluster_spec.get("enableInTreeAutoscaling"):
            return None
        if not self.settings.local_autoscaler:
            return {
                "state": "off",
                "reason": "the controller runs with RAYPLANE_LOCAL_AUTOSCALER=0, so the "
                "cluster stays at its replicas",
                "log": str(log_path(self.settings, stored)),
            }
        state = self.store.runtime_state(stored.uid)
        record: dict[str, Any] | None = state.get(PROCESS_KEY)
        alive = record is not None and process.is_alive(record["pid"], record["create_time"])
        out: dict[str, Any] = {
            "state": "running" if alive else "not running",
            "log": str(log_path(self.settings, stored)),
        }
        if record:
            out["pid"] = record["pid"]
        if not alive:
            out["reason"] = (
                "starts once the head has registered with Ray"
                if record is None
                else "exited; restarted on the next pass"
            )
        summary = _read_json(status_path(self.settings, stored))
        if summary and alive and summary.get("pid") == out.get("pid"):
            out.update({k: v for k, v in summary.items() if k not in ("pid", "gcs")})
        return out

    # process ----------------------------------------------------------------------------------

    def _start(self, stored: StoredResource, head: str, gcs: str, env: dict[str, str]) -> None:
        argv = [
            sys.executable,
            "-m",
            "rayplane.local.autoscaler",
            "--home",
            str(self.settings.home),
            "--cluster-uid",
            stored.uid,
            "--gcs",
            gcs,
            "--status-file",
            str(status_path(self.settings, stored)),
        ]
        started = process.spawn(argv, env, log_path(self.settings, stored))
        state = self.store.runtime_state(stored.uid)
        state[PROCESS_KEY] = {
            "pid": started.pid,
            "create_time": started.create_time,
            "marker": started.marker,
            "gcs": gcs,
            "head": head,
            "env": _env_hash(env),
            "started": time.time(),
        }
        self.store.set_runtime_state(stored.uid, state)
        self.store.event(
            stored.uid, "AutoscalerStarted", f"started the Ray autoscaler (pid {started.pid})"
        )

    def _stop(self, record: dict[str, Any]) -> None:
        process.stop_group(
            record["pid"],
            record["pid"],
            record["create_time"],
            _STOP_GRACE_S,
            marker=record.get("marker"),
            signal_group=True,
        )

    def _note_exit(self, stored: StoredResource, record: dict[str, Any]) -> None:
        count, _ = self._exits.get(stored.uid, (0, 0.0))
        quick = time.time() - float(record.get("started", 0.0)) < 60
        self._exits[stored.uid] = (count + 1 if quick else 1, time.time())
        tail = log_tail(log_path(self.settings, stored), 2)
        self.store.event(
            stored.uid,
            "AutoscalerExited",
            f"the autoscaler (pid {record['pid']}) exited" + (f": {tail}" if tail else ""),
            "Warning",
        )

    def _backing_off(self, uid: str) -> bool:
        count, last = self._exits.get(uid, (0, 0.0))
        if count < 2:
            return False
        return time.time() - last < min(60.0, 2.0 ** (count - 1))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


# -- the process ------------------------------------------------------------------------------


def _wake(settings: LocalSettings) -> None:
    """Ask the controller for a pass now, so a scale decision acts within milliseconds."""
    from rayplane.local.client import ControllerClient, ControllerError

    client = ControllerClient(settings)
    try:
        client.request("POST", "/wake")
    except ControllerError:
        pass  # an older controller, or none: its next pass picks the spec up anyway
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rayplane.local.autoscaler")
    parser.add_argument("--home", required=True)
    parser.add_argument("--cluster-uid", required=True)
    parser.add_argument("--gcs", required=True, help="the head's GCS address")
    parser.add_argument("--status-file", required=True, help="where to keep the summary")
    args = parser.parse_args(argv)
    if not args.gcs.startswith(LOOPBACK_IP + ":"):
        parser.error(f"--gcs must be on {LOOPBACK_IP}")
    # Before Ray is imported: the GCS client must keep 127.0.0.1 (see loopback.py).
    os.environ.update(LOOPBACK_ENV)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from rayplane.local import autoscaler_provider as provider

    provider.quiet_ray_logs()
    stopping = False

    def _on_signal(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    # This process's environment is the one the controller built for it (autoscaler_env).
    settings = dataclasses.replace(load_local(), home=Path(args.home))
    store = Store(settings.home / "state.db")
    interval = settings.autoscaler_interval_s

    def gone() -> bool:
        stored = store.get_by_uid(args.cluster_uid)
        return stored is None or stored.deleting is not None

    runner = provider.Runner(
        store,
        args.cluster_uid,
        args.gcs,
        interval,
        wake=lambda: _wake(settings),
        status_file=Path(args.status_file),
    )
    log.info("Ray autoscaler v2 for %s, GCS %s, every %.1fs", args.cluster_uid, args.gcs, interval)
    checked = 0.0

    def should_stop() -> bool:
        nonlocal checked
        if stopping:
            return True
        if time.monotonic() - checked > 1.0:
            checked = time.monotonic()
            return gone()
        return False

    try:
        runner.run(should_stop)
    finally:
        store.close()
    log.info("autoscaler stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
