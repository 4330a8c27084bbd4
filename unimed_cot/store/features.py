"""The declared features of a published row, and the one Parquet writer of the project.

Features are declared once, here, never inferred from the first row (DESIGN.md §5). The same
declaration goes into three places: the Parquet schema metadata of every staged file and shard
(the ``huggingface`` key that ``datasets`` reads back), and the card YAML ``dataset_info`` of
every config. A slice stack is ``List(Image())`` (datasets 5.x), so a 2D image and a 3D volume
reach a model through one interface: a list of images.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features, Image, List, Value

from .files import atomic_path
from .layout import CONTENT_DEFINED_CHUNKING, DICTIONARY_PAGE_LIMIT, row_groups, row_nbytes

ROW_FEATURES = Features(
    {
        "id": Value("string"),
        "source": Value("string"),
        "dims": Value("int8"),
        "modality": Value("string"),
        "images": List(Image()),
        "slice_positions_mm": List(Value("float32")),
        "plane": Value("string"),
        "spacing_mm": List(Value("float32")),
        "window": Value("string"),
        "question_type": Value("string"),
        "question": Value("string"),
        "options": List(Value("string")),
        "answer": Value("string"),
        "answer_type": Value("string"),
        "regions": List(
            {"id": Value("string"), "label": Value("string"), "box": List(Value("int32"))}
        ),
        "grounded": Value("bool"),
        "reasoning": Value("string"),
        "split": Value("string"),
        "group_id": Value("string"),
        "license": Value("string"),
        "teacher": Value("string"),
        "prompt_sha": Value("string"),
        "pipeline_version": Value("string"),
    }
)
"""The features of ``schemas.Row``, column for column and in the same order."""

ROW_SCHEMA: pa.Schema = ROW_FEATURES.arrow_schema
"""Arrow schema of a row table, with the ``huggingface`` metadata key that declares the features."""

COLUMNS: tuple[str, ...] = tuple(ROW_FEATURES)

# Leaves of the image column. PNG bytes are already compressed: they are stored as-is (as
# `datasets` does for embedded media), dictionary-encoded so that a row group holds each distinct
# image once (see `layout`). Every other column gets zstd.
_IMAGE_LEAVES = ("images.list.element.bytes", "images.list.element.path")
_ZSTD_LEVEL = 9


def rows_to_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Build a table with the declared schema from row dicts whose ``images`` are PNG bytes.

    Args:
        rows: dicts with exactly the fields of ``schemas.Row`` (``split`` may be "" while staged).

    Returns:
        A table whose schema is ``ROW_SCHEMA`` (features declared in its metadata); an empty
        sequence gives an empty table with that schema.

    Raises:
        ValueError: when a row misses a field, has an unknown one, or holds a wrongly typed value.
    """
    expected = set(COLUMNS)
    for index, row in enumerate(rows):
        keys = set(row)
        if keys != expected:
            missing, extra = sorted(expected - keys), sorted(keys - expected)
            name = f"row {index} ({row.get('id', '?')})"
            raise ValueError(f"{name}: missing fields {missing}, unknown fields {extra}")
    columns = {name: [row[name] for row in rows] for name in COLUMNS}
    try:
        # `encode_batch` turns image bytes into {"bytes", "path": None} structs, as `datasets`
        # stores them, and casts scalars (it raises ValueError/TypeError on a wrong type).
        encoded = ROW_FEATURES.encode_batch(columns)
        return pa.Table.from_pydict(encoded, schema=ROW_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as error:
        raise ValueError(f"rows do not fit the declared features: {error}") from error


def table_to_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Inverse of ``rows_to_table``: row dicts with ``images`` as a list of PNG bytes.

    Raises:
        ValueError: when an image has no embedded bytes (a path-only image is not a release image).
    """
    rows = table.to_pylist()
    for row in rows:
        images = []
        for image in row["images"] or []:
            data = image.get("bytes") if isinstance(image, dict) else image
            if not isinstance(data, bytes):
                raise ValueError(f"row {row.get('id', '?')}: an image has no embedded bytes")
            images.append(data)
        row["images"] = images
    return rows


def read_table(path: Path) -> pa.Table:
    """Read a staged file or shard and check that it has the declared schema.

    Raises:
        ValueError: when the columns or their types differ from ``ROW_SCHEMA``.
        OSError, pyarrow.ArrowException: when the file is not readable Parquet.
    """
    table = pq.read_table(path)
    if not table.schema.equals(ROW_SCHEMA, check_metadata=False):
        raise ValueError(f"{path} does not have the row schema; columns: {table.column_names}")
    return table


class RowGroupWriter:
    """Writes row tables into one open Parquet file, one row group per ``write`` call."""

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self._writer = writer
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (the row schema) as one row group; an empty table writes nothing."""
        if table.num_rows == 0:
            return
        if not table.schema.equals(ROW_SCHEMA, check_metadata=False):
            table = table.cast(ROW_SCHEMA)
        self._writer.write_table(table, row_group_size=table.num_rows)
        self.rows += table.num_rows


@contextlib.contextmanager
def open_parquet(
    path: Path, *, extra_metadata: Mapping[str, str] | None = None
) -> Iterator[RowGroupWriter]:
    """Open ``path`` for writing row groups: atomic, deterministic, the project's column options.

    The file appears at ``path`` only when the block ends without an exception. The same row
    groups always give the same bytes with the same pyarrow version: no timestamps, fixed column
    options, content-defined page boundaries. ``extra_metadata`` adds schema metadata keys (a
    staged case's terms); shards are written without any.
    """
    # The features declaration travels in the schema metadata; always write exactly ours.
    metadata = dict(ROW_SCHEMA.metadata or {})
    metadata.update({k.encode(): v.encode() for k, v in (extra_metadata or {}).items()})
    schema = ROW_SCHEMA.with_metadata(metadata)
    leaves = _leaves(ROW_SCHEMA)
    with atomic_path(path) as tmp:
        writer = pq.ParquetWriter(
            tmp,
            schema,
            compression={leaf: _compression(leaf) for leaf in leaves},
            compression_level={
                leaf: _ZSTD_LEVEL for leaf in leaves if _compression(leaf) == "zstd"
            },
            # Every column is dictionary-encoded; for the image bytes that is what stores a
            # repeated image once per row group, given a dictionary page as large as its images.
            use_dictionary=True,
            dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT,
            # min/max statistics of image bytes are useless and would copy image heads into
            # the footer and the page index.
            write_statistics=[leaf for leaf in leaves if leaf not in _IMAGE_LEAVES],
            use_content_defined_chunking=CONTENT_DEFINED_CHUNKING,
            write_page_index=True,
        )
        try:
            yield RowGroupWriter(writer)
        finally:
            writer.close()


def write_parquet(
    table: pa.Table, path: Path, *, extra_metadata: Mapping[str, str] | None = None
) -> None:
    """Write a row table as Parquet: atomic, deterministic, each case's images stored once.

    Row groups hold whole cases (consecutive rows of one case, see ``layout.row_groups``);
    options as in ``open_parquet``.
    """
    sizes = row_nbytes(table).tolist()
    ids = table.column("id").to_pylist()
    with open_parquet(path, extra_metadata=extra_metadata) as writer:
        for group in row_groups(ids, sizes):
            writer.write(table.slice(group.start, len(group)))


def _compression(leaf: str) -> str:
    return "none" if leaf in _IMAGE_LEAVES else "zstd"


def _leaves(schema: pa.Schema) -> list[str]:
    """Parquet leaf column paths (``col.list.element.field``), which per-column options match."""

    def walk(path: str, pa_type: pa.DataType) -> list[str]:
        if pa.types.is_struct(pa_type):
            return [leaf for field in pa_type for leaf in walk(f"{path}.{field.name}", field.type)]
        if pa.types.is_list(pa_type) or pa.types.is_large_list(pa_type):
            return walk(f"{path}.list.element", pa_type.value_type)
        return [path]

    return [leaf for field in schema for leaf in walk(field.name, field.type)]
