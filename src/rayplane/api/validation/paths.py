"""Field paths as users read them: spec.workerGroupSpecs[0].rayStartParams.num-cpus."""

from __future__ import annotations

import re
from collections.abc import Sequence

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def join(base: str, key: str | int) -> str:
    """Extend *base* by a field name, a list index or a map key."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    if _PLAIN.match(key):
        return f"{base}.{key}" if base else key
    return f"{base}[{key}]"


def render(loc: Sequence[str | int]) -> str:
    path = ""
    for part in loc:
        path = join(path, part)
    return path or "(document)"
