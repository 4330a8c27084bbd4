"""Which rows a preview shows, and reading just those rows (with their images) from Parquet.

The choice is deterministic and spread out: rows are grouped by (source, dims, family, split), each
group is ordered so that every case's first question comes before any case's second one, and the
groups are then taken in turn until ``n`` rows are chosen. Only the light columns are read to
choose; the chosen rows are then read with their images from the row groups that hold them, so a
preview of a 100 GB release reads a few row groups, not the release.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unimed_cot.errors import ReleaseError
from unimed_cot.stats.reading import RowFiles, case_of, open_parquet, row_sort_key

_LIGHT = ("id", "source", "dims", "question_type", "split")


@dataclass(frozen=True, slots=True)
class RowRef:
    """Where one row lives, with what choosing needs."""

    file: Path
    index: int  # row index in the file
    id: str
    source: str
    dims: int
    family: str
    split: str


def list_rows(files: RowFiles) -> list[RowRef]:
    """Every row of ``files`` (light columns only)."""
    refs: list[RowRef] = []
    for path in files.files:
        handle = open_parquet(path)
        if missing := [c for c in _LIGHT if c not in handle.schema_arrow.names]:
            raise ReleaseError(f"{path} is not a row file of unimed-cot: no column {missing}")
        table = handle.read(columns=list(_LIGHT))
        for index, row in enumerate(table.to_pylist()):
            refs.append(
                RowRef(
                    file=path,
                    index=index,
                    id=str(row["id"]),
                    source=str(row["source"]),
                    dims=int(row["dims"]),
                    family=str(row["question_type"]),
                    split=str(row["split"] or ""),
                )
            )
    return refs


def choose_rows(refs: Sequence[RowRef], n: int) -> list[RowRef]:
    """Up to ``n`` rows spread over sources, 2D/3D, families, splits and cases (deterministic).

    Returned in reading order: by source, then id (numerically on the question index).
    """
    groups: dict[tuple[str, int, str, str], list[RowRef]] = defaultdict(list)
    for ref in refs:
        groups[(ref.source, ref.dims, ref.family, ref.split)].append(ref)
    queues = [_spread_over_cases(groups[key]) for key in sorted(groups)]
    chosen: list[RowRef] = []
    depth = 0
    while len(chosen) < n and any(depth < len(queue) for queue in queues):
        for queue in queues:
            if depth < len(queue) and len(chosen) < n:
                chosen.append(queue[depth])
        depth += 1
    return sorted(chosen, key=lambda ref: (ref.source, *row_sort_key(ref.id)))


def read_rows(refs: Sequence[RowRef]) -> Iterator[dict[str, Any]]:
    """The full rows (images included) of ``refs``, in the order given.

    Raises:
        ReleaseError: a file cannot be read.
    """
    wanted: dict[Path, list[int]] = defaultdict(list)
    for ref in refs:
        wanted[ref.file].append(ref.index)
    loaded: dict[tuple[Path, int], dict[str, Any]] = {}
    for path, indices in wanted.items():
        for index, row in _read_indices(path, sorted(set(indices))):
            loaded[(path, index)] = row
    for ref in refs:
        yield loaded[(ref.file, ref.index)]


def _read_indices(path: Path, indices: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows at ``indices`` of one file, reading only the row groups that hold them."""
    handle = open_parquet(path)
    start = 0
    position = 0
    for group in range(handle.metadata.num_row_groups):
        size = handle.metadata.row_group(group).num_rows
        inside = []
        while position < len(indices) and indices[position] < start + size:
            inside.append(indices[position] - start)
            position += 1
        if inside:
            table = handle.read_row_group(group).take(inside)
            for offset, row in zip(inside, table.to_pylist(), strict=True):
                yield start + offset, row
        start += size


def _spread_over_cases(refs: list[RowRef]) -> list[RowRef]:
    """Each case's first question, then each case's second, ... (cases in id order)."""
    by_case: dict[str, list[RowRef]] = defaultdict(list)
    for ref in sorted(refs, key=lambda r: row_sort_key(r.id)):
        by_case[case_of(ref.id)].append(ref)
    ranked = [(rank, case, ref) for case, rows in by_case.items() for rank, ref in enumerate(rows)]
    return [ref for _, _, ref in sorted(ranked, key=lambda item: (item[0], item[1]))]
