"""Annotation-only publishing of non-redistributable rows, and `hydrate` back to the same bytes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from unimed_cot.cli import app
from unimed_cot.errors import UsageError
from unimed_cot.release.hydrate import hydrate
from unimed_cot.release.publish import publish
from unimed_cot.release.rowindex import read_row_index
from unimed_cot.store import read_table, write_parquet
from unimed_cot.store.files import sha256_file
from unimed_cot.store.workspace import CASE_TERMS_KEY, Workspace
from unimed_cot.validate import format_problems, validate_release


def _stage_terms(staged_file: Path, license_id: str, *, redistributable: bool) -> None:
    """Record other terms in a staged case file, as the pipeline does for such a record."""
    terms = json.dumps({"license": license_id, "redistributable": redistributable})
    write_parquet(read_table(staged_file), staged_file, extra_metadata={CASE_TERMS_KEY: terms})


def _images_by_id(release: Path) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for path in sorted((release / "data").rglob("*.parquet")):
        for row in pq.read_table(path, columns=["id", "images"]).to_pylist():
            found[row["id"]] = [image["bytes"] for image in row["images"]]
    return found


def test_a_case_marked_not_redistributable_is_published_without_pixels(
    workspace: Path,
) -> None:
    staged = workspace / ".build" / "staged" / "beta" / "vol01.parquet"
    _stage_terms(staged, "CC-BY-NC-4.0", redistributable=False)
    report = publish(workspace, version="0.1.0")
    images = _images_by_id(workspace)
    assert {i for i, imgs in images.items() if not imgs} == {"beta/vol01/0", "beta/vol01/1"}
    assert report.annotation_only_rows == 2
    index = read_row_index(workspace / "rows.tsv")
    assert len(index["beta/vol01/0"].image_sha256) == 4  # the pixels it had, for hydrate
    manifest = json.loads((workspace / "manifest.json").read_text())
    assert manifest["licenses"]["beta"] == {
        "license": "CC-BY-4.0",
        "redistributable": "per case",
        "annotation_only_rows": 2,
    }
    assert manifest["annotation_only"]["beta"]["rows"] == 2
    assert manifest["annotation_only"]["beta"]["build_identity"] == {"source": "beta", "seed": 0}
    validated = validate_release(workspace)
    assert validated.ok, format_problems(validated)
    assert validated.annotation_only == 2
    assert "published **annotation-only**" in (workspace / "README.md").read_text()


def test_validate_catches_images_that_differ_from_rows_tsv(workspace: Path) -> None:
    publish(workspace, version="0.1.0")
    index = (workspace / "rows.tsv").read_text().splitlines()
    line = next(i for i, text in enumerate(index) if text.startswith("alpha/p0-img0/0\t"))
    parts = index[line].split("\t")
    index[line] = "\t".join([*parts[:3], "0" * 64])
    (workspace / "rows.tsv").write_text("\n".join(index) + "\n")
    problems = [p.what for p in validate_release(workspace).problems]
    assert "sha256 differs from manifest.json" in problems
    assert "images differ from the sha256s recorded in rows.tsv" in problems


CASES = ("phantom2d-0000", "phantom3d-0000")


@pytest.fixture
def phantom_copy(demo_release: Path, tmp_path: Path) -> Path:
    """The demo release with two phantom cases marked not redistributable, republished."""
    copy = tmp_path / "release"
    shutil.copytree(demo_release, copy)
    for case in CASES:  # the terms the pipeline stages for such cases
        staged = Workspace(copy).staged_path("phantom", case)
        _stage_terms(staged, "LicenseRef-test", redistributable=False)
    return copy


def _of_cases(images: dict[str, list[bytes]]) -> dict[str, list[bytes]]:
    return {i: v for i, v in images.items() if i.split("/")[1] in CASES}


def test_annotation_only_cases_round_trip_through_hydrate(phantom_copy: Path) -> None:
    published = _images_by_id(phantom_copy)
    assert len(_of_cases(published)) >= 4
    windows = {
        row["window"]
        for path in sorted((phantom_copy / "data").rglob("*.parquet"))
        for row in pq.read_table(path, columns=["id", "window"]).to_pylist()
        if row["id"].startswith("phantom/phantom3d-0000/")
    }
    assert len(windows) > 1  # the CT case's questions see it under several windows
    with_pixels = {
        p.relative_to(phantom_copy).as_posix(): sha256_file(p)
        for p in sorted((phantom_copy / "data").rglob("*.parquet"))
    }
    publish(phantom_copy, version="0.2.0")
    stripped = _images_by_id(phantom_copy)
    assert {i for i, v in stripped.items() if not v} == set(_of_cases(published))
    assert validate_release(phantom_copy).ok

    source_copy = phantom_copy / ".build" / "inputs" / "phantom"
    result = CliRunner().invoke(
        app, ["hydrate", str(phantom_copy), "--source", "phantom", "--input", str(source_copy)]
    )
    assert result.exit_code == 0, result.output
    assert f"hydrated {len(_of_cases(published))} rows of 2 phantom cases" in result.output
    assert _images_by_id(phantom_copy) == published  # byte-identical pixels
    manifest = json.loads((phantom_copy / "manifest.json").read_text())
    for shard in manifest["shards"]:  # the manifest follows the rewritten shards
        assert sha256_file(phantom_copy / shard["path"]) == shard["sha256"]
    # Hydrated shards keep the layout (validate checks it) and are the very shards that were
    # published with pixels: same rows, same row groups, same bytes.
    assert validate_release(phantom_copy).ok
    assert {s["path"]: s["sha256"] for s in manifest["shards"]} == with_pixels


def test_hydrate_refuses_other_pixels_and_wrong_sources(phantom_copy: Path, tmp_path: Path) -> None:
    publish(phantom_copy, version="0.2.0")
    manifest_path = phantom_copy / "manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    serialize = manifest["annotation_only"]["phantom"]["build_identity"]["serialize"]
    serialize["slice_size"] = 56  # other settings give other pixels: they must not be written
    manifest["annotation_only"]["phantom"]["build_identity"]["package_version"] = "0.0.1"
    manifest_path.write_text(json.dumps(manifest))
    report = hydrate(
        phantom_copy, source="phantom", input_path=phantom_copy / ".build" / "inputs" / "phantom"
    )
    # slice_size changes volumes only: the 3D case is refused, the 2D case still matches.
    assert report.mismatched_cases == ["phantom3d-0000"] and report.cases_filled == 1
    assert "built with unimed-cot 0.0.1" in report.summary()  # the likely cause, named
    after = _of_cases(_images_by_id(phantom_copy))
    assert all(bool(images) == ("2d" in row_id) for row_id, images in after.items())
    with pytest.raises(UsageError, match="not published annotation-only"):
        hydrate(phantom_copy, source="alpha", input_path=tmp_path)
    result = CliRunner().invoke(
        app, ["hydrate", str(phantom_copy), "--source", "phantom", "--input", str(tmp_path)]
    )
    assert result.exit_code == 2 and "does not look like" in result.output


def test_unknown_source_keeps_pixels(make_workspace: Callable[..., Path]) -> None:
    workspace = make_workspace()
    publish(workspace, version="0.1.0")
    manifest = json.loads((workspace / "manifest.json").read_text())
    assert manifest["licenses"]["alpha"]["redistributable"] == "unknown"
    assert manifest["annotation_only"] == {}
