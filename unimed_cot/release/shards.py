"""Sharding: rows of one config and split -> ``data/<config>/<split>-NNNNN-of-NNNNN.parquet``.

The names are those ``datasets.push_to_hub`` writes, so the Hub's viewer and ``load_dataset``
see a standard layout. Rows are ordered by id (numerically on the question index); whole cases
are packed greedily into shards bounded by ``max_shard_bytes``, measured on what the file stores:
each distinct image of a case once (``store.layout``: dictionary-encoded image bytes, a case in
one row group) plus its text before compression. zstd only shrinks the text and PNG bytes are
stored as they are, so a file stays within the bound up to Parquet's small per-page overhead. A
case larger than the bound gets a shard of its own. An empty split gets no file.

A shard is written one row group at a time (``store.layout.row_groups``: whole cases, bounded in
decoded bytes), so publishing holds one row group in memory whatever the shard size.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from unimed_cot.records import SPLITS
from unimed_cot.store.features import ROW_SCHEMA, open_parquet, read_table
from unimed_cot.store.files import sha256_file
from unimed_cot.store.layout import row_groups
from unimed_cot.store.staged import StagedRow

CONFIGS: tuple[str, ...] = ("2d", "3d")
DEFAULT_MAX_SHARD_BYTES = 500_000_000
SHARD_NAME = re.compile(r"^(?P<split>[a-z]+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.parquet$")


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """The rows of one shard, in order."""

    config: str
    split: str
    index: int
    total: int
    rows: tuple[StagedRow, ...]

    @property
    def path(self) -> str:
        """Path relative to the release folder, with forward slashes."""
        return shard_path(self.config, self.split, self.index, self.total)


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """A written shard, as recorded in the manifest."""

    path: str
    config: str
    split: str
    sha256: str
    bytes: int
    rows: int


def shard_path(config: str, split: str, index: int, total: int) -> str:
    return f"data/{config}/{split}-{index:05d}-of-{total:05d}.parquet"


def id_sort_key(row_id: str) -> tuple[str, int, str]:
    """Order ids by case, then numerically by question index (``.../2`` before ``.../10``)."""
    prefix, _, last = row_id.rpartition("/")
    return (prefix, int(last), "") if last.isdigit() else (prefix, -1, last)


def plan_shards(
    rows: Iterable[StagedRow],
    *,
    split_of: Mapping[str, str],
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
) -> list[ShardPlan]:
    """Group rows by config and split (``split_of[group_id]``) and cut each group into shards.

    Raises:
        ValueError: for a non-positive bound, a dims other than 2/3, or a group with no split.
    """
    if max_shard_bytes <= 0:
        raise ValueError(f"max_shard_bytes must be positive, got {max_shard_bytes}")
    buckets: dict[tuple[str, str], list[StagedRow]] = defaultdict(list)
    for row in rows:
        if row.config not in CONFIGS:
            raise ValueError(f"row {row.id}: dims {row.dims} is neither 2 nor 3")
        buckets[(row.config, split_of[row.group_id])].append(row)

    plans: list[ShardPlan] = []
    for config in CONFIGS:
        for split in SPLITS:
            bucket = sorted(buckets.get((config, split), []), key=lambda r: id_sort_key(r.id))
            groups = _pack(bucket, max_shard_bytes)
            plans.extend(
                ShardPlan(config=config, split=split, index=i, total=len(groups), rows=tuple(g))
                for i, g in enumerate(groups)
            )
    return plans


def plan_config_shards(
    rows: Iterable[StagedRow], *, config: str, split: str, max_shard_bytes: int
) -> list[ShardPlan]:
    """Shards of rows published as one config and split whatever their dims (the ``eval``
    config of benchmark rows, ``release.benchmarks``)."""
    bucket = sorted(rows, key=lambda r: id_sort_key(r.id))
    groups = _pack(bucket, max_shard_bytes)
    return [
        ShardPlan(config=config, split=split, index=i, total=len(groups), rows=tuple(g))
        for i, g in enumerate(groups)
    ]


def _pack(rows: list[StagedRow], limit: int) -> list[list[StagedRow]]:
    """Whole cases (consecutive rows of one case) packed greedily up to ``limit`` stored bytes."""
    return [
        rows[group.start : group.stop]
        for group in row_groups([r.id for r in rows], [r.stored for r in rows], limit)
    ]


def strip_images(table: pa.Table, ids: AbstractSet[str]) -> pa.Table:
    """``table`` with the ``images`` of the rows whose id is in ``ids`` emptied."""
    column = table.column("images").combine_chunks()
    keep = [i not in ids for i in table.column("id").to_pylist()]
    empty = pa.array([[]] * table.num_rows, type=column.type)
    images = pc.if_else(pa.array(keep), column, empty)
    return table.set_column(table.schema.get_field_index("images"), "images", images)


def write_shard(
    plan: ShardPlan, root: Path, *, annotation_only: AbstractSet[str] = frozenset()
) -> ShardInfo:
    """Copy the planned rows out of the staged files into ``root / plan.path``, split set.

    One row group at a time: its rows are read from the staged files that hold them, ordered by
    id and written; only that row group is in memory. Rows whose id is in ``annotation_only``
    are written without their images.
    """
    target = root / plan.path
    groups = row_groups([r.id for r in plan.rows], [r.nbytes for r in plan.rows])
    with open_parquet(target) as writer:
        for group in groups:
            writer.write(
                _row_group(plan.rows[group.start : group.stop], plan.split, annotation_only)
            )
    return ShardInfo(
        path=plan.path,
        config=plan.config,
        split=plan.split,
        sha256=sha256_file(target),
        bytes=target.stat().st_size,
        rows=writer.rows,
    )


def _row_group(
    rows: Sequence[StagedRow], split: str, annotation_only: AbstractSet[str]
) -> pa.Table:
    """The table of ``rows`` read from their staged files, in id order, ``split`` set."""
    by_file: dict[Path, list[int]] = defaultdict(list)
    for row in rows:
        by_file[row.file].append(row.index)
    parts = [read_table(path).take(sorted(indices)) for path, indices in sorted(by_file.items())]
    table = pa.concat_tables(parts) if parts else ROW_SCHEMA.empty_table()
    ids = table.column("id").to_pylist()
    order = sorted(range(len(ids)), key=lambda i: id_sort_key(ids[i]))
    table = table.take(order)
    split_column = pa.array([split] * table.num_rows, type=pa.string())
    table = table.set_column(table.schema.get_field_index("split"), "split", split_column)
    if annotation_only and any(i in annotation_only for i in ids):
        table = strip_images(table, annotation_only)
    return table
