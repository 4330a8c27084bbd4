"""How rows lie in a Parquet file so that every image is stored once per row group.

A case's questions all show the same images (a 2D image, or the slices of a volume in one or a
few CT windows), and a release keeps one row per question, each with its images. Stored plainly,
a shard repeats every image once per question. Here the image bytes column is dictionary-encoded
(Parquet's ``RLE_DICTIONARY``): a row group stores each distinct PNG once in its dictionary page
and every row refers to it by a small index. For that to deduplicate, the rows of a case are kept
in one row group (``row_groups``) and the dictionary page may grow as large as a row group's images
(``DICTIONARY_PAGE_LIMIT``; past the limit Parquet falls back to plain pages for the rest of the
row group, which is still correct, only larger). Readers see nothing of this: ``pyarrow`` and
``datasets`` decode the column to the same bytes, so ``load_dataset`` returns the same images.

The PNG bytes stay uncompressed inside the dictionary page, so an image that did not change
between two versions is the same run of bytes in both files; with content-defined page
boundaries (``CONTENT_DEFINED_CHUNKING``) the pages of the other columns also stay the same where
their rows did not change, which is what the Hub's chunk-level dedup needs to upload only what
changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROW_GROUP_BYTES = 100 * 1024 * 1024
"""Bound of a row group, in decoded bytes of its rows (images counted once per row that shows
them): what a reader or the publisher holds in memory for one row group. Same order as the
~100 MB row groups ``datasets`` writes. A case larger than this gets a row group of its own."""

DICTIONARY_PAGE_LIMIT = 1024 * 1024 * 1024
"""Largest dictionary page of the image bytes column (a row group's distinct images); Parquet's
default of 1 MiB would fall back to plain pages after a few images. Kept below the 2 GiB a
Parquet page can hold."""

CONTENT_DEFINED_CHUNKING = True
"""pyarrow's content-defined data page boundaries (its defaults: 256 KiB to 1 MiB chunks)."""

IMAGE_BYTES = "images.list.element.bytes"
"""The Parquet leaf that holds the PNG bytes."""

_INDEX_BYTES = 8  # generous bytes per value of a dictionary index page (RLE/bit-packed)
_INDEX_SLACK = 64 * 1024  # page headers

TEXT_COLUMNS = ("id", "question", "answer", "reasoning", "modality", "window", "question_type")
"""The text columns counted in a row's size (the others are small and fixed)."""


def case_of(row_id: str) -> str:
    """The case part of a row id (``source/case/question`` -> ``source/case``)."""
    return row_id.rpartition("/")[0]


def row_nbytes(table: pa.Table) -> np.ndarray:
    """Decoded bytes of each row: its encoded images (each time it shows them) and main text."""
    n = table.num_rows
    total = np.zeros(n, dtype=np.int64)
    if n == 0:
        return total
    images = table.column("images").combine_chunks()
    flat = pc.list_flatten(images)
    if len(flat):
        parents = pc.list_parent_indices(images).to_numpy()
        lengths = pc.binary_length(flat.field("bytes")).fill_null(0).to_numpy()
        total += np.bincount(parents, weights=lengths, minlength=n).astype(np.int64)
    for name in TEXT_COLUMNS:
        total += pc.binary_length(table.column(name)).fill_null(0).to_numpy(zero_copy_only=False)
    return total


def repeated_image_nbytes(table: pa.Table) -> np.ndarray:
    """Bytes of each row's images that an earlier row of ``table`` already shows.

    ``row_nbytes - repeated_image_nbytes``, summed over a case, is its distinct image bytes plus
    its text: what the case weighs in a file that stores each image once (images compared by
    their bytes).
    """
    repeated = np.zeros(table.num_rows, dtype=np.int64)
    if table.num_rows == 0:
        return repeated
    images = table.column("images").combine_chunks()
    flat = pc.list_flatten(images)
    if not len(flat):
        return repeated
    parents = pc.list_parent_indices(images).to_numpy()
    seen: set[bytes] = set()
    for parent, data in zip(parents, flat.field("bytes").to_pylist(), strict=True):
        if data is None:
            continue
        if data in seen:
            repeated[parent] += len(data)
        else:
            seen.add(data)
    return repeated


def row_groups(ids: Sequence[str], nbytes: Sequence[int], limit: int | None = None) -> list[range]:
    """Cut rows (in file order) into row groups of whole cases, each within ``limit`` bytes
    (default ``ROW_GROUP_BYTES``).

    Consecutive rows of one case (``case_of``) always share a row group, so the case's images
    are stored once; cases are packed greedily in order, and a case larger than ``limit`` gets
    a row group of its own. Rows of one case that are not consecutive form separate runs.

    Raises:
        ValueError: when ``ids`` and ``nbytes`` differ in length or ``limit`` is not positive.
    """
    if len(ids) != len(nbytes):
        raise ValueError(f"{len(ids)} ids but {len(nbytes)} sizes")
    limit = ROW_GROUP_BYTES if limit is None else limit
    if limit <= 0:
        raise ValueError(f"the row group bound must be positive, got {limit}")
    runs: list[tuple[int, int, int]] = []  # start, stop, bytes
    for index, row_id in enumerate(ids):
        if runs and case_of(ids[runs[-1][0]]) == case_of(row_id):
            start, _, size = runs[-1]
            runs[-1] = (start, index + 1, size + int(nbytes[index]))
        else:
            runs.append((index, index + 1, int(nbytes[index])))
    groups: list[range] = []
    start, stop, size = 0, 0, 0
    for run_start, run_stop, run_size in runs:
        if stop > start and size + run_size > limit:
            groups.append(range(start, stop))
            start, size = run_start, 0
        stop = run_stop
        size += run_size
    if stop > start:
        groups.append(range(start, stop))
    return groups


def layout_problems(path: Path) -> list[str]:
    """Where a written file departs from this layout (empty when it follows it).

    A case's rows in two row groups, an image bytes column chunk without a dictionary page, or
    one whose data pages hold image bytes (the dictionary overflowed and fell back to plain
    pages: past ``_INDEX_BYTES`` per value, more than dictionary indices).

    Raises:
        OSError, pyarrow.ArrowException: when ``path`` is not readable Parquet.
    """
    handle = pq.ParquetFile(path)
    problems: list[str] = []
    seen: dict[str, int] = {}
    for g in range(handle.metadata.num_row_groups):
        group = handle.metadata.row_group(g)
        for i in range(group.num_columns):
            chunk = group.column(i)
            if chunk.path_in_schema != IMAGE_BYTES:
                continue
            if not chunk.has_dictionary_page or chunk.dictionary_page_offset is None:
                problems.append(f"row group {g}: image bytes are not dictionary-encoded")
                continue
            dictionary = chunk.data_page_offset - chunk.dictionary_page_offset
            outside = chunk.total_compressed_size - dictionary
            if outside > _INDEX_BYTES * chunk.num_values + _INDEX_SLACK:
                problems.append(
                    f"row group {g}: {outside} bytes of image data outside the dictionary page "
                    f"(it overflowed; images are stored more than once)"
                )
        for case in dict.fromkeys(
            case_of(i) for i in handle.read_row_group(g, ["id"])["id"].to_pylist()
        ):
            if case in seen and seen[case] != g:
                problems.append(f"case {case} is in row groups {seen[case]} and {g}")
            seen.setdefault(case, g)
    return problems


def layout_record() -> dict[str, Any]:
    """What a manifest records about the layout of its shards."""
    return {
        "rows": "one per question, with its images",
        "images": "dictionary-encoded image bytes: each distinct image once per row group",
        "row_groups": "whole cases, packed up to the byte bound (a larger case alone)",
        "row_group_bytes": ROW_GROUP_BYTES,
        "dictionary_page_limit": DICTIONARY_PAGE_LIMIT,
        "content_defined_chunking": CONTENT_DEFINED_CHUNKING,
        "image_compression": "none (PNG bytes as they are)",
        "other_compression": "zstd",
    }
