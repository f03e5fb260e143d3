"""Which `ray start` option a param reaches, as Ray's click parser reads the flag.

KubeRay renders each rayStartParams entry as ``--key=value`` (a "true" as a bare flag);
click then decides which option that is. The local runtime pins some options (ports,
directories), so it must know which option a user's param really reaches, in every
spelling click accepts, to keep the user from overriding a pin.
"""

from __future__ import annotations

from typing import Final

from rayplane.reconcile.raystart.shell import shell_word

# Boolean flags that must reach `ray start` as `--k=false` rather than being dropped
# (convertParamMap's specialParameterOptions).
FALSE_KEPT: Final = frozenset({"log-color", "include-dashboard", "include-log-monitor"})


def render(key: str, value: str) -> str | None:
    lowered = value.lower()
    if lowered in ("true", "false") and key not in FALSE_KEPT:
        return f"--{key}" if lowered == "true" else None
    return f"--{key}={value}"


def option_name(key: str, value: str) -> str:
    """The `ray start` option a param reaches, as click reads its rendered flag.

    Click splits ``--name=value`` at the first ``=`` and matches the name exactly (Ray's
    ``start`` command has no aliases and no token normalization), so the key
    ``dashboard-host=0.0.0.0`` with value "true" is the option ``dashboard-host``.
    """
    flag = render(key, value) or f"--{key}"
    return shell_word(flag, None).removeprefix("--").split("=", 1)[0]
