"""Shared test fixtures; the shared plain helpers are in tests/support.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import EXAMPLES


@pytest.fixture
def examples() -> Path:
    return EXAMPLES
