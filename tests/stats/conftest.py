"""Fixtures of the stats tests: rows whose statistics are known by construction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fixtures._rows import make_row, write_release, write_staged


@pytest.fixture
def row() -> Callable[..., dict[str, Any]]:
    """``make_row`` as a fixture (test modules do not import conftest)."""
    return make_row


@pytest.fixture
def as_release() -> Callable[[Path, Sequence[dict[str, Any]]], Path]:
    """``write_release`` as a fixture."""
    return write_release


@pytest.fixture
def as_staged() -> Callable[[Path, Sequence[dict[str, Any]]], Path]:
    """``write_staged`` as a fixture."""
    return write_staged
