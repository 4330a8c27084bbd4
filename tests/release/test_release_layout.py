"""Shard layout: each distinct image stored once per row group, cases whole, readers unchanged."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image

from unimed_cot.release.manifest import read_manifest
from unimed_cot.release.publish import publish
from unimed_cot.store import layout
from unimed_cot.store.features import read_table, rows_to_table, table_to_rows, write_parquet
from unimed_cot.store.layout import case_of, repeated_image_nbytes, row_groups, row_nbytes

RowFactory = Callable[..., dict[str, Any]]
IMAGES = "images.list.element.bytes"


def _png(seed: int, side: int) -> bytes:
    """Noise PNG (incompressible, so stored bytes are all image bytes)."""
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _case_rows(
    row_factory: RowFactory, cases: int, questions: int, dims: int, side: int | None = None
) -> list[dict[str, Any]]:
    """``questions`` rows per case, all showing the case's images (``side`` px noise if given)."""
    rows = []
    for c in range(cases):
        for q in range(questions):
            row = row_factory(source="alpha", case=f"c{c}", question=q, dims=dims, patient=f"p{c}")
            if side is not None:
                row["images"] = [_png(100 * c + k, side) for k in range(len(row["images"]))]
            rows.append(row)
    return rows


def _distinct_image_bytes(rows: list[dict[str, Any]]) -> int:
    distinct = {hashlib.sha256(png).digest(): len(png) for row in rows for png in row["images"]}
    return sum(distinct.values())


def _image_chunk_bytes(path: Path) -> list[int]:
    meta = pq.ParquetFile(path).metadata
    sizes = []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        (chunk,) = [
            group.column(i)
            for i in range(group.num_columns)
            if group.column(i).path_in_schema == IMAGES
        ]
        assert chunk.has_dictionary_page and "RLE_DICTIONARY" in chunk.encodings
        sizes.append(chunk.total_compressed_size)
    return sizes


def test_row_groups_keep_cases_whole_within_the_bound() -> None:
    ids = ["s/a/0", "s/a/1", "s/b/0", "s/b/1", "s/b/2", "s/c/0", "s/d/0"]
    sizes = [10, 10, 10, 10, 10, 50, 5]
    assert row_groups(ids, sizes, limit=50) == [range(0, 5), range(5, 6), range(6, 7)]
    assert row_groups(ids, sizes, limit=45) == [range(0, 2), range(2, 5), range(5, 6), range(6, 7)]
    assert row_groups(ids, sizes, limit=20) == [range(0, 2), range(2, 5), range(5, 6), range(6, 7)]
    assert row_groups(ids, sizes, limit=1000) == [range(0, 7)]
    assert row_groups([], []) == []
    assert case_of("src/case/7") == "src/case"
    with pytest.raises(ValueError, match="2 ids but 1 sizes"):
        row_groups(["a/b/0", "a/b/1"], [1])
    with pytest.raises(ValueError, match="positive"):
        row_groups(ids, sizes, limit=0)


def test_repeated_images_are_counted_once(row_factory: RowFactory) -> None:
    rows = _case_rows(row_factory, cases=2, questions=3, dims=3)
    table = rows_to_table(rows)
    decoded, repeated = row_nbytes(table), repeated_image_nbytes(table)
    stored = int((decoded - repeated).sum())
    text = int(decoded.sum()) - sum(len(png) for row in rows for png in row["images"])
    assert stored == _distinct_image_bytes(rows) + text
    assert list(repeated[[0, 3]]) == [0, 0]  # a case's first row shows its images first
    assert repeated[1] == sum(len(png) for png in rows[1]["images"])


@pytest.mark.parametrize("dims", [2, 3])
def test_a_file_weighs_its_distinct_images(
    tmp_path: Path, row_factory: RowFactory, dims: int
) -> None:
    rows = _case_rows(row_factory, cases=6, questions=5, dims=dims, side=128)
    path = tmp_path / "rows.parquet"
    write_parquet(rows_to_table(rows), path)
    distinct = _distinct_image_bytes(rows)
    every_time = sum(len(png) for row in rows for png in row["images"])
    assert every_time == 5 * distinct  # what a plain layout stores
    (chunk,) = _image_chunk_bytes(path)  # six small cases: one row group
    assert distinct <= chunk <= distinct * 1.02  # each image once (+ indices and headers)
    assert path.stat().st_size <= 1.2 * distinct
    assert table_to_rows(read_table(path)) == rows  # readers see every row with its images


