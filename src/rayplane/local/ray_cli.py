"""``python -m rayplane.local.ray_cli start ...``: Ray's own ``ray start``, kept on loopback.

This is the process at the root of every local node. It exists so that the loopback
rules of :mod:`rayplane.local.loopback` cannot be bypassed by a caller: it sets the
loopback switch *before* ``ray`` is imported (the constant is read at import), pins
``--node-ip-address=127.0.0.1``, opens the worker-node guard, then hands over to Ray's
click CLI unchanged. Only ``start`` is accepted: ``ray stop`` would kill every Ray
process of the user on this host, not just one node.
"""

from __future__ import annotations

import os
import sys

from rayplane.local import loopback


def main(argv: list[str] | None = None) -> int:
    """Run ``ray start`` with ``argv`` (``["start", ...]``) in loopback mode."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "start":
        sys.stderr.write("usage: python -m rayplane.local.ray_cli start [ray start options]\n")
        return 2
    try:
        start_args = loopback.enforce_node_ip(args[1:])
    except ValueError as exc:
        sys.stderr.write(f"rayplane: {exc}\n")
        return 2
    os.environ.update(loopback.LOOPBACK_ENV)
    loopback.lift_worker_guard()

    from ray.scripts.scripts import cli

    # standalone_mode=False would change how click reports errors; keep Ray's behaviour and
    # let click raise SystemExit with Ray's exit code.
    cli.main(args=["start", *start_args], prog_name="ray")
    return 0


if __name__ == "__main__":
    sys.exit(main())
