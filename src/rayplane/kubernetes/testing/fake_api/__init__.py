"""An in-process fake of the Kubernetes API server, over real HTTP (optionally HTTPS).

No API server can run on the machines this project is built on, so the operator (kopf's
watches and webhook, lightkube's requests) and the stock Ray autoscaler's KubeRay node
provider are tested against this instead. It models what they rely on:

* discovery (``/api``, ``/apis``, resource lists), so kopf finds the resources;
* ``metadata.resourceVersion`` from one global counter, and **409 Conflict** when a write
  names a stale one (PUT, merge patch, status writes), or creates an existing name;
* ``generateName``, uids, ``creationTimestamp``, ``generation`` bumped on spec changes;
* the **status subresource**: status sent to the main resource is ignored, and
  ``/status`` writes change nothing but status (CRDs with ``subresources.status``, Pods,
  Services, Jobs);
* **label selectors** (equality and set based) and simple field selectors on list/watch;
* **list + watch**: ``ADDED``/``MODIFIED``/``DELETED`` events, resumable from a
  resourceVersion (410 Gone once it is too old), ``timeoutSeconds``;
* **finalizers and deletionTimestamp**: a delete only marks an object that has finalizers;
  it disappears when the last finalizer is removed;
* **ownerReference garbage collection**: deleting an object deletes its dependents
  (background propagation; ``Orphan`` strips the references instead);
* **JSON patch** (RFC 6902, ``test`` included), **merge patch** (RFC 7386; strategic merge
  is treated as a merge patch) and server-side apply (as a merge, creating if missing).

There is no kubelet, scheduler or controller manager: tests move Pods to Running/Ready
(:meth:`FakeKubernetes.set_pod_phase`) and finish Jobs (:meth:`FakeKubernetes.finish_job`)
themselves, or pass ``auto_ready_pods`` to have every new Pod become Ready after a delay.
:meth:`FakeKubernetes.inject` makes chosen requests fail (e.g. one 409 on a status write).
No admission, no schema validation or pruning, no RBAC: a token, when set, must only match.

Run it standalone with ``python -m rayplane.kubernetes.testing --port 0``.

One module per concern: :mod:`.resources` (the kinds served, discovery, the error
answer), :mod:`.objects` (the objects and the API server's rules for them),
:mod:`.selectors`, :mod:`.patches`, :mod:`.watch` (history and watch streams),
:mod:`.http_api` (routing, auth, recording), :mod:`.kubelet` (the simulated kubelet and
Job controller), :mod:`.faults` (injected failures), :mod:`.tls`, :mod:`.server`
(:class:`FakeKubernetes`, which puts them together) and :mod:`.standalone`.
"""

from rayplane.kubernetes.testing.fake_api.faults import Injected
from rayplane.kubernetes.testing.fake_api.http_api import Recorded
from rayplane.kubernetes.testing.fake_api.patches import merge_patch
from rayplane.kubernetes.testing.fake_api.resources import RESOURCES, ApiError, ResourceType
from rayplane.kubernetes.testing.fake_api.selectors import field_selector, label_selector
from rayplane.kubernetes.testing.fake_api.server import FakeKubernetes, seed
from rayplane.kubernetes.testing.fake_api.standalone import main

__all__ = [
    "RESOURCES",
    "ApiError",
    "FakeKubernetes",
    "Injected",
    "Recorded",
    "ResourceType",
    "field_selector",
    "label_selector",
    "main",
    "merge_patch",
    "seed",
]
