"""The operator process: kopf as the reactor, one level-based reconcile per object.

kopf watches RayClusters, RayJobs and RayServices (and RayCronJobs with the RayCronJob
gate on), and the Pods and Jobs the operator
creates; its ``on.event`` handlers do nothing but put the affected object's key on a
:class:`~rayplane.kubernetes.workqueue.WorkQueue` (a Pod event queues its RayCluster, a
child's event also queues its owner). Workers take keys off the queue and run one
idempotent pass of that kind's controller (:mod:`.cluster_controller`, :mod:`.job_controller`,
:mod:`.service_controller`, each starting with :mod:`.controller`'s shared prologue) that
re-reads the object, observes, calls the shared pure reconciler, acts, and writes
KubeRay-shaped status itself. Handlers return None, so kopf writes nothing into the
objects; its own progress storage would go to annotations under
``rayplane.ray.io/`` (event handlers keep none).

Around it:

* leader election on the Lease ``ray-operator-leader`` (:mod:`.leader`): only the leader
  starts the workers; events reaching a follower are dropped, and the new leader queues
  every object when it takes over. A leader that loses the Lease exits;
* watch timeouts (``settings.watching.server_timeout`` / ``client_timeout``) so a silent
  watch is re-opened instead of freezing the operator;
* ``/healthz`` and ``/readyz`` (``--health-probe-bind-address``), Prometheus ``/metrics``
  (``--metrics-addr``), and kopf's admission webhook server (``--webhook-port``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import kopf
from aiohttp import web

from rayplane.kubernetes.cluster_controller import RayClusterController
from rayplane.kubernetes.controller import Key, KindController, owner_keys
from rayplane.kubernetes.cronjob_controller import RayCronJobController
from rayplane.kubernetes.job_controller import RayJobController
from rayplane.kubernetes.kube import Kube, KubeError, Obj
from rayplane.kubernetes.leader import LeaderElector
from rayplane.kubernetes.metrics import OperatorMetrics
from rayplane.kubernetes.operator_config import OperatorConfig
from rayplane.kubernetes.operator_context import OperatorContext
from rayplane.kubernetes.service_controller import RayServiceController
from rayplane.kubernetes.webhook import PLURALS, WEBHOOK_PATHS, admission_problems
from rayplane.kubernetes.workqueue import WorkQueue

ANNOTATION_PREFIX = "rayplane.ray.io"
log = logging.getLogger("rayplane.operator")


class Operator:
    """One operator replica. ``await Operator(config).run()`` until :meth:`stop`."""

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        self.metrics = OperatorMetrics()
        self.queue: WorkQueue[Key] = WorkQueue(
            self._reconcile, config.reconcile_concurrency, on_error=self._failed
        )
        self.kube: Kube | None = None
        self.context: OperatorContext | None = None
        self.clusters: RayClusterController | None = None
        self.controllers: dict[str, KindController[Any, Any]] = {}
        self.leading = False
        self.elector: LeaderElector | None = None
        self._stop = asyncio.Event()
        self._kopf_ready = asyncio.Event()
        self._kopf_stop = asyncio.Event()
        self.registry = self._registry()
        self.settings = self._settings()
        self._sites: list[web.AppRunner] = []
        self.exit_reason: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    @property
    def ready(self) -> bool:
        return self._kopf_ready.is_set()

    async def run(self) -> None:
        """Run until :meth:`stop` (or a lost leadership); cleans up after itself."""
        config = self.config
        self.kube = Kube.connect(config.connection, config.field_manager)
        self.context = OperatorContext(self.kube, config, self.metrics)
        self.clusters = RayClusterController(self.context)
        self.controllers = {
            "RayCluster": self.clusters,
            "RayJob": RayJobController(self.context),
            "RayService": RayServiceController(self.context),
        }
        if config.gates.RayCronJob:  # alpha: KubeRay starts this controller only when gated on
            self.controllers["RayCronJob"] = RayCronJobController(self.context)
        tasks: list[asyncio.Task[Any]] = []
        try:
            await self._serve_endpoints()
            tasks.append(asyncio.create_task(self._kopf(), name="kopf"))
            if config.leader_election:
                self.elector = LeaderElector(
                    self.kube,
                    config.leader_election_namespace,
                    config.lease_name,
                    identity=config.identity,
                    lease_duration=config.lease_duration,
                    renew_deadline=config.renew_deadline,
                    retry_period=config.retry_period,
                )
                tasks.append(
                    asyncio.create_task(
                        self.elector.run(self._start_leading, self._stop_leading), name="election"
                    )
                )
            else:
                await self._start_leading()
            stopper = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            for task in done:
                if task is not stopper and not task.cancelled() and task.exception():
                    raise task.exception()  # type: ignore[misc]
        finally:
            self._kopf_stop.set()
            await self.queue.stop()
            if self.context is not None:
                await self.context.events.flush()
            for task in tasks:
                if task.get_name() == "kopf":
                    continue
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for task in tasks:
                if task.get_name() == "kopf":
                    try:
                        await asyncio.wait_for(task, 10)
                    except (TimeoutError, asyncio.CancelledError, Exception):
                        task.cancel()
            for runner in self._sites:
                await runner.cleanup()
            self._sites = []
            await self.kube.close()

    async def _kopf(self) -> None:
        namespaces = list(self.config.namespaces)
        await kopf.operator(
            registry=self.registry,
            settings=self.settings,
            standalone=True,
            clusterwide=not namespaces,
            namespaces=namespaces,
            stop_flag=self._kopf_stop,
            ready_flag=self._kopf_ready,
        )

    async def _start_leading(self) -> None:
        self.leading = True
        self.queue.start()
        assert self.kube is not None
        for kind in self.controllers:
            for namespace in self.config.namespaces or (None,):
                for obj in await self._list_when_served(kind, namespace):
                    meta = obj["metadata"]
                    self.queue.add((kind, meta["namespace"], meta["name"]))

    async def _list_when_served(self, kind: str, namespace: str | None) -> list[Obj]:
        """List *kind*, waiting out what a real API server answers while it is not ready.

        Right after a CRD is installed the API server answers 429 "storage is
        (re)initializing" until its watch cache has synced, and an API server being
        restarted answers 5xx or not at all; an operator that gave up there would
        crash-loop through a routine install.
        """
        assert self.kube is not None
        delay = 0.2
        while True:
            try:
                return await self.kube.select(kind, namespace)
            except KubeError as exc:
                if exc.code is not None and exc.code != 429 and exc.code < 500:
                    raise
                log.info("listing %s: %s; retrying in %.1f s", kind, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _stop_leading(self) -> None:
        self.leading = False
        self.exit_reason = "lost the leader election lease"
        await self.queue.stop()
        self._stop.set()

    # -- reconcile ---------------------------------------------------------------------------------

    async def _reconcile(self, key: Key) -> float | None:
        kind, namespace, name = key
        started = time.monotonic()
        result = "success"
        try:
            delay = await self.controllers[kind].reconcile(namespace, name)
            if delay is not None:
                result = "requeue_after"
            return delay
        except Exception:
            result = "error"
            raise
        finally:
            self.metrics.reconciled(kind.lower(), time.monotonic() - started, result)

    def _failed(self, key: Key, exc: BaseException) -> None:
        log.warning("reconcile of %s %s/%s failed: %s", key[0], key[1], key[2], exc)

    def _on_event(self, kind: str, body: Any, event_type: str | None = None) -> None:
        """A watch event: queue the object (Pods: their cluster) and its ray.io owners.

        Pods also go into the pod index, leader or not, so a standby takes over warm.
        """
        raw: Obj = dict(body)
        if kind == "Pod" and self.clusters is not None:
            self.clusters.pods.observe(event_type, raw)
        if not self.leading:
            return
        meta = raw.get("metadata") or {}
        namespace = str(meta.get("namespace"))
        if kind in self.controllers:
            self.queue.add((kind, namespace, str(meta.get("name"))))
        elif kind == "Pod":
            cluster = (meta.get("labels") or {}).get("ray.io/cluster")
            if cluster:
                self.queue.add(("RayCluster", namespace, str(cluster)))
        for owner in owner_keys(raw):
            if owner[0] in self.controllers:
                self.queue.add(owner)

    # -- kopf wiring -------------------------------------------------------------------------------

    def _registry(self) -> kopf.OperatorRegistry:
        registry = kopf.OperatorRegistry()
        config = self.config

        @kopf.on.login(registry=registry)
        def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
            connection = config.connection
            if connection.server is None:
                return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(
                    **kwargs
                )
            return kopf.ConnectionInfo(
                server=connection.server,
                ca_path=str(connection.ca_file) if connection.ca_file else None,
                insecure=connection.insecure or None,
                scheme="Bearer" if connection.token else None,
                token=connection.token,
            )

        for kind, plural in PLURALS.items():
            self._watch(registry, kind, "ray.io", "v1", plural)
        if config.gates.RayCronJob:
            self._watch(registry, "RayCronJob", "ray.io", "v1", "raycronjobs")
        self._watch(registry, "Pod", "", "v1", "pods")
        self._watch(registry, "Job", "batch", "v1", "jobs")

        if config.webhook_port is not None:
            for kind, plural in PLURALS.items():
                self._validator(registry, kind, plural)
        return registry

    def _watch(
        self, registry: kopf.OperatorRegistry, kind: str, group: str, version: str, plural: str
    ) -> None:
        @kopf.on.event(group, version, plural, registry=registry, id=f"watch-{plural}")
        async def handler(body: Any, type: str | None = None, **_: Any) -> None:
            self._on_event(kind, body, type)

    def _validator(self, registry: kopf.OperatorRegistry, kind: str, plural: str) -> None:
        gates = self.config.gates

        @kopf.on.validate(
            "ray.io",
            "v1",
            plural,
            registry=registry,
            id=WEBHOOK_PATHS[kind],
            operations=["CREATE", "UPDATE"],
        )
        async def validate_handler(body: Any, warnings: list[str], **_: Any) -> None:
            message, found = admission_problems(dict(body), gates)
            warnings.extend(found)
            if message is not None:
                raise kopf.AdmissionError(message, code=422)

    def _settings(self) -> kopf.OperatorSettings:
        config = self.config
        settings = kopf.OperatorSettings()
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=ANNOTATION_PREFIX
        )
        settings.persistence.diffbase_storage = _NoEssence(
            prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
        )
        settings.persistence.finalizer = f"{ANNOTATION_PREFIX}/kopf-finalizer"
        # An integer: the API server refuses `timeoutSeconds=300.0` (strconv.ParseInt), and
        # kopf sends the number as it is given.
        settings.watching.server_timeout = round(config.watch_server_timeout)
        settings.watching.client_timeout = config.watch_client_timeout
        settings.watching.label_selectors["pods"] = "ray.io/cluster"
        settings.watching.label_selectors["batch", "jobs"] = (
            "app.kubernetes.io/created-by=kuberay-operator"
        )
        settings.posting.enabled = False
        settings.scanning.disabled = True
        settings.peering.standalone = True
        settings.networking.request_timeout = 30
        if config.webhook_port is not None:
            settings.admission.server = kopf.WebhookServer(
                addr=config.webhook_host,
                port=config.webhook_port,
                certfile=config.webhook_cert,
                pkeyfile=config.webhook_key,
                insecure=config.webhook_insecure,
            )
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        return settings

    # -- health and metrics endpoints --------------------------------------------------------------

    async def _serve_endpoints(self) -> None:
        if self.config.health_address:
            app = web.Application()
            app.router.add_get("/healthz", self._healthz)
            app.router.add_get("/readyz", self._readyz)
            await self._listen(app, self.config.health_address)
        if self.config.metrics_address:
            app = web.Application()
            app.router.add_get("/metrics", self._metrics)
            await self._listen(app, self.config.metrics_address)

    async def _listen(self, app: web.Application, address: str) -> None:
        host, _, port = address.rpartition(":")
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
        self._sites.append(runner)

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        if not self._kopf_ready.is_set():
            return web.Response(status=503, text="watches not established yet")
        return web.Response(text="ok")

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.exposition(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )


class _NoEssence(kopf.AnnotationsDiffBaseStorage):
    """kopf's change tracking, switched off: this operator registers only event handlers.

    kopf deep-copies every object on every watch event into an "essence" for its
    create/update/delete handlers and their diffs; with none registered the copies are
    never used, and at a thousand clusters they were most of the operator's CPU
    (bench/operator_vs_kuberay.py, profiled).
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None


def run_operator(config: OperatorConfig) -> int:
    """Run an operator in this process until SIGINT/SIGTERM; the exit code."""
    import signal

    operator = Operator(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, operator.stop)
        await operator.run()

    asyncio.run(main())
    if operator.exit_reason:
        log.error("operator exiting: %s", operator.exit_reason)
        return 1
    return 0
