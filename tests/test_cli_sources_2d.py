"""The 2D detection sources through the command line, as a user runs them: build, publish,
validate on the format-exact fixtures, and a wrong folder as one line with the expected layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures import make_fixture
from typer.testing import CliRunner

from unimed_cot.builders import get_builder
from unimed_cot.cli import app

runner = CliRunner()


@pytest.mark.parametrize("slug", ["deeplesion", "vindr_cxr"])
def test_build_publish_validate_from_the_command_line(slug: str, tmp_path: Path) -> None:
    root = make_fixture(slug, tmp_path / "input").root
    out = tmp_path / "unimed-cot"
    built = runner.invoke(
        app, ["build", "--source", slug, "--input", str(root), "--out", str(out), "--no-progress"]
    )
    assert built.exit_code == 0, built.output
    assert "rows accepted now" in built.output and "rejected at load" in built.output
    published = runner.invoke(app, ["publish", str(out), "--version", "0.1.0"])
    assert published.exit_code == 0, published.output
    # The load hint names a config a 2D-only release has.
    assert "load_dataset('unimed-cot', '2d')" in published.output.replace("\n", "")
    checked = runner.invoke(app, ["validate", str(out)])
    assert checked.exit_code == 0, checked.output
    shards = sorted((out / "data" / "2d").glob("*.parquet"))
    assert shards and not any(r["images"] for s in shards for r in _images(s))  # no sharing
    # The user's own copy puts the pixels back, checked by sha256, and the release still holds.
    hydrated = runner.invoke(app, ["hydrate", str(out), "--source", slug, "--input", str(root)])
    assert hydrated.exit_code == 0, hydrated.output
    assert all(
        r["images"] for s in sorted((out / "data" / "2d").glob("*.parquet")) for r in _images(s)
    )
    rechecked = runner.invoke(app, ["validate", str(out)])
    assert rechecked.exit_code == 0, rechecked.output


def _images(path: Path) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, object]] = pq.read_table(path, columns=["images"]).to_pylist()
    return rows


@pytest.mark.parametrize("slug", ["deeplesion", "vindr_cxr"])
def test_a_wrong_folder_is_one_line_with_the_layout(slug: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["build", "--source", slug, "--input", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert get_builder(slug).layout.splitlines()[1].strip() in result.output
