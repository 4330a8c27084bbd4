"""validate_release: a fresh release passes; each kind of corruption is one readable problem."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import DatasetCard

from unimed_cot.boxes import render_box
from unimed_cot.release.identity import config_description
from unimed_cot.release.publish import publish
from unimed_cot.store.features import read_table, rows_to_table, table_to_rows, write_parquet
from unimed_cot.validate import Problem, ValidationReport, format_problems, validate_release


@pytest.fixture
def release(workspace: Path, tmp_path: Path) -> Path:
    publish(workspace, version="0.1.0")
    copy = tmp_path / "release"
    shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns(".build"))  # what users download
    return copy


def _manifest(release: Path) -> dict[str, Any]:
    return json.loads((release / "manifest.json").read_text())


def _rewrite(
    release: Path, name: str, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
) -> None:
    """Rewrite one shard's rows and update its manifest entry and the card's content identity, so
    checksums and identity stay consistent and only the planted fault shows."""
    path = release / name
    rows = change(table_to_rows(read_table(path)))
    write_parquet(rows_to_table(rows), path)
    manifest = _manifest(release)
    entry = next(s for s in manifest["shards"] if s["path"] == name)
    data = path.read_bytes()
    entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), rows=len(rows))
    (release / "manifest.json").write_text(json.dumps(manifest))
    card = DatasetCard.load(release / "README.md")
    for config in card.data["configs"]:
        scope = ["2d", "3d"] if config["config_name"] == "all" else [config["config_name"]]
        config["description"] = config_description(manifest, scope)
    card.save(release / "README.md")


def _whats(report: ValidationReport) -> list[str]:
    return [f"{p.where}: {p.what}" for p in report.problems]


def test_fresh_release_is_valid(release: Path) -> None:
    report = validate_release(release)
    assert report.problems == []
    assert report.ok and report.rows == 34 and report.shards == 6 and report.images == 24 + 10 * 4
    assert report.boxes == 34
    assert "34 rows in 6 shards" in report.summary()


def test_truncated_shard_is_a_problem_not_a_crash(release: Path) -> None:
    shard = release / "data/3d/train-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    whats = _whats(validate_release(release))
    assert any("data/3d/train-00000-of-00001.parquet: not readable as Parquet" in w for w in whats)
    assert any("sha256 is" in w for w in whats)


def test_box_outside_its_image(release: Path) -> None:
    name = "data/2d/train-00000-of-00001.parquet"

    def push_out(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        row = rows[0]
        old = row["regions"][0]["box"]
        bad = [old[0], old[1], 200, old[3]]  # the image is 84 pixels wide
        row["reasoning"] = row["reasoning"].replace(render_box(old), render_box(bad))
        row["regions"][0]["box"] = bad
        return rows

    _rewrite(release, name, push_out)
    report = validate_release(release)
    assert len(report.problems) == 1, _whats(report)
    assert report.problems[0].where.startswith(name)
    assert "x range [10,200) not inside [0,84]" in report.problems[0].what


def test_reasoning_box_that_is_not_a_region(release: Path) -> None:
    def drift(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[0]["regions"][0]["box"] = [0, 0, 1, 1, 0, 1]
        return rows

    _rewrite(release, "data/3d/test-00000-of-00001.parquet", drift)
    whats = _whats(validate_release(release))
    assert any("in the reasoning is not a region box" in w for w in whats)
    assert any("region boxes not cited" in w for w in whats)


def test_changed_checksum_in_manifest(release: Path) -> None:
    manifest = _manifest(release)
    manifest["shards"][0]["sha256"] = "0" * 64
    (release / "manifest.json").write_text(json.dumps(manifest))
    report = validate_release(release)
    assert len(report.problems) == 1
    assert report.problems[0].where == manifest["shards"][0]["path"]
    assert "manifest.json says 0000" in report.problems[0].what


def test_group_moved_to_another_split(release: Path) -> None:
    moved: dict[str, Any] = {}

    def take(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        moved.update(rows[0])
        return rows[1:]

    def put(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [*rows, {**moved, "split": "test"}]

    _rewrite(release, "data/2d/train-00000-of-00001.parquet", take)
    _rewrite(release, "data/2d/test-00000-of-00001.parquet", put)
    whats = _whats(validate_release(release))
    assert any(f"group {moved['group_id']}: is in more than one split" in w for w in whats), whats
    assert any("README.md: dataset_info of '2d' lists splits" in w for w in whats)


def test_row_in_the_wrong_split_file_and_duplicate_ids(release: Path) -> None:
    def duplicate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [*rows, rows[0]]

    _rewrite(release, "data/2d/validation-00000-of-00001.parquet", duplicate)
    _rewrite(
        release,
        "data/3d/validation-00000-of-00001.parquet",
        lambda rows: [{**rows[0], "split": "train"}, *rows[1:]],
    )
    whats = _whats(validate_release(release))
    assert any("id is not unique" in w for w in whats)
    assert any("split is 'train' but the file is a validation shard" in w for w in whats)


def test_unlisted_missing_and_misnamed_shards(release: Path) -> None:
    shutil.copy(release / "data/2d/test-00000-of-00001.parquet", release / "data/2d/extra.parquet")
    (release / "data/3d/validation-00000-of-00001.parquet").unlink()
    whats = _whats(validate_release(release))
    assert "data/2d/extra.parquet: shard not listed in manifest.json" in whats
    assert any(w.startswith("data/2d/extra.parquet: not a shard name") for w in whats)
    assert "data/3d/validation-00000-of-00001.parquet: listed in manifest.json but missing" in whats


def test_missing_manifest_card_and_undecodable_image(release: Path) -> None:
    def break_image(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[0]["images"] = [rows[0]["images"][0][:60], *rows[0]["images"][1:]]
        return rows

    _rewrite(release, "data/3d/train-00000-of-00001.parquet", break_image)
    (release / "README.md").write_text("---\nconfigs: [unclosed\n---\ntext\n")
    (release / "manifest.json").unlink()
    whats = _whats(validate_release(release))
    assert any(w.startswith("manifest.json: ") and "missing" in w for w in whats)
    assert any(w.startswith("README.md: YAML header does not parse") for w in whats)
    assert any("image 0 does not decode" in w for w in whats)


def test_format_problems_caps_the_list(tmp_path: Path) -> None:
    report = ValidationReport(
        release=tmp_path, problems=[Problem(f"f{i}", "bad") for i in range(45)]
    )
    text = format_problems(report, limit=10)
    assert text.splitlines()[0].endswith("45 problem(s)")
    assert "- f9: bad" in text and "- f10: bad" not in text
    assert text.endswith("... and 35 more")
    assert "no problems" in format_problems(ValidationReport(release=tmp_path))
