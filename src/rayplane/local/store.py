"""The local runtime's state: resources, their nodes and events, in one SQLite file.

SQLite (WAL) under $RAYPLANE_HOME is the local etcd: it outlives the controller, so a
controller that is killed and restarted finds the processes it started (PID plus start
time, which survives PID reuse) and adopts them instead of starting twins.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rayplane.errors import RayplaneError

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    uid TEXT NOT NULL, generation INTEGER NOT NULL, created REAL NOT NULL,
    body TEXT NOT NULL, status TEXT, deleting REAL, runtime TEXT,
    PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY, cluster_uid TEXT NOT NULL, grp TEXT NOT NULL, kind TEXT NOT NULL,
    pid INTEGER, create_time REAL, ports TEXT NOT NULL, temp_dir TEXT NOT NULL,
    log_path TEXT NOT NULL, created REAL NOT NULL, deleting REAL, info TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, uid TEXT NOT NULL,
    type TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL
);
"""


@dataclass
class StoredResource:
    kind: str
    namespace: str
    name: str
    uid: str
    generation: int
    created: float
    body: dict[str, Any]
    status: dict[str, Any] | None
    deleting: float | None

    def document(self) -> dict[str, Any]:
        """The resource as `get -o yaml` shows it: body, server fields and status."""
        doc: dict[str, Any] = json.loads(json.dumps(self.body))
        meta = doc.setdefault("metadata", {})
        meta["namespace"] = self.namespace
        meta["uid"] = self.uid
        meta["generation"] = self.generation
        meta["creationTimestamp"] = iso(self.created)
        if self.deleting is not None:
            meta["deletionTimestamp"] = iso(self.deleting)
        if self.status is not None:
            doc["status"] = self.status
        return doc


