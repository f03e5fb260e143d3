"""RayCronJob on the local runtime: the pure RayCronJob reconciler's RayJobs put in the store.

Each RayJob is an ordinary stored RayJob, owned by the RayCronJob (controller
ownerReference, KubeRay's label and annotation), which the RayJob controller then runs
like any other. Deleting the RayCronJob deletes its RayJobs first, as Kubernetes' garbage
collector does for KubeRay, and the RayCronJob goes when the last of them has gone.

The controller runs only with the RayCronJob gate on, as KubeRay's does; with the gate off
a stored RayCronJob (applied under another setting) is left alone, except that it can
still be deleted.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, tzinfo
from typing import Any

from rayplane.api.raycronjob import RayCronJob
from rayplane.api.validation import validate
from rayplane.api.validation.gates import FeatureGates
from rayplane.local.rayjob_controller import SOURCE_DIR, owner_reference
from rayplane.local.store import Store, StoredResource
from rayplane.reconcile.cronjob import CreateRayJob, CronPlan, reconcile_cronjob
from rayplane.reconcile.events import CREATED_RAY_JOB, Event
from rayplane.reconcile.gotime import format_time
from rayplane.settings.timezone import controller_zone

log = logging.getLogger("rayplane.cronjobs")
GATE_OFF = "FeatureGateOff"
FAILED_TO_CREATE_RAY_JOB = "FailedToCreateRayJob"


class RayCronJobController:
    """Creates the RayJobs of every RayCronJob in the store when their ticks come."""

    def __init__(
        self, store: Store, gates: FeatureGates | None = None, zone: tzinfo | None = None
    ) -> None:
        self.store = store
        self.gates = gates or FeatureGates()
        self.zone = zone if zone is not None else controller_zone(None)
        self.changed = threading.Event()  # set when more ticks are due at once

    # reconcile ----------------------------------------------------------------------------

    def reconcile(self, stored: StoredResource, now: datetime | None = None) -> None:
        if stored.deleting is not None:
            self._finalize(stored)
            return
        state = self.store.runtime_state(stored.uid)
        if not self.gates.RayCronJob:
            self._event_once(
                stored,
                state,
                Event.warning(
                    GATE_OFF,
                    "this controller runs with the RayCronJob feature gate off, so no RayJobs "
                    "are scheduled; restart it with RAYPLANE_FEATURE_GATES=RayCronJob=true",
                ),
            )
            self.store.set_runtime_state(stored.uid, state)
            return
        cron = RayCronJob.model_validate(stored.document())
        created = datetime.fromtimestamp(stored.created, UTC)
        plan = reconcile_cronjob(cron, created, now or datetime.now(UTC), self.zone, self.gates)
        for event in plan.events:
            self._event_once(stored, state, event)
        if plan.create is not None and not self._create(stored, cron, plan.create):
            self.store.set_runtime_state(stored.uid, state)
            return  # as KubeRay: lastScheduleTime moves only once the RayJob exists
        if plan.status is not None:
            self.store.set_status(stored.uid, plan.status.wire())
        self._remember(state, plan)
        self.store.set_runtime_state(stored.uid, state)
        if plan.create is not None and plan.behind:
            self.changed.set()  # the next missed tick at once, not after the poll interval

    def _create(self, stored: StoredResource, cron: RayCronJob, action: CreateRayJob) -> bool:
        """Put the RayJob in the store; True when it is there (made now or before)."""
        ns = stored.namespace
        if self.store.get("RayJob", ns, action.name) is not None:
            # The name is the tick's: a RayJob of this tick exists, so it was scheduled.
            log.info("RayJob %s/%s of this tick exists; not creating it again", ns, action.name)
            return True
        annotations = dict(action.annotations)
        source = cron.annotation(SOURCE_DIR)
        if source:  # so that a relative working_dir means what it meant in the RayCronJob
            annotations[SOURCE_DIR] = source
        body: dict[str, Any] = {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "metadata": {
                "name": action.name,
                "namespace": ns,
                "labels": action.labels,
                "annotations": annotations,
                "ownerReferences": [owner_reference(stored)],
            },
            "spec": action.spec.wire(),
        }
        report = validate(body, self.gates)
        if not report.ok:
            problems = "; ".join(str(f) for f in report.errors)
            self.store.event(
                stored.uid,
                FAILED_TO_CREATE_RAY_JOB,
                f"RayJob {action.name} was refused: {problems}",
                "Warning",
            )
            return False
        self.store.put("RayJob", ns, action.name, body)
        self.store.event(
            stored.uid,
            CREATED_RAY_JOB,
            f"created RayJob {action.name} for the tick at {format_time(action.tick)}",
        )
        return True

    def _remember(self, state: dict[str, Any], plan: CronPlan) -> None:
        """What `describe` shows beside the status: the next tick and how far behind."""
        state["nextScheduleTime"] = format_time(plan.next_tick) if plan.next_tick else None
        state["behind"] = plan.behind
        if plan.create is not None or plan.wake_after is not None:
            state.pop("lastEvent", None)  # scheduling again: a later suspension is news

    def _event_once(self, stored: StoredResource, state: dict[str, Any], event: Event) -> None:
        """KubeRay records a suspension or a bad spec each time it reconciles, which is once
        per change of the object; this loop passes every second, so once per generation."""
        key = f"{stored.generation}:{event.reason}"
        if state.get("lastEvent") == key:
            return
        state["lastEvent"] = key
        self.store.event(stored.uid, event.reason, event.message, event.type)

    # deletion ---------------------------------------------------------------------------------

    def _finalize(self, stored: StoredResource) -> None:
        """Delete the RayJobs it owns (their clusters go with them), then itself."""
        owned = self.store.owned_by(stored.uid)
        for child in owned:
            if child.deleting is None:
                self.store.mark_deleting(child.kind, child.namespace, child.name)
        if not owned:
            self.store.remove(stored.uid)

    # describe ---------------------------------------------------------------------------------

    def describe(self, stored: StoredResource) -> dict[str, Any]:
        """The schedule's state and the RayJobs it made, newest first."""
        state = self.store.runtime_state(stored.uid)
        jobs = [
            {
                "name": r.name,
                "jobDeploymentStatus": (r.status or {}).get("jobDeploymentStatus"),
                "jobStatus": (r.status or {}).get("jobStatus"),
            }
            for r in self.store.owned_by(stored.uid)
            if r.kind == "RayJob"
        ]
        return {
            "nextScheduleTime": state.get("nextScheduleTime"),
            "behind": state.get("behind", 0),
            "timeZone": (stored.body.get("spec") or {}).get("timeZone")
            or f"{self.zone} (the controller's)",
            "rayJobs": list(reversed(jobs)),
        }
