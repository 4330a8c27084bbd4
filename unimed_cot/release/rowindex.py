"""``rows.tsv``: one line per published row with its content hash, for diffs and hydration.

Columns: ``id``, ``split``, ``content_sha256`` (every column but ``split``, images by their
sha256), ``image_sha256`` (the row's image hashes joined by ``,``: the pixels a hydrated
annotation-only row must reproduce). The file is small beside the shards (~200 bytes a row), is
listed with its sha256 in the manifest, and lets the next publish diff row by row without the old
shards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unimed_cot.errors import ReleaseError
from unimed_cot.store.files import sha256_file, write_text_atomic

ROW_INDEX_NAME = "rows.tsv"
_HEADER = "id\tsplit\tcontent_sha256\timage_sha256"


@dataclass(frozen=True, slots=True)
class IndexedRow:
    """One line of ``rows.tsv``."""

    id: str
    split: str
    content_sha256: str
    image_sha256: tuple[str, ...]


def write_row_index(path: Path, rows: list[IndexedRow]) -> None:
    """Write the index, rows in the given (shard) order."""
    lines = [_HEADER]
    for row in rows:
        if any(c in row.id for c in "\t\r\n"):
            raise ReleaseError(f"row id {row.id!r} holds a tab or line break")
        images = ",".join(row.image_sha256)
        lines.append(f"{row.id}\t{row.split}\t{row.content_sha256}\t{images}")
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_row_index(path: Path) -> dict[str, IndexedRow]:
    """Read ``rows.tsv`` into a dict by id; an absent file gives an empty dict.

    Raises:
        ReleaseError: naming the file and line when a line does not have the four columns.
    """
    if not path.is_file():
        return {}
    result: dict[str, IndexedRow] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if number == 1 or not line:
            continue
        parts = line.split("\t")
        if len(parts) != 4:
            raise ReleaseError(f"{path}:{number}: expected 4 tab-separated columns")
        images = tuple(parts[3].split(",")) if parts[3] else ()
        result[parts[0]] = IndexedRow(parts[0], parts[1], parts[2], images)
    return result


def diff_rows(old: Mapping[str, IndexedRow], new: Mapping[str, IndexedRow]) -> dict[str, list[str]]:
    """Row-level diff: ids added, removed, with changed content, or moved to another split."""
    common = sorted(set(old) & set(new))
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": [i for i in common if old[i].content_sha256 != new[i].content_sha256],
        "moved": [i for i in common if old[i].split != new[i].split],
    }


def diff_summary(diff: Mapping[str, list[str]]) -> dict[str, Any]:
    """Counts of a diff, for the manifest."""
    return {key: len(ids) for key, ids in diff.items()}


def load_expected_images(
    root: Path, manifest: Mapping[str, Any]
) -> tuple[dict[str, tuple[str, ...]], list[tuple[str, str]]]:
    """Image sha256s per row id from the release's ``rows.tsv``, and problems found on the way.

    A manifest without a ``row_index`` entry (a release from before rows.tsv) gives nothing.
    """
    entry = manifest.get("row_index")
    if not isinstance(entry, dict):
        return {}, []
    path = root / str(entry.get("path", ROW_INDEX_NAME))
    if not path.is_file():
        return {}, [(path.name, "listed in manifest.json but missing")]
    problems = []
    if sha256_file(path) != entry.get("sha256"):
        problems.append((path.name, "sha256 differs from manifest.json"))
    try:
        index = read_row_index(path)
    except ReleaseError as error:
        return {}, [*problems, (path.name, str(error))]
    return {i: row.image_sha256 for i, row in index.items()}, problems
