"""Fixtures of the gallery tests: a release and a workspace whose every box is known."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures._preview import known_rows
from fixtures._rows import write_release, write_staged


@pytest.fixture
def known_release(tmp_path: Path) -> Path:
    return write_release(tmp_path / "rel", known_rows())


@pytest.fixture
def known_workspace(tmp_path: Path) -> Path:
    return write_staged(tmp_path / "ws", known_rows())
