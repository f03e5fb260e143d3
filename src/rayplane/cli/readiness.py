"""When `apply` stops waiting: moved to :mod:`rayplane.sdk.waiting`, shared with the SDK."""

from rayplane.sdk.waiting import cluster_outcome, service_outcome

__all__ = ["cluster_outcome", "service_outcome"]
