"""Where the rows of a folder are, and reading their light columns with pyarrow.

A folder is either a published release (``data/<config>/<split>-*.parquet``, what
``load_dataset`` reads) or a build workspace whose rows are still staged
(``.build/staged/<source>/<case>.parquet``, split not yet assigned). The default folder of the
CLI is both; then the published shards are what is measured, unless the staged rows are asked
for. Only the columns asked for are read, so measuring a release never touches its pixels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from unimed_cot.errors import ReleaseError, UsageError

_BATCH_ROWS = 4096


class Origin(StrEnum):
    """Which rows of a folder are read."""

    RELEASE = "release"  # the published shards under data/
    STAGED = "staged"  # the rows staged by `build` under .build/staged/


@dataclass(frozen=True, slots=True)
class RowFiles:
    """The Parquet files holding a folder's rows, in a deterministic order."""

    root: Path
    origin: Origin
    files: tuple[Path, ...]


def find_row_files(directory: Path, *, staged: bool | None = None) -> RowFiles:
    """The row files of a release folder or a build workspace.

    Args:
        directory: a release folder, a workspace, or both (the default of ``build``/``publish``).
        staged: ``True`` reads the staged rows, ``False`` the published shards, ``None`` the
            shards when there are any, else the staged rows.

    Raises:
        UsageError: the folder does not exist or holds neither kind of rows (as asked).
    """
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a folder; give a release or build folder")
    shards = tuple(sorted((directory / "data").glob("*/*.parquet")))
    staged_files = tuple(sorted((directory / ".build" / "staged").glob("*/*.parquet")))
    if staged is None:
        staged = not shards
    if staged:
        if not staged_files:
            raise UsageError(
                f"{directory} has no staged rows (.build/staged/); run `unimed-cot build` first"
            )
        return RowFiles(root=directory, origin=Origin.STAGED, files=staged_files)
    if not shards:
        raise UsageError(
            f"{directory} has no published shards (data/<config>/*.parquet); run "
            f"`unimed-cot publish {directory} --version X.Y.Z` first"
        )
    return RowFiles(root=directory, origin=Origin.RELEASE, files=shards)


def iter_columns(files: RowFiles, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Yield each row of ``files`` as a dict of the given columns, one batch in memory at a time.

    Raises:
        ReleaseError: a file is not readable Parquet or lacks one of the columns.
    """
    for path in files.files:
        handle = open_parquet(path)
        missing = [name for name in columns if name not in handle.schema_arrow.names]
        if missing:
            raise ReleaseError(f"{path} is not a row file of unimed-cot: no column {missing}")
        try:
            for batch in handle.iter_batches(batch_size=_BATCH_ROWS, columns=list(columns)):
                yield from batch.to_pylist()
        except (OSError, pa.ArrowException) as error:
            raise ReleaseError(f"{path} is not readable ({error})") from error


def open_parquet(path: Path) -> pq.ParquetFile:
    """Open one row file, turning a damaged file into a ``ReleaseError`` that names it."""
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as error:
        raise ReleaseError(f"{path} is not readable Parquet ({error})") from error


def case_of(row_id: str) -> str:
    """The case part of a row id ``{source}/{native case id}/{question index}``."""
    return row_id.rpartition("/")[0] or row_id


def row_sort_key(row_id: str) -> tuple[str, int, str]:
    """Order ids by case, then numerically by question index (``.../2`` before ``.../10``), as
    ``release.shards.id_sort_key`` orders shards (kept here so readers need not import datasets)."""
    prefix, _, last = row_id.rpartition("/")
    return (prefix, int(last), "") if last.isdigit() else (prefix, -1, last)
