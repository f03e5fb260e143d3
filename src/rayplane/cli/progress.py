"""Showing a resource come up: moved to :mod:`rayplane.sdk.waiting`, shared with the SDK."""

from rayplane.sdk.waiting import Outcome, Row, node_rows, wait_for

__all__ = ["Outcome", "Row", "node_rows", "wait_for"]
