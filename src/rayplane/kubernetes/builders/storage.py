"""The PersistentVolumeClaim of the embedded GCS store (GCS FT with ``backend: rocksdb``).

KubeRay's common/gcs_ft.go at feeaf72 (behind its alpha GCSFaultToleranceEmbeddedStorage
gate). A claim the user names in ``storage.claimName`` is theirs: nothing is created. The
operator's own claim is owned by the cluster unless ``deletionPolicy: Retain``.
"""

from __future__ import annotations

from typing import Any

from rayplane.api.raycluster import GcsStorage, RayCluster
from rayplane.kubernetes.builders import labels as L
from rayplane.kubernetes.builders.names import gcs_pvc_name
from rayplane.kubernetes.builders.objects import Manifest, envelope

DEFAULT_SIZE = "1Gi"
RETAIN = "Retain"
READ_WRITE_ONCE = "ReadWriteOnce"


def wants_gcs_pvc(cluster: RayCluster, ft_enabled: bool) -> bool:
    options = cluster.spec.gcs_fault_tolerance_options
    if not ft_enabled or options is None or options.backend != "rocksdb":
        return False
    return options.storage is None or not options.storage.claim_name


def gcs_pvc(cluster: RayCluster) -> Manifest:
    """``<cluster>-gcs-pvc``: ReadWriteOnce, 1Gi unless ``storage`` says otherwise."""
    options = cluster.spec.gcs_fault_tolerance_options
    storage = (options.storage if options is not None else None) or GcsStorage()
    pvc = envelope(
        "v1",
        "PersistentVolumeClaim",
        gcs_pvc_name(cluster.name, cluster.spec),
        cluster.namespace,
        labels={L.CLUSTER: cluster.name},
        owner=None if storage.deletion_policy == RETAIN else cluster,
    )
    spec: dict[str, Any] = {
        "accessModes": list(storage.access_modes or [READ_WRITE_ONCE]),
        "resources": {"requests": {"storage": storage.size or DEFAULT_SIZE}},
    }
    if storage.storage_class_name is not None:
        spec["storageClassName"] = storage.storage_class_name
    pvc["spec"] = spec
    return pvc