def test_a_case_never_straddles_row_groups(
    tmp_path: Path, row_factory: RowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _case_rows(row_factory, cases=5, questions=4, dims=3)
    table = rows_to_table(rows)
    per_case = int(row_nbytes(table)[:4].sum())
    monkeypatch.setattr(layout, "ROW_GROUP_BYTES", 2 * per_case + 1)  # two cases per group
    path = tmp_path / "rows.parquet"
    write_parquet(table, path)
    handle = pq.ParquetFile(path)
    cases = [
        sorted({case_of(i) for i in handle.read_row_group(g, columns=["id"])["id"].to_pylist()})
        for g in range(handle.metadata.num_row_groups)
    ]
    assert cases == [["alpha/c0", "alpha/c1"], ["alpha/c2", "alpha/c3"], ["alpha/c4"]]
    distinct = {c: _distinct_image_bytes(rows[4 * c : 4 * c + 4]) for c in range(5)}
    chunks = _image_chunk_bytes(path)
    wanted = [distinct[0] + distinct[1], distinct[2] + distinct[3], distinct[4]]
    assert all(w <= c <= 1.05 * w for w, c in zip(wanted, chunks, strict=True))
    assert table_to_rows(read_table(path)) == rows


def test_published_shards_store_images_once_and_load_as_before(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    staged = {
        row["id"]: row["images"]
        for path in sorted((workspace / ".build" / "staged").rglob("*.parquet"))
        for row in table_to_rows(read_table(path))
    }
    publish(workspace, version="0.1.0")
    manifest = read_manifest(workspace / "manifest.json")
    assert manifest["layout"] == layout.layout_record()
    for shard in manifest["shards"]:
        path = workspace / shard["path"]
        table = read_table(path)
        flat = pc.list_flatten(table.column("images").combine_chunks()).field("bytes")
        distinct = {hashlib.sha256(b).digest(): len(b) for b in flat.to_pylist()}
        # Two questions per case show the same images; the shard holds them once.
        assert sum(_image_chunk_bytes(path)) <= 1.02 * sum(distinct.values())
    ds = datasets.load_dataset(str(workspace), "3d", cache_dir=str(tmp_path / "cache"))
    for split in ds:
        assert all(image.__class__.__module__.startswith("PIL") for image in ds[split][0]["images"])
        raw = ds[split].cast_column("images", datasets.List(datasets.Image(decode=False)))
        for row in raw:
            assert [image["bytes"] for image in row["images"]] == staged[row["id"]]


def test_layout_problems_name_what_stores_images_twice(
    tmp_path: Path, row_factory: RowFactory
) -> None:
    table = rows_to_table(_case_rows(row_factory, cases=2, questions=3, dims=3, side=64))
    good, plain, overflow, split = (tmp_path / f"{n}.parquet" for n in range(4))
    write_parquet(table, good)
    pq.write_table(table, plain, use_dictionary=False)
    # past the limit (checked every write batch) the writer falls back to plain pages
    pq.write_table(table, overflow, dictionary_pagesize_limit=1024, write_batch_size=2)
    pq.write_table(table, split, row_group_size=2)  # cases cut across row groups
    assert layout.layout_problems(good) == []
    assert layout.layout_problems(plain) == ["row group 0: image bytes are not dictionary-encoded"]
    (problem,) = layout.layout_problems(overflow)
    assert "outside the dictionary page" in problem
    assert layout.layout_problems(split) == [
        "case alpha/c0 is in row groups 0 and 1",
        "case alpha/c1 is in row groups 1 and 2",
    ]


def test_validate_flags_a_shard_that_stores_images_per_row(workspace: Path) -> None:
    from unimed_cot.validate import validate_release

    publish(workspace, version="0.1.0")
    assert validate_release(workspace).ok
    name = "data/3d/train-00000-of-00001.parquet"
    pq.write_table(read_table(workspace / name), workspace / name, use_dictionary=False)
    problems = [(p.where, p.what) for p in validate_release(workspace).problems]
    assert (name, "row group 0: image bytes are not dictionary-encoded") in problems
