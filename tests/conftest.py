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


@pytest.fixture
def default_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private Hugging Face cache reached through the *default* code path.

    ``load_dataset`` is called without ``cache_dir`` in tests that use this, so it takes the
    cache from ``datasets.config`` exactly as a user's call does. ``datasets`` reads ``HF_HOME``
    / ``HF_DATASETS_CACHE`` when it is first imported, so the environment is set (for anything
    spawned) and the values ``datasets.config`` already derived from it are pointed at the same
    temporary folder; the user's own cache is never read or written.
    """
    import datasets.config as hf_config

    home = tmp_path / "hf-home"
    cache = home / "datasets"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(hf_config, "HF_MODULES_CACHE", home / "modules")
    monkeypatch.setattr(hf_config, "DOWNLOADED_DATASETS_PATH", cache / "downloads")
    monkeypatch.setattr(hf_config, "EXTRACTED_DATASETS_PATH", cache / "downloads" / "extracted")
    monkeypatch.setattr(hf_config, "HF_HUB_OFFLINE", True)
    return cache
