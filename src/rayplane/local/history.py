"""A RayJob's history: what each attempt leaves behind once its RayCluster is deleted.

On Kubernetes a user still has the submitter Pod's logs after `ttlSecondsAfterFinished`
deleted the cluster (and KubeRay 1.6+ adds a history server). Here the cluster's nodes,
their temp dirs and their logs go with the cluster, so every attempt of a RayJob is
archived under ``$RAYPLANE_HOME/history/<namespace>/<rayjob>/<attempt>/`` before its
cluster goes, and stays there until the RayJob is deleted:

- ``attempt.json``   which cluster and Ray job the attempt was, when it was archived and
                     when its cluster was deleted, and how much of each log was kept;
- ``driver.log``     the Ray job's driver log (the head's session log file, or the Jobs API);
- ``submitter.log``  the K8sJobMode submitter's output;
- ``status.json``    the RayJob's status when the attempt ended (updated once the cluster
                     is gone, so it is the final one);
- ``events.json``    the RayJob's and the cluster's events;
- ``nodes/*.log``    each node's `ray start` output.

Every file is bounded: a log longer than its bound keeps only its tail, behind a first
line that says how much was dropped, and only the newest attempts are kept, so a job
that prints a gigabyte, or retries a thousand times, costs a few megabytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayplane.local.homepaths import UnsafePath, remove_tree, under_home
from rayplane.local.store import Store, StoredResource

HISTORY_DIR = "history"
MANIFEST = "attempt.json"
DRIVER_LOG = "driver.log"
SUBMITTER_LOG = "submitter.log"
STATUS = "status.json"
EVENTS = "events.json"
NODES = "nodes"
_MiB = 1024 * 1024


@dataclass(frozen=True)
class Bounds:
    """How much one RayJob's history may take; each log keeps its tail within these."""

    driver_bytes: int = 4 * _MiB
    submitter_bytes: int = 1 * _MiB
    node_bytes: int = _MiB // 2
    nodes_total_bytes: int = 8 * _MiB
    attempts: int = 10


@dataclass(frozen=True)
class Kept:
    """How much of a log there was and how much of it (its tail) the archive holds."""

    size: int
    kept: int

    @property
    def truncated(self) -> bool:
        return self.kept < self.size

    def as_dict(self) -> dict[str, int]:
        return {"bytes": self.size, "keptBytes": self.kept}


def namespace_dir(home: Path, namespace: str) -> Path:
    """With :func:`job_dir`, the one place a history path is built from an identity.

    Raises UnsafePath for a name that is not one plain path component: stored names are,
    but names typed on the command line may not be.
    """
    return under_home(home, HISTORY_DIR, namespace)


def job_dir(home: Path, namespace: str, job: str) -> Path:
    return under_home(home, HISTORY_DIR, namespace, job)


def _header(size: int, kept: int) -> bytes:
    return (
        f"[rayplane: this log had {size} bytes; only its last {kept} bytes are kept, "
        "the start was dropped]\n"
    ).encode()


def _start_of_line(data: bytes) -> bytes:
    """Drop the partial first line of a tail cut in the middle of a line, unless that line
    is most of the tail (a log of very long lines still keeps its last bytes)."""
    cut = data.find(b"\n")
    return data[cut + 1 :] if 0 <= cut < len(data) // 10 else data


