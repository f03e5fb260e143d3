"""Kubernetes resource quantities ("500m", "2Gi", 4) as exact decimals.

KubeRay derives `--num-cpus` and `--memory` from container limits with Go's
``Quantity.Value()``, which rounds up; keeping Decimals lets us round the same way.

What parses is what both gates in front of KubeRay let through: the CRD's OpenAPI
pattern for int-or-string quantities and apimachinery's ParseQuantity (whose decimal
exponent must be an integer). Like ParseQuantity, a non-zero value is rounded up to a
whole nano; unlike it, every value is also held to int64's range, so the arithmetic of
the reconcilers is total: ``1e40`` or ``2**64`` CPUs is absurd, but it is a number that
Kubernetes stores, and must not crash the controller that reads it.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_UP, Context, Decimal

from rayplane.errors import RayplaneError

_DECIMAL_EXPONENT = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12}
_DECIMAL_EXPONENT.update({"P": 15, "E": 18})
_BINARY_EXPONENT = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<binary>[KMGTPE]i)|(?P<decimal>[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?$",
    re.ASCII,
)
# apimachinery caps BinarySI quantities at int64's maximum and Value() cannot say more.
LIMIT = Decimal(2**63 - 1)
NANO = Decimal("1e-9")
_INT64 = 2**63


class QuantityError(RayplaneError, ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a quantity; raise QuantityError with the accepted forms when it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, float) and not math.isfinite(value):
        raise QuantityError(f"{value!r} is not a quantity: it must be a finite number")
    text = value.strip() if isinstance(value, str) else repr(value)
    match = _PATTERN.match(text)
    if not match:
        raise QuantityError(
            f"{value!r} is not a Kubernetes quantity (examples: 2, 500m, 4Gi, 1.5, 1e3)"
        )
    number = Decimal(match["number"])
    if match["binary"]:
        return _bounded(number, 0, 2 ** _BINARY_EXPONENT[match["binary"]])
    if match["exponent"] is not None:
        exponent = int(match["exponent"])
        if not -_INT64 <= exponent < _INT64:  # strconv.ParseInt(.., 64) refuses it
            raise QuantityError(f"{value!r} is not a Kubernetes quantity: its exponent is too big")
        # ParseQuantity keeps the exponent in an int32; a bigger one wraps around there.
        exponent = (exponent + 2**31) % 2**32 - 2**31
        return _bounded(number, exponent, 1)
    return _bounded(number, _DECIMAL_EXPONENT[match["decimal"] or ""], 1)


def _bounded(number: Decimal, exponent: int, factor: int) -> Decimal:
    """number * 10**exponent * factor, rounded up to a nano and held to int64's range."""
    if number == 0:
        return Decimal(0)
    magnitude = number.adjusted() + exponent + len(str(factor))
    if magnitude > 20:
        return LIMIT.copy_sign(number)
    if magnitude < -11:
        return NANO.copy_sign(number)
    digits = len(number.as_tuple().digits) + len(str(factor)) + 40
    exact = Context(prec=digits).multiply(number.scaleb(exponent, Context(prec=digits)), factor)
    rounded = exact.quantize(NANO, rounding=ROUND_UP, context=Context(prec=digits))
    return rounded if abs(rounded) <= LIMIT else LIMIT.copy_sign(number)


def ceil_value(value: str | int | float) -> int:
    """The quantity rounded up to a whole number, as Go's Quantity.Value() does."""
    return math.ceil(parse_quantity(value))


def is_quantity(value: object) -> bool:
    """True when *value* parses as a quantity."""
    try:
        parse_quantity(value)  # type: ignore[arg-type]
    except QuantityError:
        return False
    return True
