"""Fault injection: chosen requests fail with a chosen code (e.g. one 409 on a status write)."""

from __future__ import annotations

from dataclasses import dataclass

from rayplane.kubernetes.testing.fake_api.resources import ApiError


@dataclass
class Injected:
    """A planned failure: the next *times* requests matching it get *code* back."""

    method: str
    plural: str
    subresource: str | None = None
    name: str | None = None
    code: int = 409
    times: int = 1
    hits: int = 0

    def matches(self, method: str, plural: str, sub: str | None, name: str | None) -> bool:
        return (
            self.times > 0
            and self.method == method
            and self.plural == plural
            and self.subresource == sub
            and (self.name is None or self.name == name)
        )


class Faults:
    """The planned failures; :meth:`check` raises the first one a request matches."""

    def __init__(self) -> None:
        self.planned: list[Injected] = []

    def add(self, planned: Injected) -> Injected:
        self.planned.append(planned)
        return planned

    def check(self, method: str, plural: str, sub: str | None, name: str | None) -> None:
        for planned in self.planned:
            if planned.matches(method, plural, sub, name):
                planned.times -= 1
                planned.hits += 1
                reason = {409: "Conflict", 404: "NotFound", 500: "InternalError"}.get(
                    planned.code, "Injected"
                )
                raise ApiError(planned.code, reason, f"injected {planned.code} for a test")
