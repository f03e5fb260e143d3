"""One node's filesystem view, from its RayCluster: the seam between the cluster and bwrap.

``raycluster_starts`` asks :func:`node_view` before it starts a node and
``raycluster_controller`` calls :func:`refresh_views` each pass; both read the plan of
:mod:`rayplane.reconcile.volumes`, make the folders with :mod:`rayplane.local.mounts` and
leave the command line to :mod:`rayplane.local.sandbox`. What the node got is kept in its
record (``info["mounts"]``, ``info["mountsMissing"]``) for ``describe``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from rayplane.api.k8s import PodTemplateSpec
from rayplane.api.raycluster import HEAD_GROUP, RayCluster, WorkerGroupSpec
from rayplane.local import mounts, sandbox
from rayplane.local.configrefs import CONFIG_ERROR, ConfigError
from rayplane.local.env import node_labels
from rayplane.local.store import Store, StoredNode, StoredResource
from rayplane.reconcile.volumes import (
    Lookup,
    PodInfo,
    VolumeError,
    VolumePlan,
    object_bytes,
    plan_volumes,
)
from rayplane.settings import LocalSettings


def group_plan(cluster: RayCluster, group: WorkerGroupSpec | None) -> tuple[VolumePlan, str]:
    """The volume plan of the head (group None) or of a worker group, and its field path."""
    if group is None:
        template, where = cluster.spec.head_group_spec.template, "headGroupSpec.template.spec"
    else:
        index = cluster.spec.worker_group_specs.index(group)
        template, where = group.template, f"workerGroupSpecs[{index}].template.spec"
    return plan_volumes(template.spec.wire(), where), where


def store_lookup(store: Store, namespace: str) -> Lookup:
    """Volumes read the stored Secrets and ConfigMaps of the cluster's namespace."""

    def lookup(kind: str, name: str) -> Mapping[str, bytes] | None:
        stored = store.get(kind, namespace, name)
        return object_bytes(kind, stored.body) if stored is not None else None

    return lookup


def _pod(cluster: RayCluster, group: WorkerGroupSpec | None, node: StoredNode) -> PodInfo:
    template = (group.template if group else cluster.spec.head_group_spec.template).metadata
    return PodInfo(
        name=node.name,
        namespace=cluster.metadata.namespace or "default",
        labels=node_labels(cluster, group),
        annotations=(template.annotations if template else None) or {},
    )


def node_view(
    settings: LocalSettings,
    store: Store,
    stored: StoredResource,
    cluster: RayCluster,
    group: WorkerGroupSpec | None,
    node: StoredNode,
) -> mounts.View | None:
    """Make the node's volumes and return its view; None when it runs without one.

    Without bwrap the node starts anyway and its record says which mounts it lacks and
    the command that fixes it. A required ConfigMap or Secret that is missing raises
    ConfigError: the node waits, as a Pod waits for its volume.
    """
    plan, where = group_plan(cluster, group)
    wanted = [m.path for m in plan.mounts]
    why = sandbox.unavailable()
    node.info["mountsMissing"] = list(plan.problems)
    if why:
        node.info["mounts"] = []
        if wanted:
            node.info["mountsMissing"].append(
                f"{', '.join(wanted)} and workingDir {plan.working_dir}: not mounted, {why}"
            )
        return None
    try:
        prepared = mounts.prepare(
            settings.home,
            stored.namespace,
            stored.name,
            node.name,
            plan,
            store_lookup(store, stored.namespace),
            _pod(cluster, group, node),
            where,
            keep=(settings.temp_root,),
        )
    except VolumeError as exc:
        raise ConfigError(f"{CONFIG_ERROR}: FailedMount: {exc}") from None
    node.info["mounts"] = prepared.shown
    node.info["mountsMissing"] += prepared.missing
    return prepared.view()


def refresh_views(
    settings: LocalSettings,
    store: Store,
    stored: StoredResource,
    cluster: RayCluster,
    nodes: list[StoredNode],
) -> None:
    """Bring running nodes' ConfigMap/Secret files up to date, as the kubelet's sync does."""
    lookup = store_lookup(store, stored.namespace)
    plans: dict[str, tuple[VolumePlan, WorkerGroupSpec | None]] = {}
    for node in nodes:
        if node.pid is None or node.deleting is not None or not node.info.get("mounts"):
            continue
        if node.group not in plans:
            group = next(
                (g for g in cluster.spec.worker_group_specs if g.group_name == node.group), None
            )
            if group is None and node.group != HEAD_GROUP:
                continue
            plans[node.group] = (group_plan(cluster, group)[0], group)
        plan, group = plans[node.group]
        changed = mounts.refresh(
            settings.home,
            stored.namespace,
            stored.name,
            node.name,
            plan,
            lookup,
            _pod(cluster, group, node),
        )
        if changed:
            store.event(stored.uid, "VolumesUpdated", f"{node.name}: updated {', '.join(changed)}")


SUBMITTER = "submitter"


def submitter_view(
    settings: LocalSettings, store: Store, stored: StoredResource, template: PodTemplateSpec
) -> mounts.View | None:
    """The K8sJobMode submitter's view, when its submitterPodTemplate mounts volumes.

    Without volumeMounts the submitter runs as before (in the RayJob's source folder); its
    folders live under ``volumes/<ns>/<rayjob>/nodes/submitter`` and its claims under
    ``volumes/<ns>/<rayjob>/claims``, removed with the submitter.
    """
    plan = plan_volumes(template.spec.wire(), "submitterPodTemplate.spec")
    if not plan.mounts or sandbox.unavailable():
        return None
    pod = PodInfo(name=stored.name, namespace=stored.namespace)
    try:
        prepared = mounts.prepare(
            settings.home,
            stored.namespace,
            stored.name,
            SUBMITTER,
            plan,
            store_lookup(store, stored.namespace),
            pod,
            "submitterPodTemplate.spec",
        )
    except VolumeError as exc:
        raise ConfigError(f"{CONFIG_ERROR}: FailedMount: {exc}") from None
    return dataclasses.replace(prepared.view(), owner=(stored.namespace, stored.name))


def view_to_json(view: mounts.View | None) -> dict[str, Any] | None:
    """A view as the store keeps it in a RayJob's runtime state (a retry reuses it)."""
    if view is None:
        return None
    return {
        "binds": [dataclasses.asdict(b) for b in view.binds],
        "workingDir": view.working_dir,
        "owner": list(view.owner),
    }


def view_from_json(raw: dict[str, Any] | None) -> mounts.View | None:
    if not raw:
        return None
    binds = tuple(mounts.Bind(**b) for b in raw["binds"])
    owner = tuple(raw.get("owner") or ("", ""))
    return mounts.View(binds, str(raw["workingDir"]), (str(owner[0]), str(owner[1])))


def remove_submitter_view(settings: LocalSettings, raw: dict[str, Any]) -> None:
    namespace, name = (raw.get("owner") or ["", ""])[:2]
    if namespace and name:
        mounts.remove_cluster(settings.home, namespace, name)
