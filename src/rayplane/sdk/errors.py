"""The SDK's own failures, so a notebook can tell "rayplane said no" from a bug."""

from __future__ import annotations

from rayplane.errors import RayplaneError

__all__ = ["WaitError"]


class WaitError(RayplaneError):
    """A wait that ended without the outcome asked for: failed, or timed out.

    ``reason`` is a short machine-readable word (``Timeout``, ``ClusterDeleted``, ...);
    the message says what was waited for, what was seen last, and what to do.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason
