"""Taking a RayCluster's nodes down: stopping processes, then removing what they leave.

Stops run in the background (a draining `ray start` takes seconds) while reconcile passes
go on; a node's record goes once its stop has finished. A deleted cluster goes last, after
its nodes, its GCS fault-tolerance storage (Redis or RocksDB) and its logs, which a
RayJob's cluster first leaves in the job's history.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rayplane.api.raycluster import RayCluster
from rayplane.local import mounts
from rayplane.local.configrefs import StoreConfigs
from rayplane.local.env import redis_password
from rayplane.local.history import History, finish_cluster
from rayplane.local.homepaths import UnsafePath, remove_tree, under_home
from rayplane.local.node_launcher import NodeLauncher
from rayplane.local.redis_cleanup import clean_redis
from rayplane.local.store import Store, StoredNode, StoredResource
from rayplane.reconcile.gcs_ft import GcsFt, gcs_ft
from rayplane.settings import LocalSettings

log = logging.getLogger("rayplane.clusters")


class Teardown:
    """Background stops of nodes and the final removal of deleted RayClusters."""

    def __init__(
        self,
        settings: LocalSettings,
        store: Store,
        launcher: NodeLauncher,
        configs: StoreConfigs,
        history: History,
    ) -> None:
        self.settings = settings
        self.store = store
        self.launcher = launcher
        self.configs = configs
        self.history = history
        self._stops = ThreadPoolExecutor(max_workers=16, thread_name_prefix="stop")
        self._stopping: dict[str, Future[Any]] = {}
        # cluster uid -> GCS FT settings with the Redis password, read when its delete began
        # (the Secret may be deleted with it, before the cleanup runs)
        self._cleanup_ft: dict[str, GcsFt] = {}
        # Folders a controller renamed for removal and did not finish before it stopped.
        for trash in self.settings.temp_root.glob(".*.removing"):
            self._stops.submit(shutil.rmtree, trash, ignore_errors=True)

    def close(self) -> None:
        self._stops.shutdown(wait=False, cancel_futures=False)

    def wait_for_stops(self) -> None:
        """Block until the stops under way have finished (tests, instead of sleeping)."""
        for future in list(self._stopping.values()):
            future.result()

    def busy(self) -> bool:
        """True while a stop or a storage cleanup runs."""
        return bool(self._stopping)

    # nodes ----------------------------------------------------------------------------------

    def settle(self, node: StoredNode) -> bool:
        """Drive a deleting node's stop; True once it is stopped and its record is gone."""
        future = self._stopping.get(node.name)
        if future is None:
            self.schedule_stop(node)
        elif future.done():
            self._forget(node)
            return True
        return False

    def schedule_stop(self, node: StoredNode) -> None:
        if node.name in self._stopping:
            return
        self._stopping[node.name] = self._stops.submit(self._stop, node)

    def _stop(self, node: StoredNode) -> None:
        if node.pid is not None and node.create_time is not None:
            self.launcher.stop(
                node.pid,
                node.create_time,
                self.settings.stop_grace_s,
                marker=node.info.get("marker"),
            )

    def _forget(self, node: StoredNode) -> None:
        # The row names the folder; a row that points outside the temp root (a hand-edited
        # or older database) must not make a delete remove someone else's files.
        temp_dir = Path(node.temp_dir).resolve()
        if self.settings.temp_root.resolve() in temp_dir.parents:
            self._discard(temp_dir)
        else:
            log.warning("not removing %s: it is not under %s", temp_dir, self.settings.temp_root)
        owner = self.store.get_by_uid(node.cluster_uid)
        if owner is not None:
            mounts.remove_node(self.settings.home, owner.namespace, owner.name, node.name)
        self.store.remove_node(node.name)
        self._stopping.pop(node.name, None)

    def _discard(self, folder: Path) -> None:
        """Rename *folder* out of the way now and remove it on a stop thread: a node whose
        runtime env installed pip packages leaves a copy of a whole virtualenv, whose
        removal took minutes and held up every other reconcile on the loop's thread."""
        trash = folder.with_name(f".{folder.name}.removing")
        try:
            folder.rename(trash)
        except FileNotFoundError:
            return
        except OSError:
            trash = folder  # e.g. a leftover trash of the same name: remove in place
        self._stops.submit(shutil.rmtree, trash, ignore_errors=True)

    # the cluster ----------------------------------------------------------------------------

    def begin(self, stored: StoredResource) -> None:
        """Read the Redis password now: `delete -f` may remove its Secret before cleanup."""
        if stored.uid not in self._cleanup_ft:
            cluster = RayCluster.model_validate(stored.document())
            password = redis_password(cluster, stored.namespace, self.configs, strict=False)
            self._cleanup_ft[stored.uid] = dataclasses.replace(
                gcs_ft(cluster), redis_password=password
            )

    def finish(self, stored: StoredResource) -> bool:
        """With no node left, clean up and remove the cluster; True once it is gone."""
        if not self._gcs_cleaned(stored):
            return False
        # A forged identity had nothing kept for it; remove_tree logs the refusal.
        with contextlib.suppress(UnsafePath):
            logs = under_home(self.settings.home, "logs", stored.namespace, stored.name)
            self._keep_history(stored, logs)
        remove_tree(self.settings.home, "logs", stored.namespace, stored.name)
        # Its nodes' volumes and its claims' folders: the claims' owner is gone.
        mounts.remove_cluster(self.settings.home, stored.namespace, stored.name)
        self.store.remove(stored.uid)
        self._cleanup_ft.pop(stored.uid, None)
        return True

    def _keep_history(self, stored: StoredResource, logs: Path) -> None:
        """A RayJob's cluster leaves its node logs in the job's history before they go."""
        try:
            finish_cluster(self.history, self.store, stored, logs)
        except OSError as exc:
            self.store.event(
                stored.uid, "HistoryNotKept", f"could not keep the node logs: {exc}", "Warning"
            )

    def _gcs_cleaned(self, stored: StoredResource) -> bool:
        """With GCS FT, clean the cluster's storage once its head is gone; True when done.

        The cleanup runs in the background under a deadline (KubeRay's
        ray.io/gcs-ft-deletion-timeout), so a Redis that is down delays a delete by at most
        that long and never leaves a cluster stuck deleting; either way the outcome is an
        event that `rayplane delete` prints.
        """
        cluster = RayCluster.model_validate(stored.document())
        ft = self._cleanup_ft.get(stored.uid) or gcs_ft(cluster)
        if not ft.enabled:
            return True
        key = f"gcs-cleanup/{stored.uid}"
        future = self._stopping.get(key)
        if future is None:
            self._stopping[key] = self._stops.submit(self._clean_storage, stored, cluster, ft)
            return False
        if not future.done():
            return False
        del self._stopping[key]
        return True

    def _clean_storage(self, stored: StoredResource, cluster: RayCluster, ft: GcsFt) -> None:
        if ft.backend == "rocksdb":
            key = str(cluster.metadata.uid or cluster.name)
            if remove_tree(self.settings.home, "gcs", key):
                path = self.settings.home / "gcs" / key
                self.store.event(stored.uid, "GCSStorageCleaned", f"removed RocksDB storage {path}")
            return
        ok, message = clean_redis(
            ft, min(ft.deletion_timeout_s, self.settings.gcs_cleanup_timeout_s)
        )
        if not ok and ft.password_secret and ft.redis_password is None:
            name, key = ft.password_secret
            message += (
                f' (the password Secret "{name}" or its key "{key}" was not found when the '
                "delete began)"
            )
        # The owner (a RayJob or RayService) hears it too: its `delete` prints the outcome.
        refs = (stored.body.get("metadata") or {}).get("ownerReferences") or []
        for uid in (stored.uid, *(ref["uid"] for ref in refs if ref.get("uid"))):
            self.store.event(
                uid,
                "GCSStorageCleaned" if ok else "GCSStorageNotCleaned",
                f"RayCluster {stored.name}: {message}",
                "Normal" if ok else "Warning",
            )
