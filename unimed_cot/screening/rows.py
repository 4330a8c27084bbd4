"""Screening a release before it is sharded: image hashes and duplicates across groups.

One pass over the staged images gives, per row, the sha256 of each image, a content hash of the
whole row (for the changelog's row-level diff) and the perceptual hashes (``hashing``). Then:

* **Duplicates across groups.** Rows of one case share their images by construction, so the unit
  compared is a distinct image (2D) or slice stack (3D), within one config. Exact copies (same
  sha256) and near duplicates (``dedup.near_pairs``) that link different groups are counted.
  When a link joins two splits, the copy in the *less* held-out split is dropped (train before
  validation before test), and the test copy is kept. Each link is resolved on its own, never
  through transitive clusters (similar anatomy chains A~B~C would drop rows unrelated to any
  held-out image). Moving whole groups instead would cascade the same way and change the split
  of groups that have nothing to do with the duplicate; dropping is local, and counted.
* **Decontamination** against benchmarks: ``benchmarks``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from unimed_cot.errors import ReleaseError
from unimed_cot.records import SPLITS
from unimed_cot.store.staged import StagedRow

from .dedup import near_pairs
from .hashing import HashCache, ImageHash, stack_hash

DEFAULT_THRESHOLD = 3
"""Bits (of 64) within which two pHashes and dHashes make a near duplicate.

Re-encoded, rescaled or brightened copies sit at 0-2 bits; distinct images of the same anatomy
(the phantom's 2D cases) start at 3-4, and at 4 bits a fifth of the demo's pairs would link. Keep
it low: a false link drops a training row, a missed copy is still caught by the exact sha256."""

_RANK = {split: i for i, split in enumerate(SPLITS)}  # train 0, validation 1, test 2


@dataclass(frozen=True, slots=True)
class RowImages:
    """What screening knows of one row's pixels."""

    image_sha256: tuple[str, ...]
    slices: tuple[ImageHash, ...]
    stack: ImageHash | None  # None for a row without images
    content_sha256: str  # every column but ``split``, images by their sha256


@dataclass(slots=True)
class Screening:
    """The outcome of screening: rows to drop, and the report for the manifest and card."""

    dropped: dict[str, str] = field(default_factory=dict)  # row id -> reason
    report: dict[str, Any] = field(default_factory=dict)


def hash_rows(rows: Sequence[StagedRow]) -> dict[str, RowImages]:
    """Hash the images of every staged row, each distinct image decoded once.

    Raises:
        ReleaseError: naming the row when one of its images cannot be decoded.
    """
    by_file: dict[Path, list[StagedRow]] = defaultdict(list)
    for row in rows:
        by_file[row.file].append(row)
    cache = HashCache()
    result: dict[str, RowImages] = {}
    for path, members in sorted(by_file.items()):
        table = pq.read_table(path)
        images = table.column("images").to_pylist()
        light = table.drop_columns(["images", "split"]).to_pylist()
        for row in members:
            shas, slices = [], []
            for image in images[row.index] or []:
                try:
                    sha, value = cache.get(image["bytes"])
                except (ValueError, TypeError) as error:
                    raise ReleaseError(
                        f"row {row.id} in {path}: an image cannot be decoded ({error}); "
                        f"delete the file and build that case again"
                    ) from error
                shas.append(sha)
                slices.append(value)
            content = json.dumps(
                {**light[row.index], "images": shas}, sort_keys=True, ensure_ascii=False
            )
            result[row.id] = RowImages(
                image_sha256=tuple(shas),
                slices=tuple(slices),
                stack=stack_hash(slices) if slices else None,
                content_sha256=hashlib.sha256(content.encode()).hexdigest(),
            )
    return result


def find_duplicates(
    rows: Sequence[StagedRow],
    hashes: Mapping[str, RowImages],
    split_of: Mapping[str, str],
    *,
    threshold: int = DEFAULT_THRESHOLD,
) -> Screening:
    """Duplicates across groups; of a link across splits, drop the less held-out copy."""
    outcome = Screening()
    exact_images = near = within = across = 0
    for config in sorted({r.config for r in rows}):
        members = [r for r in rows if r.config == config and hashes[r.id].stack is not None]
        # One item per distinct image set; its rows may come from several groups.
        item_of: dict[tuple[str, ...], int] = {}
        item_rows: list[list[StagedRow]] = []
        for row in members:
            key = hashes[row.id].image_sha256
            if key not in item_of:
                item_of[key] = len(item_rows)
                item_rows.append([])
            item_rows[item_of[key]].append(row)
        exact_images += sum(1 for rs in item_rows if len({r.group_id for r in rs}) > 1)
        stacks = [hashes[rs[0].id].stack for rs in item_rows]
        phash = np.array([s.phash for s in stacks if s], dtype=np.uint64)
        dhash = np.array([s.dhash for s in stacks if s], dtype=np.uint64)
        pairs = near_pairs(phash, dhash, threshold)
        groups_of = [{r.group_id for r in rs} for rs in item_rows]
        linking = np.array(
            [bool(groups_of[i] ^ groups_of[j]) for i, j in pairs], dtype=bool
        ).reshape(-1)
        pairs = pairs[linking] if len(pairs) else pairs
        near += len(pairs)
        # Each link is resolved on its own (no transitive clusters): chains of similar images
        # in one split would otherwise drag unrelated rows along.
        links = [(rs, rs) for rs in item_rows] + [(item_rows[i], item_rows[j]) for i, j in pairs]
        for first, second in links:
            linked = first if first is second else first + second
            if len({r.group_id for r in linked}) < 2:
                continue
            splits = {split_of[r.group_id] for r in linked}
            if len(splits) == 1:
                within += 1
                continue
            across += 1
            keep = max(splits, key=lambda s: _RANK.get(s, 0))
            for row in linked:
                if split_of[row.group_id] != keep:
                    outcome.dropped[row.id] = f"near duplicate of a {keep} image"
    dropped_by_split = Counter(split_of[r.group_id] for r in rows if r.id in outcome.dropped)
    outcome.report = {
        "threshold_bits": threshold,
        "hash": "phash64+dhash64, stacks by bitwise majority of slices",
        "exact_duplicate_images_across_groups": exact_images,
        "near_duplicate_pairs_across_groups": near,
        "links_within_one_split": within,
        "links_across_splits": across,
        "policy": "of two linked images in different splits, the less held-out copy is dropped",
        "dropped_rows_by_split": {s: dropped_by_split[s] for s in SPLITS if dropped_by_split[s]},
    }
    return outcome
