"""The simulated kubelet and Job controller: what moves Pods and Jobs along in the fake.

There is no kubelet, scheduler or controller manager behind the fake API; tests call
:meth:`SimulatedKubelet.set_pod_phase` and :meth:`SimulatedKubelet.finish_job` themselves,
or give ``auto_ready_pods`` so every new Pod becomes Running and Ready after a delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rayplane.kubernetes.testing.fake_api.objects import ObjectStore
from rayplane.kubernetes.testing.fake_api.resources import Obj, timestamp


class SimulatedKubelet:
    """Reports Pod and Job status into *store*; with *auto_ready* (seconds) it readies
    each new Pod that long after its creation."""

    def __init__(self, store: ObjectStore, auto_ready: float | None = None) -> None:
        self.store = store
        self.auto_ready = auto_ready
        self._timers: set[asyncio.TimerHandle] = set()
        if auto_ready is not None:
            store.on_pod_created = self._pod_created

    def _pod_created(self, ns: str, name: str) -> None:
        assert self.auto_ready is not None
        self._later(self.auto_ready, lambda: self._auto_ready(ns, name))

    def cancel(self) -> None:
        """Forget the Pods still waiting to become ready (the server is stopping)."""
        for timer in self._timers:
            timer.cancel()

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            self._timers.discard(handle)
            action()

        handle = loop.call_later(delay, run)
        self._timers.add(handle)

    def _auto_ready(self, ns: str, name: str) -> None:
        pod = self.store.data["/pods"].get((ns, name))
        if pod is not None and not pod["metadata"].get("deletionTimestamp"):
            self.set_pod_phase(ns, name)

    def set_pod_phase(
        self, namespace: str, name: str, phase: str = "Running", ready: bool = True
    ) -> Obj:
        """Play the kubelet: *phase*, an IP, the Ready condition and container statuses."""
        pod = self.store.require(self.store.rtype("pods"), namespace, name)
        ip = (pod.get("status") or {}).get("podIP") or self.store.next_ip("10.244")
        flag = "True" if ready else "False"
        now = timestamp()
        statuses = []
        for container in (pod.get("spec") or {}).get("containers") or []:
            state: Obj = (
                {"running": {"startedAt": now}}
                if phase == "Running"
                else {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1}}
            )
            statuses.append(
                {
                    "name": container.get("name"),
                    "ready": ready,
                    "restartCount": 0,
                    "image": container.get("image", ""),
                    "imageID": "",
                    "state": state,
                }
            )
        status = {
            "phase": phase,
            "podIP": ip,
            "hostIP": "10.0.0.1",
            "startTime": now,
            "conditions": [
                {"type": "Ready", "status": flag, "lastTransitionTime": now},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            ],
            "containerStatuses": statuses,
        }
        return self.store.patch_status("pods", namespace, name, status)

    def ready_pods(self, namespace: str | None = None, labels: str | None = None) -> list[str]:
        """Every matching Pod not yet Ready becomes Running and Ready; their names."""
        names = []
        for pod in self.store.objects("pods", namespace, labels):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") or pod_ready(pod):
                continue
            self.set_pod_phase(meta["namespace"], meta["name"])
            names.append(meta["name"])
        return names

    def finish_job(self, namespace: str, name: str, succeeded: bool = True) -> Obj:
        """Mark a batch Job Complete (or Failed), as the Job controller would."""
        now = timestamp()
        kind = "Complete" if succeeded else "Failed"
        status: Obj = {
            "conditions": [{"type": kind, "status": "True", "lastTransitionTime": now}],
            "completionTime" if succeeded else "failed": now if succeeded else 1,
            "startTime": now,
        }
        if succeeded:
            status["succeeded"] = 1
        return self.store.patch_status("jobs", namespace, name, status, group="batch")


def pod_ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False
