"""Shared fixtures: one demo release built once per test session through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from unimed_cot.cli import app


@pytest.fixture(scope="session")
def demo_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's demo, run once: build the phantom source, publish 0.1.0, return the folder."""
    release = tmp_path_factory.mktemp("demo") / "unimed-cot"
    runner = CliRunner()
    result = runner.invoke(
        app, ["build", "--source", "phantom", "--out", str(release), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["publish", str(release), "--version", "0.1.0"])
    assert result.exit_code == 0, result.output
    return release