def copy_tail(src: Path, dst: Path, limit: int, start: int = 0) -> Kept | None:
    """Copy at most the last *limit* bytes of *src* after offset *start* to *dst*.

    Only the tail is read, so a log of any size costs *limit* bytes of memory and disk.
    *start* skips what an earlier attempt appended to the same file. None if *src* is
    unreadable.
    """
    try:
        with src.open("rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            start = min(max(0, start), end)
            handle.seek(max(start, end - limit))
            data = handle.read(limit)
    except OSError:
        return None
    return _write(dst, data, end - start)


def write_tail(text: str, dst: Path, limit: int) -> Kept:
    """Write at most the last *limit* bytes of *text* (a log read through an API) to *dst*."""
    data = text.encode("utf-8", "replace")
    return _write(dst, data[-limit:] if limit > 0 else b"", len(data))


def _write(dst: Path, tail: bytes, size: int) -> Kept:
    if len(tail) < size:
        tail = _start_of_line(tail)
        body = _header(size, len(tail)) + tail
    else:
        body = tail
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(body)
    tmp.replace(dst)
    return Kept(size=size, kept=len(tail))


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True))
    tmp.replace(path)


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class Attempt:
    """One archived attempt: its directory and its manifest."""

    dir: Path
    manifest: dict[str, Any]

    @property
    def number(self) -> int:
        return int(self.manifest["attempt"])

    @property
    def cluster(self) -> str:
        return str(self.manifest.get("cluster") or "")

    def status(self) -> dict[str, Any] | None:
        try:
            value = json.loads((self.dir / STATUS).read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def save(self) -> None:
        _write_json(self.dir / MANIFEST, self.manifest)

    def keep_log(self, name: str, kept: Kept | None, source: str) -> None:
        if kept is not None:
            self.manifest.setdefault("files", {})[name] = {**kept.as_dict(), "source": source}

    def summary(self) -> dict[str, Any]:
        """What `describe` and `logs` show of the attempt."""
        return {**self.manifest, "dir": str(self.dir)}


class History:
    """The attempts of every RayJob under one home, with the bounds they are kept within."""

    def __init__(self, home: Path, bounds: Bounds | None = None) -> None:
        self.home = home
        self.bounds = bounds or Bounds()

    def attempts(self, namespace: str, job: str) -> list[Attempt]:
        """The kept attempts of a RayJob, oldest first."""
        found: list[Attempt] = []
        try:
            entries = list(job_dir(self.home, namespace, job).iterdir())
        except (OSError, UnsafePath):
            return []  # none kept, or a typed name that would lead out of the history
        for entry in entries:
            try:
                manifest = json.loads((entry / MANIFEST).read_text())
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict) and isinstance(manifest.get("attempt"), int):
                found.append(Attempt(entry, manifest))
        return sorted(found, key=lambda a: a.number)

    def for_cluster(self, namespace: str, cluster: str) -> Attempt | None:
        """The archived attempt whose cluster was *cluster*, of any RayJob in *namespace*."""
        try:
            jobs = sorted(namespace_dir(self.home, namespace).iterdir())
        except (OSError, UnsafePath):
            return None
        for entry in jobs:
            for attempt in self.attempts(namespace, entry.name):
                if attempt.cluster == cluster:
                    return attempt
        return None

    def begin(self, namespace: str, job: str, uid: str, cluster: str) -> Attempt:
        """The attempt of *cluster*, made now if it is the first time it is archived.

        Attempts of an earlier RayJob of the same name (another uid, left by a controller
        that died mid-delete) are dropped, and so are the oldest beyond the bound.
        """
        kept = []
        for attempt in self.attempts(namespace, job):
            if attempt.manifest.get("uid") != uid:
                shutil.rmtree(attempt.dir, ignore_errors=True)
            elif attempt.cluster == cluster:
                return attempt
            else:
                kept.append(attempt)
        number = kept[-1].number + 1 if kept else 1
        for old in kept[: max(0, len(kept) + 1 - self.bounds.attempts)]:
            shutil.rmtree(old.dir, ignore_errors=True)
        attempt = Attempt(
            job_dir(self.home, namespace, job) / str(number),
            {
                "attempt": number,
                "rayJob": job,
                "namespace": namespace,
                "uid": uid,
                "cluster": cluster,
                "archivedAt": iso(time.time()),
                "clusterDeletedAt": None,
                "keptAttempts": self.bounds.attempts,
            },
        )
        attempt.dir.mkdir(parents=True, exist_ok=True)
        attempt.save()
        return attempt

    def record_end(
        self, attempt: Attempt, status: dict[str, Any] | None, events: dict[str, Any]
    ) -> None:
        """The RayJob's status and events as the attempt ends (called again when it is gone)."""
        _write_json(attempt.dir / STATUS, status or {})
        _write_json(attempt.dir / EVENTS, events)
        job_status = (status or {}).get("jobStatus")
        attempt.manifest.update(
            jobId=(status or {}).get("jobId") or attempt.manifest.get("jobId"),
            jobStatus=job_status or attempt.manifest.get("jobStatus"),
            jobDeploymentStatus=(status or {}).get("jobDeploymentStatus"),
        )
        attempt.save()

    def keep_driver_log(self, attempt: Attempt, src: Path) -> bool:
        kept = copy_tail(src, attempt.dir / DRIVER_LOG, self.bounds.driver_bytes)
        attempt.keep_log(DRIVER_LOG, kept, f"the head's session log {src.name}")
        return kept is not None

    def keep_driver_text(self, attempt: Attempt, text: str) -> None:
        kept = write_tail(text, attempt.dir / DRIVER_LOG, self.bounds.driver_bytes)
        attempt.keep_log(DRIVER_LOG, kept, "the Ray Jobs API")

    def keep_submitter_log(self, attempt: Attempt, src: Path, start: int = 0) -> None:
        kept = copy_tail(src, attempt.dir / SUBMITTER_LOG, self.bounds.submitter_bytes, start)
        attempt.keep_log(SUBMITTER_LOG, kept, "the submitter process")

    def keep_node_logs(self, attempt: Attempt, logs: list[Path]) -> None:
        """Each node's log tail, the head's first, as many as fit the attempt's node budget.

        Every kept log may take the full per-node bound, so the budget holds
        ``nodes_total_bytes // node_bytes`` logs; the rest are named in the manifest
        (``droppedNodeLogs``), not kept.
        """
        room = max(1, self.bounds.nodes_total_bytes // max(1, self.bounds.node_bytes))
        ordered = sorted(logs, key=lambda p: ("-head-" not in p.name, p.name))
        for src in ordered[:room]:
            kept = copy_tail(src, attempt.dir / NODES / src.name, self.bounds.node_bytes)
            attempt.keep_log(f"{NODES}/{src.name}", kept, "the node's ray start output")
        if ordered[room:]:
            attempt.manifest["droppedNodeLogs"] = [p.name for p in ordered[room:]]
        attempt.save()

    def cluster_deleted(self, attempt: Attempt) -> None:
        attempt.manifest["clusterDeletedAt"] = iso(time.time())
        attempt.save()

    def remove(self, namespace: str, job: str) -> None:
        """Drop a RayJob's history: it goes with the RayJob, as a Pod's logs go with it."""
        remove_tree(self.home, HISTORY_DIR, namespace, job)
        with contextlib.suppress(OSError, UnsafePath):
            namespace_dir(self.home, namespace).rmdir()  # only if now empty


# with the store ------------------------------------------------------------------------------


def owner_job(store: Store, cluster: StoredResource) -> StoredResource | None:
    """The RayJob that owns *cluster*, if it has one that is not itself being deleted.

    A RayJob being deleted takes its history with it, so its clusters need none.
    """
    for ref in (cluster.body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "RayJob" and ref.get("uid"):
            owner = store.get_by_uid(str(ref["uid"]))
            if owner is not None and owner.deleting is None:
                return owner
    return None


def job_events(store: Store, job_uid: str, cluster_uid: str) -> dict[str, Any]:
    """The RayJob's and the cluster's events (the store keeps at most 200 of each)."""
    return {
        "rayJob": store.events(job_uid, limit=200),
        "rayCluster": store.events(cluster_uid, limit=200),
    }


def finish_cluster(history: History, store: Store, cluster: StoredResource, logs: Path) -> None:
    """The last step of deleting a RayJob's cluster: keep its node logs, final status, events.

    Runs after every node has stopped (so each log is complete) and before the cluster's
    log directory *logs* is removed; the attempt was begun when the delete was decided,
    while the head still answered (or is begun here if the cluster was deleted by hand).
    """
    job = owner_job(store, cluster)
    if job is None:
        return
    attempt = history.begin(cluster.namespace, job.name, job.uid, cluster.name)
    try:
        node_logs = sorted(logs.glob("*.log"))
    except OSError:
        node_logs = []
    history.keep_node_logs(attempt, node_logs)
    # After a retry the RayJob's status is already the next attempt's; the one kept when
    # this attempt ended is then the final one.
    current = (job.status or {}).get("rayClusterName") == cluster.name
    status = job.status if current else attempt.status()
    history.record_end(attempt, status, job_events(store, job.uid, cluster.uid))
    history.cluster_deleted(attempt)
