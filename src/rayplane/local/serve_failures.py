"""Where a RayService's failed Serve apps are told: one line in its detail, the rest in a log.

The reconciler reduces each failure to a :class:`ServeFailure` (the cause on one line).
This module keeps, per RayService, the line of the current failure in the runtime state,
tagged with the generation it was seen for, and appends each new failure's full text
(Serve's traceback) once to ``logs/<namespace>/<name>/serve-failures.log`` under the home.
A failure seen for an older generation is not shown: a user who just applied the fix must
not be told the old config failed before the controller has even put the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rayplane.local.homepaths import UnsafePath, make_dir, under_home
from rayplane.reconcile.service import ServeFailure

log = logging.getLogger("rayplane.services")

LOG_NAME = "serve-failures.log"
STATE_KEY = "serve_failure"
# How many failures' keys are remembered so that a failure seen pass after pass is logged
# once.
KEPT_KEYS = 32


def log_path(home: Path, namespace: str, name: str) -> Path:
    """The service's failure log (checked to stay inside the home; UnsafePath if not)."""
    return under_home(home, "logs", namespace, name, LOG_NAME)


def summary(failures: Sequence[ServeFailure], namespace: str, name: str) -> str:
    """The first failure's line, how many more there are, and where the full text is."""
    more = len(failures) - 1
    extra = f" (and {more} more failed app{'s' if more > 1 else ''})" if more > 0 else ""
    where = f"rayplane logs rayservice/{name}" + (
        f" -n {namespace}" if namespace != "default" else ""
    )
    return f"{failures[0].line}{extra}; full text: {where}"


def record(
    home: Path,
    namespace: str,
    name: str,
    generation: int | None,
    failures: Sequence[ServeFailure],
    state: dict[str, Any],
) -> list[ServeFailure]:
    """Keep this pass's failures in *state* (the service's runtime state), log new ones and
    return them (for an event each).

    No failures clears the line: the apps recovered, or a new config or cluster is on its
    way. The log keeps what it has; it goes with the RayService.
    """
    kept: dict[str, Any] = state.get(STATE_KEY) or {}
    logged: list[str] = list(kept.get("logged") or [])
    if not failures:
        state[STATE_KEY] = {"logged": logged}
        return []
    fresh = [f for f in failures if _key(f) not in logged]
    if fresh:
        try:
            _append(home, namespace, name, generation, fresh)
        except (OSError, UnsafePath) as exc:
            log.warning("RayService %s/%s: cannot write its failure log: %s", namespace, name, exc)
        logged = [*logged, *(_key(f) for f in fresh)][-KEPT_KEYS:]
    state[STATE_KEY] = {
        "line": summary(failures, namespace, name),
        "generation": generation,
        "logged": logged,
    }
    return fresh


def current(state: dict[str, Any], generation: int | None) -> str | None:
    """The failure line to show for the service at *generation*, or None."""
    kept = state.get(STATE_KEY) or {}
    line = kept.get("line")
    if not line or kept.get("generation") != generation:
        return None
    return str(line)


def remove(home: Path, namespace: str, name: str) -> None:
    """Remove the log once the RayService is gone (only the file: the folder may also hold
    the logs of a RayCluster or RayJob of the same name)."""
    try:
        path = log_path(home, namespace, name)
        path.unlink(missing_ok=True)
    except (OSError, UnsafePath) as exc:
        log.warning("RayService %s/%s: its failure log stays: %s", namespace, name, exc)
        return
    with contextlib.suppress(OSError):  # only if nothing else is in it
        path.parent.rmdir()


def _append(
    home: Path,
    namespace: str,
    name: str,
    generation: int | None,
    failures: Sequence[ServeFailure],
) -> None:
    make_dir(home, "logs", namespace, name)
    path = log_path(home, namespace, name)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("a", encoding="utf-8") as handle:
        for failure in failures:
            handle.write(
                f"=== {now} RayCluster {failure.cluster}, generation {generation}\n"
                f"{failure.line}\n\n{failure.text.rstrip()}\n\n"
            )


def _key(failure: ServeFailure) -> str:
    """The same failure is the same cause of the same app on the same cluster: Serve's
    text around it (a retry count, a temp path) may change from one read to the next."""
    parts = (failure.cluster, failure.app, failure.deployment or "", failure.line)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
