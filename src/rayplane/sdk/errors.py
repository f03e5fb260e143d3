"""What the SDK raises: a resource refused before or by the runtime, or a wait that ended
without the resource getting where it was asked to go. Both say why in their text, so a
notebook's traceback alone tells the user what to fix."""

from __future__ import annotations

from collections.abc import Iterable

from rayplane.api.findings import Finding
from rayplane.errors import RayplaneError


class ApplyError(RayplaneError):
    """A resource was refused (invalid, or the runtime said no); nothing of that apply was
    stored when validation refused it. ``findings`` holds each problem's field path and
    message; ``str()`` lists them all, one per line."""

    def __init__(self, message: str, findings: Iterable[Finding] = ()) -> None:
        self.message = message
        self.findings = [f for f in findings if f.severity == "error"]
        lines = [message, *(f"  {f}" for f in self.findings)]
        super().__init__("\n".join(lines))


class WaitError(RayplaneError):
    """A wait ended without success: the resource failed, disappeared or timed out.

    ``reason`` is the one-line cause (the runtime's reason, or what was still missing when
    the time ran out); ``timed_out`` tells the two apart.
    """

    def __init__(self, what: str, reason: str, *, timed_out: bool = False) -> None:
        self.what = what
        self.reason = reason
        self.timed_out = timed_out
        super().__init__(f"{what}: {reason}")


class NotFoundError(RayplaneError, LookupError):
    """``get`` named an object the runtime does not have."""
