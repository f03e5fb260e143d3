"""rayplane's Python API: resource handles over one Backend port, local or Kubernetes.

Import the public names from the top package (``rayplane.Cluster``, ``rayplane.local``);
the modules here are the layers under them: :mod:`~rayplane.sdk.backend` (the port),
:mod:`~rayplane.sdk.runtime`, :mod:`~rayplane.sdk.resources` (the handles),
:mod:`~rayplane.sdk.waiting` (the wait loop and its judges, shared with the CLI),
:mod:`~rayplane.sdk.documents` (checking, ordering and naming what is applied),
:mod:`~rayplane.sdk.status` and :mod:`~rayplane.sdk.errors`.
"""