@dataclass
class StoredNode:
    name: str
    cluster_uid: str
    group: str
    kind: str
    pid: int | None
    create_time: float | None
    ports: dict[str, int]
    temp_dir: str
    log_path: str
    created: float
    deleting: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class Store:
    """Thread-safe access to the state file; every write is one short transaction."""

    def __init__(self, path: Path, *, trace: Callable[[str], None] | None = None) -> None:
        # The file holds Secret values (kind: Secret applied to the local runtime), so it is
        # owner-only: the home is created 0700 and the database with its WAL and shared-
        # memory files 0600 (SQLite creates those two with the database file's mode).
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if part.exists():
                part.chmod(0o600)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        # Every SQL statement from here on, for the hot-path bench and its test to count.
        self._db.set_trace_callback(trace)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # resources -----------------------------------------------------------------------

    def put(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> StoredResource:
        """Create or update; generation grows only when the spec (or metadata) changed."""
        with self._tx() as db:
            row = db.execute(
                "SELECT uid, generation, body, deleting FROM resources "
                "WHERE kind=? AND namespace=? AND name=?",
                (kind, namespace, name),
            ).fetchone()
            if row is None:
                uid, generation, created = str(uuid.uuid4()), 1, time.time()
                db.execute(
                    "INSERT INTO resources VALUES (?,?,?,?,?,?,?,NULL,NULL,NULL)",
                    (kind, namespace, name, uid, generation, created, json.dumps(body)),
                )
            else:
                if row[3] is not None:
                    raise ConflictError(
                        f"{kind} {namespace}/{name} is being deleted; wait for it to go, then "
                        "apply again."
                    )
                old = json.loads(row[2])
                generation = row[1] + (1 if _content(old) != _content(body) else 0)
                db.execute(
                    "UPDATE resources SET body=?, generation=? WHERE kind=? AND namespace=? "
                    "AND name=?",
                    (json.dumps(body), generation, kind, namespace, name),
                )
        got = self.get(kind, namespace, name)
        assert got is not None
        return got

    def get(self, kind: str, namespace: str, name: str) -> StoredResource | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM resources WHERE kind=? AND namespace=? AND name=?",
                (kind, namespace, name),
            ).fetchone()
        return _resource(row) if row else None

    def get_by_uid(self, uid: str) -> StoredResource | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM resources WHERE uid=?", (uid,)).fetchone()
        return _resource(row) if row else None

    def owned_by(self, owner_uid: str) -> list[StoredResource]:
        """Resources whose ownerReferences name *owner_uid* (a RayJob's cluster, ...)."""
        return [
            r
            for r in self.resources()
            if any(
                ref.get("uid") == owner_uid
                for ref in (r.body.get("metadata") or {}).get("ownerReferences") or []
            )
        ]

    def resources(
        self, kind: str | None = None, namespace: str | None = None
    ) -> list[StoredResource]:
        query, args = "SELECT * FROM resources WHERE 1=1", []
        if kind:
            query += " AND kind=?"
            args.append(kind)
        if namespace:
            query += " AND namespace=?"
            args.append(namespace)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created", args).fetchall()
        return [_resource(r) for r in rows]

    def set_status(self, uid: str, status: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE resources SET status=? WHERE uid=?", (json.dumps(status), uid))

    def modify_body(self, uid: str, change: Callable[[dict[str, Any]], T]) -> T:
        """Edit a stored body in one write transaction; generation grows.

        *change* edits the body it is given in place and returns what the caller wants
        back. Reading and writing in one transaction matters for the autoscaler, a second
        process: a read-then-write would undo an `apply` that landed in between.
        """
        with self._tx() as db:
            row = db.execute("SELECT body FROM resources WHERE uid=?", (uid,)).fetchone()
            if row is None:
                raise KeyError(uid)
            body = json.loads(row[0])
            result = change(body)
            db.execute(
                "UPDATE resources SET body=?, generation=generation+1 WHERE uid=?",
                (json.dumps(body), uid),
            )
        return result

    def runtime_state(self, uid: str) -> dict[str, Any]:
        """Runtime-private state of a resource (submitter PIDs, serve caches, timers)."""
        with self._lock:
            row = self._db.execute("SELECT runtime FROM resources WHERE uid=?", (uid,)).fetchone()
        return dict(json.loads(row[0])) if row and row[0] else {}

    def set_runtime_state(self, uid: str, state: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE resources SET runtime=? WHERE uid=?", (json.dumps(state), uid))

    def mark_deleting(self, kind: str, namespace: str, name: str) -> StoredResource | None:
        with self._tx() as db:
            db.execute(
                "UPDATE resources SET deleting=COALESCE(deleting, ?) WHERE kind=? AND "
                "namespace=? AND name=?",
                (time.time(), kind, namespace, name),
            )
        return self.get(kind, namespace, name)

    def remove(self, uid: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM resources WHERE uid=?", (uid,))
            # Events outlive the resource for a day, so `delete` can report how it ended.
            db.execute("DELETE FROM events WHERE at < ?", (time.time() - 86400,))

    # nodes ---------------------------------------------------------------------------

    def add_node(self, node: StoredNode) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO nodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    node.name,
                    node.cluster_uid,
                    node.group,
                    node.kind,
                    node.pid,
                    node.create_time,
                    json.dumps(node.ports),
                    node.temp_dir,
                    node.log_path,
                    node.created,
                    node.deleting,
                    json.dumps(node.info),
                ),
            )

    def update_node(self, node: StoredNode) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE nodes SET pid=?, create_time=?, deleting=?, info=? WHERE name=?",
                (node.pid, node.create_time, node.deleting, json.dumps(node.info), node.name),
            )

    def nodes(self, cluster_uid: str | None = None) -> list[StoredNode]:
        query, args = "SELECT * FROM nodes", []
        if cluster_uid is not None:
            query += " WHERE cluster_uid=?"
            args.append(cluster_uid)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created, name", args).fetchall()
        return [_node(r) for r in rows]

    def remove_node(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM nodes WHERE name=?", (name,))

    def used_ports(self) -> set[int]:
        ports: set[int] = set()
        for node in self.nodes():
            ports.update(node.ports.values())
        return ports

    # events --------------------------------------------------------------------------

    def event(self, uid: str, reason: str, message: str, type_: str = "Normal") -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (at, uid, type, reason, message) VALUES (?,?,?,?,?)",
                (time.time(), uid, type_, reason, message),
            )
            db.execute(
                "DELETE FROM events WHERE uid=? AND id NOT IN (SELECT id FROM events "
                "WHERE uid=? ORDER BY id DESC LIMIT 200)",
                (uid, uid),
            )

    def events_after(self, after_id: int) -> list[tuple[int, str, str]]:
        """(id, reason, type) of every event recorded after *after_id*, any process's
        (the autoscaler child writes its decisions here too): /metrics counts them."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, reason, type FROM events WHERE id > ? ORDER BY id", (after_id,)
            ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def last_event_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        return int(row[0])

    def events(self, uid: str, limit: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, type, reason, message FROM events WHERE uid=? ORDER BY id DESC LIMIT ?",
                (uid, limit),
            ).fetchall()
        return [
            {"time": iso(r[0]), "type": r[1], "reason": r[2], "message": r[3]}
            for r in reversed(rows)
        ]


def _content(body: dict[str, Any]) -> Any:
    """What bumps the generation when it changes: the spec, or a Secret's or ConfigMap's data."""
    if "spec" in body:
        return body["spec"]
    return {k: v for k, v in body.items() if k not in ("metadata", "status")}


class ConflictError(RayplaneError):
    """A write that the current state forbids (like a 409 from the API server)."""


def _resource(row: tuple[Any, ...]) -> StoredResource:
    return StoredResource(
        kind=row[0],
        namespace=row[1],
        name=row[2],
        uid=row[3],
        generation=row[4],
        created=row[5],
        body=json.loads(row[6]),
        status=json.loads(row[7]) if row[7] else None,
        deleting=row[8],
    )


def _node(row: tuple[Any, ...]) -> StoredNode:
    return StoredNode(
        name=row[0],
        cluster_uid=row[1],
        group=row[2],
        kind=row[3],
        pid=row[4],
        create_time=row[5],
        ports=json.loads(row[6]),
        temp_dir=row[7],
        log_path=row[8],
        created=row[9],
        deleting=row[10],
        info=json.loads(row[11] or "{}"),
    )
