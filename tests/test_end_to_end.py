"""The README's demo end to end: build -> publish -> validate -> load_dataset, on the phantom."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from unimed_cot.boxes import find_boxes, validate_box
from unimed_cot.cli import app

runner = CliRunner()


def _rows(release: Path, config: str) -> list[dict]:
    rows: list[dict] = []
    for path in sorted((release / "data" / config).glob("*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def test_demo_has_enough_rows_of_both_kinds(demo_release: Path) -> None:
    rows_2d, rows_3d = _rows(demo_release, "2d"), _rows(demo_release, "3d")
    assert len(rows_2d) >= 200
    assert len(rows_3d) >= 100
    families = {r["question_type"] for r in rows_2d + rows_3d}
    assert families >= {
        "structure_localization",
        "spatial_localization",
        "existence_verification",
        "size_comparison",
        "spatial_relationship",
        "lesion_analysis",
    }


def test_load_dataset_offline(
    demo_release: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(demo_release.parent)
    import datasets

    for config in ("2d", "3d"):
        ds = datasets.load_dataset("unimed-cot", config, cache_dir=str(tmp_path / "cache"))
        assert set(ds) == {"train", "validation", "test"}
        row = ds["train"][0]
        assert row["dims"] == int(config[0])
        image = row["images"][0]
        assert image.__class__.__module__.startswith("PIL")
        if config == "3d":
            assert len(row["images"]) == 32
            assert {im.size for im in row["images"]} == {(252, 252)}
        else:
            assert image.size[0] % 28 == 0 and image.size[1] % 28 == 0


def test_every_box_in_reasoning_is_grounded(demo_release: Path) -> None:
    import io

    from PIL import Image

    for config in ("2d", "3d"):
        for row in _rows(demo_release, config):
            width, height = Image.open(io.BytesIO(row["images"][0]["bytes"])).size
            n_slices = len(row["images"]) if row["dims"] == 3 else None
            text_boxes = find_boxes(row["reasoning"])
            region_boxes = {tuple(r["box"]) for r in row["regions"]}
            assert set(text_boxes) == region_boxes, row["id"]
            for box in text_boxes:
                validate_box(box, width=width, height=height, n_slices=n_slices)
            if row["question_type"] != "existence_verification" or row["answer"].endswith("Yes"):
                assert text_boxes, f"{row['id']} cites no evidence"


def test_validate_passes_and_catches_corruption(demo_release: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(demo_release)])
    assert result.exit_code == 0, result.output

    broken = tmp_path / "broken"
    shutil.copytree(demo_release, broken, ignore=shutil.ignore_patterns(".build"))
    manifest = json.loads((broken / "manifest.json").read_text())
    first = manifest["shards"][0]
    first["sha256"] = "0" * 64
    (broken / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 3
    assert "sha256" in result.output

    truncated = tmp_path / "truncated"
    shutil.copytree(demo_release, truncated, ignore=shutil.ignore_patterns(".build"))
    shard = next((truncated / "data" / "3d").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    result = runner.invoke(app, ["validate", str(truncated)])
    assert result.exit_code == 3
    assert "Traceback" not in result.output
