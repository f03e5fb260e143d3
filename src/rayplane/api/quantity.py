"""Kubernetes resource quantities ("500m", "2Gi", 4) as exact decimals.

KubeRay derives `--num-cpus` and `--memory` from container limits with Go's
``Quantity.Value()``, which rounds up; keeping Decimals lets us round the same way.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_PATTERN = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$"
)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a quantity; raise QuantityError with the accepted forms when it is not one."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _PATTERN.match(value.strip())
    if not match:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity (examples: 2, 500m, 4Gi, 1.5)")
    number, suffix = match.groups()
    try:
        return Decimal(number) * _SUFFIX[suffix]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
        raise QuantityError(f"{value!r} is not a Kubernetes quantity") from exc


def ceil_value(value: str | int | float) -> int:
    """The quantity rounded up to a whole number, as Go's Quantity.Value() does."""
    return math.ceil(parse_quantity(value))


def is_quantity(value: object) -> bool:
    """True when *value* parses as a quantity."""
    try:
        parse_quantity(value)  # type: ignore[arg-type]
    except (QuantityError, TypeError, AttributeError):
        return False
    return True
