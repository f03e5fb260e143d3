"""Go's resource.Quantity arithmetic: sums that keep Go's format and print as Go prints.

KubeRay's status sums container requests (desiredCPU, desiredMemory) with Quantity.Add
and prints them with Quantity.String(); ours must read "2500m" or "10Gi" where KubeRay's
does, so the sum keeps the left operand's format and prints canonically, as Go does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from rayplane.api.k8s import Quantity
from rayplane.api.quantity import parse_quantity


@dataclass(frozen=True)
class Amount:
    """A resource.Quantity reduced to what status needs: an exact value and its format.

    Go keeps the format of the left operand of a sum unless that operand is zero, and
    prints canonically (2500m, 10Gi, 1536Mi); desiredCPU/Memory must print the same.
    """

    value: Decimal
    format: str  # "DecimalSI" | "BinarySI" | "DecimalExponent"

    @classmethod
    def parse(cls, quantity: Quantity) -> Amount:
        value = parse_quantity(quantity)
        if value != value.quantize(Decimal("1e-9"), rounding=ROUND_CEILING):
            value = value.quantize(Decimal("1e-9"), rounding=ROUND_CEILING)  # Go keeps nanos
        text = str(quantity).strip() if isinstance(quantity, str) else ""
        if text.endswith(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")):
            fmt = "BinarySI"
        elif "e" in text.lower():
            fmt = "DecimalExponent"
        else:
            fmt = "DecimalSI"
        return cls(value, fmt)

    def plus(self, other: Amount) -> Amount:
        fmt = other.format if self.value == 0 else self.format
        return Amount(self.value + other.value, fmt)

    def times(self, factor: int) -> Amount:
        return Amount(self.value * factor, self.format)

    def __str__(self) -> str:
        return canonical(self.value, self.format)


_DECIMAL_SUFFIX = {
    -9: "n",
    -6: "u",
    -3: "m",
    0: "",
    3: "k",
    6: "M",
    9: "G",
    12: "T",
    15: "P",
    18: "E",
}
_BINARY_SUFFIX = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


def canonical(value: Decimal, fmt: str) -> str:
    """Go's Quantity.String() (CanonicalizeBytes)."""
    if value == 0:
        return "0"
    if fmt == "BinarySI" and abs(value) >= 1024 and value == value.to_integral_value():
        amount = int(value)
        exponent = 0
        while exponent < len(_BINARY_SUFFIX) - 1 and amount % 1024 == 0:
            amount //= 1024
            exponent += 1
        return f"{amount}{_BINARY_SUFFIX[exponent]}"
    sign, digits, exp = value.normalize().as_tuple()
    assert isinstance(exp, int)
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    while exp % 3:
        mantissa *= 10
        exp -= 1
    if fmt == "DecimalExponent":
        return f"{mantissa}" if exp == 0 else f"{mantissa}e{exp}"
    while exp > 18:
        mantissa *= 1000
        exp -= 3
    while exp < -9:  # unreachable after nano rounding; kept for safety
        mantissa = math.ceil(Decimal(mantissa) / 1000)
        exp += 3
    return f"{mantissa}{_DECIMAL_SUFFIX[exp]}"
