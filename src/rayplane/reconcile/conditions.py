"""status.conditions helpers with Kubernetes' ``meta.SetStatusCondition`` semantics.

KubeRay writes its conditions with apimachinery's helpers, and users (``kubectl wait``,
dashboards, alerting on "condition X has been False for N minutes") rely on what those
helpers guarantee: one entry per type, kept in first-set order, and ``lastTransitionTime``
that moves only when ``status`` flips. Reason and message are refreshed on every set
without touching the timestamp. These functions keep those guarantees and never mutate
their input, so a reconciler can compare the old and new status afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rayplane.api.common import Condition
from rayplane.reconcile.gotime import format_time

TRUE = "True"
FALSE = "False"


def find_condition(conditions: Sequence[Condition] | None, type_: str) -> Condition | None:
    """The condition of *type_*, or None."""
    for condition in conditions or ():
        if condition.type == type_:
            return condition
    return None


def is_true(conditions: Sequence[Condition] | None, type_: str) -> bool:
    """True when the condition exists with status "True" (meta.IsStatusConditionTrue)."""
    condition = find_condition(conditions, type_)
    return condition is not None and condition.status == TRUE


def set_condition(
    conditions: Sequence[Condition] | None,
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: datetime,
) -> list[Condition]:
    """A new list with *type_* set; lastTransitionTime changes only if *status* changes.

    An existing entry keeps its position; a new one is appended (KubeRay's condition order
    therefore follows the order in which its controller first set each type).
    """
    result: list[Condition] = []
    found = False
    for condition in conditions or ():
        if condition.type != type_:
            result.append(condition)
            continue
        found = True
        transition = condition.last_transition_time
        if condition.status != status or transition is None:
            transition = format_time(now)
        result.append(
            condition.model_copy(
                update={
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "last_transition_time": transition,
                }
            )
        )
    if not found:
        result.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=format_time(now),
            )
        )
    return result


def remove_condition(conditions: Sequence[Condition] | None, type_: str) -> list[Condition]:
    """A new list without *type_* (meta.RemoveStatusCondition)."""
    return [condition for condition in conditions or () if condition.type != type_]
