"""``python -m rayplane.kubernetes``: the operator, with KubeRay's flags (see ``--help``)."""

from __future__ import annotations

import sys

from rayplane.kubernetes.cli import main

if __name__ == "__main__":
    sys.exit(main())
