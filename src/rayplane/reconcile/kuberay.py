"""KubeRay's names on the wire: labels, annotations, finalizers, its manager name, and the
random suffix of the names it generates.

Other tools (KubeRay's own dashboard, Kueue, kubectl selectors) find our objects by these
strings, so each is written once, here, exactly as KubeRay spells it
(ray-operator/controllers/ray/utils/constant.go).
"""

from __future__ import annotations

import secrets
from typing import Final

KUBERAY_MANAGER: Final = "ray.io/kuberay-operator"  # spec.managedBy of KubeRay's own objects
KUBERAY_VERSION: Final = "v1.7.0"  # what ray.io/kuberay-version says on our clusters

# Labels.
CLUSTER_LABEL: Final = "ray.io/cluster"  # also a RayJob's clusterSelector key
ORIGINATED_FROM_CR_NAME: Final = "ray.io/originated-from-cr-name"
ORIGINATED_FROM_CRD: Final = "ray.io/originated-from-crd"
JOB_SUBMISSION_MODE: Final = "ray.io/job-submission-mode"
SERVE_LABEL: Final = "ray.io/serve"
CRONJOB_NAME_LABEL: Final = "ray.io/cronjob-name"  # on the RayJobs a RayCronJob creates
CREATED_BY: Final = "app.kubernetes.io/created-by"
CREATED_BY_KUBERAY: Final = "kuberay-operator"

# Annotations.
DISABLE_PROVISIONED_HEAD_RESTART: Final = "ray.io/disable-provisioned-head-restart"
FT_ANNOTATION: Final = "ray.io/ft-enabled"
NAMESPACE_ANNOTATION: Final = "ray.io/external-storage-namespace"
DELETION_TIMEOUT_ANNOTATION: Final = "ray.io/gcs-ft-deletion-timeout"
HASH_ANNOTATION: Final = "ray.io/hash-without-replicas-and-workers-to-delete"
NUM_WORKER_GROUPS_ANNOTATION: Final = "ray.io/num-worker-groups"
KUBERAY_VERSION_ANNOTATION: Final = "ray.io/kuberay-version"
INITIALIZING_TIMEOUT_ANNOTATION: Final = "ray.io/initializing-timeout"
CRONJOB_TIMESTAMP_ANNOTATION: Final = "ray.io/cronjob-scheduled-timestamp"

# Finalizers.
RAYJOB_FINALIZER: Final = "ray.io/rayjob-finalizer"

# k8s.io/apimachinery/pkg/util/rand: consonants and digits only, so that no generated name
# spells a word (or a confusable digit).
SUFFIX_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
SUFFIX_LENGTH: Final = 5


def random_suffix() -> str:
    """Five characters the way KubeRay's ``rand.String(5)`` makes them (cluster names, job
    ids). From ``secrets``: names made by two controllers must not collide by seeding."""
    return "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))
