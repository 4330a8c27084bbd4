"""Shard planning and writing: datasets' names, size bound, id order, no empty files."""

from __future__ import annotations

from pathlib import Path

import pytest

from unimed_cot.release.shards import id_sort_key, plan_shards, write_shard
from unimed_cot.store.features import read_table
from unimed_cot.store.staged import StagedRow, scan_staged


def _row(
    i: int,
    *,
    dims: int = 2,
    nbytes: int = 100,
    group: str = "g",
    case: str | None = None,
    stored: int | None = None,
) -> StagedRow:
    return StagedRow(
        id=f"src/{case or f'case{i}'}/{i}",
        source="src",
        dims=dims,
        official_split="",
        group_id=group,
        question_type="q",
        license="MIT",
        teacher="template",
        prompt_sha="0" * 64,
        pipeline_version="v",
        file=Path("x.parquet"),
        index=i,
        nbytes=nbytes,
        stored_nbytes=stored,
    )


def test_ids_sort_numerically_on_the_question_index() -> None:
    ids = ["a/c/10", "a/c/2", "a/b/1", "a/c/x"]
    assert sorted(ids, key=id_sort_key) == ["a/b/1", "a/c/x", "a/c/2", "a/c/10"]


def test_shards_are_bounded_named_and_ordered() -> None:
    rows = [_row(i) for i in range(10)]
    plans = plan_shards(reversed(rows), split_of={"g": "train"}, max_shard_bytes=350)
    assert [p.path for p in plans] == [f"data/2d/train-0000{i}-of-00004.parquet" for i in range(4)]
    assert [len(p.rows) for p in plans] == [3, 3, 3, 1]
    assert [r.id for p in plans for r in p.rows] == [f"src/case{i}/{i}" for i in range(10)]


def test_a_case_larger_than_the_bound_gets_its_own_shard() -> None:
    rows = [_row(0), _row(1, nbytes=10_000), _row(2)]
    plans = plan_shards(rows, split_of={"g": "test"}, max_shard_bytes=500)
    assert [[r.id for r in p.rows] for p in plans] == [
        ["src/case0/0"],
        ["src/case1/1"],
        ["src/case2/2"],
    ]


def test_a_case_is_never_split_and_is_measured_by_what_the_shard_stores() -> None:
    # Three cases of four questions showing one 1000-byte image (100 bytes of text each):
    # 4400 bytes decoded, 1400 stored (the image once). A bound of 3000 holds two cases.
    rows = [
        _row(4 * c + q, case=f"c{c}", nbytes=1100, stored=1100 if q == 0 else 100)
        for c in range(3)
        for q in range(4)
    ]
    plans = plan_shards(rows, split_of={"g": "train"}, max_shard_bytes=3000)
    assert [[r.id.split("/")[1] for r in p.rows] for p in plans] == [
        ["c0"] * 4 + ["c1"] * 4,
        ["c2"] * 4,
    ]
    # Measured on decoded bytes instead, every case would have needed a shard of its own.
    plain = [_row(r.index, case=r.id.split("/")[1], nbytes=1100) for r in rows]
    assert len(plan_shards(plain, split_of={"g": "train"}, max_shard_bytes=3000)) == 3


def test_configs_and_splits_are_separate_and_empty_splits_have_no_shard() -> None:
    rows = [_row(0, group="a"), _row(1, dims=3, group="b"), _row(2, dims=3, group="a")]
    plans = plan_shards(rows, split_of={"a": "train", "b": "validation"})
    assert [p.path for p in plans] == [
        "data/2d/train-00000-of-00001.parquet",
        "data/3d/train-00000-of-00001.parquet",
        "data/3d/validation-00000-of-00001.parquet",
    ]
    with pytest.raises(ValueError, match="positive"):
        plan_shards(rows, split_of={"a": "train", "b": "train"}, max_shard_bytes=0)


def test_written_shard_holds_the_rows_with_their_split(workspace: Path, tmp_path: Path) -> None:
    rows = [r for r in scan_staged(workspace) if r.source == "alpha"]
    assert rows and all(r.nbytes > 1000 for r in rows)  # images are counted
    (plan,) = plan_shards(rows, split_of={r.group_id: "validation" for r in rows})
    info = write_shard(plan, tmp_path / "out")
    table = read_table(tmp_path / "out" / info.path)
    assert info.rows == table.num_rows == len(rows)
    assert set(table.column("split").to_pylist()) == {"validation"}
    assert table.column("id").to_pylist() == sorted((r.id for r in rows), key=id_sort_key)
    assert info.bytes == (tmp_path / "out" / info.path).stat().st_size
