"""The root of rayplane's own exceptions.

Every error class the package defines derives from `RayplaneError`, so a caller
(the CLI, an embedding program) can tell "rayplane refused or failed" apart from a
bug in Python or a library with one `except`. This module imports nothing from the
package, so every layer may import it.
"""

from __future__ import annotations

__all__ = ["RayplaneError"]


class RayplaneError(Exception):
    """Base of every exception rayplane raises on purpose."""
