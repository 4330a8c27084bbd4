"""Declared features, the row table, and the deterministic atomic Parquet writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from datasets import Features, Image, List, Value

from unimed_cot.schemas import Row
from unimed_cot.store.features import (
    ROW_FEATURES,
    read_table,
    rows_to_table,
    table_to_rows,
    write_parquet,
)

RowFactory = Callable[..., dict[str, Any]]


def test_features_cover_the_row_contract_in_order() -> None:
    assert list(ROW_FEATURES) == list(Row.model_fields)
    assert ROW_FEATURES["images"] == List(Image())
    assert ROW_FEATURES["dims"] == Value("int8")
    assert ROW_FEATURES["regions"] == List(
        {"id": Value("string"), "label": Value("string"), "box": List(Value("int32"))}
    )


def test_round_trip_keeps_every_value(tmp_path: Path, row_factory: RowFactory) -> None:
    rows = [
        row_factory(source="alpha", case="c1", question=q, dims=d, patient="p")
        for d in (2, 3)
        for q in range(2)
    ]
    path = tmp_path / "rows.parquet"
    write_parquet(rows_to_table(rows), path)
    back = table_to_rows(read_table(path))
    assert back == rows
    assert len(back[2]["images"]) == 4 and back[2]["images"][0].startswith(b"\x89PNG")


def test_parquet_metadata_declares_the_features(tmp_path: Path, row_factory: RowFactory) -> None:
    path = tmp_path / "rows.parquet"
    write_parquet(
        rows_to_table([row_factory(source="alpha", case="c", question=0, dims=3, patient="p")]),
        path,
    )
    schema = pq.read_schema(path)
    declared = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert Features.from_dict(declared) == ROW_FEATURES
    assert Features.from_arrow_schema(schema) == ROW_FEATURES
    columns = pq.ParquetFile(path).metadata.row_group(0)
    compressions = {
        columns.column(i).path_in_schema: columns.column(i).compression
        for i in range(columns.num_columns)
    }
    assert compressions["reasoning"] == "ZSTD"
    assert compressions["images.list.element.bytes"] == "UNCOMPRESSED"  # PNG is already compressed


def test_writer_is_deterministic_and_atomic(tmp_path: Path, row_factory: RowFactory) -> None:
    rows = [
        row_factory(source="alpha", case=f"c{i}", question=0, dims=2, patient=f"p{i}")
        for i in range(5)
    ]
    first, second = tmp_path / "a" / "x.parquet", tmp_path / "b" / "x.parquet"
    write_parquet(rows_to_table(rows), first)
    write_parquet(rows_to_table(rows), second)
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in first.parent.iterdir()) == [
        "x.parquet"
    ]  # no temporary left behind


def test_empty_table_has_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    write_parquet(rows_to_table([]), path)
    assert read_table(path).num_rows == 0
    assert Features.from_arrow_schema(pq.read_schema(path)) == ROW_FEATURES


def test_bad_rows_raise_a_readable_error(row_factory: RowFactory) -> None:
    row = row_factory(source="alpha", case="c", question=0, dims=2, patient="p")
    with pytest.raises(ValueError, match=r"missing fields \['window'\]"):
        rows_to_table([{k: v for k, v in row.items() if k != "window"}])
    with pytest.raises(ValueError, match="unknown fields"):
        rows_to_table([{**row, "extra": 1}])
    with pytest.raises(ValueError, match="declared features"):
        rows_to_table([{**row, "dims": "two"}])
