"""Screening a release before it is sharded: image hashes, duplicates across groups, benchmarks.

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
* **Decontamination.** Every image of a training row (every slice of a 3D row) is compared with
  each benchmark's hashes; a training row with any match is dropped. Matches in validation or
  test rows are counted, not dropped (they are not trained on).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from unimed_cot.errors import ReleaseError

from .dedup import near_pairs
from .hashing import HashCache, ImageHash, load_hashes, stack_hash, write_hash_list
from .splits import SPLITS
from .staging import StagedRow

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


def benchmark_pairs(
    images: Sequence[ImageHash], benchmark: Sequence[ImageHash], threshold: int
) -> np.ndarray:
    """Pairs ``(i, j)``: ``images[i]`` within ``threshold`` bits of ``benchmark[j]`` on both
    hashes (``decontaminate`` at publish, the same check again in ``validate``)."""
    return near_pairs(
        np.array([v.phash for v in images], dtype=np.uint64),
        np.array([v.dhash for v in images], dtype=np.uint64),
        threshold,
        other_phash=np.array([v.phash for v in benchmark], dtype=np.uint64),
        other_dhash=np.array([v.dhash for v in benchmark], dtype=np.uint64),
    )


def load_benchmarks(paths: Sequence[Path]) -> list[tuple[str, list[ImageHash], int]]:
    """``(name, hashes, unreadable files)`` per benchmark path (a folder of images or a hash
    list file); names are the paths' stems, made unique.

    Raises:
        UsageError: when a path does not exist or is not readable as either.
    """
    benchmarks: list[tuple[str, list[ImageHash], int]] = []
    names: set[str] = set()
    for path in paths:
        named, unreadable = load_hashes(Path(path))
        name = Path(path).stem or str(path)
        while name in names:
            name += "+"
        names.add(name)
        benchmarks.append((name, [value for _, value in named], len(unreadable)))
    return benchmarks


def decontaminate(
    rows: Sequence[StagedRow],
    hashes: Mapping[str, RowImages],
    split_of: Mapping[str, str],
    benchmarks: Sequence[tuple[str, Sequence[ImageHash], int]],
    *,
    threshold: int = DEFAULT_THRESHOLD,
) -> Screening:
    """Drop training rows with an image within ``threshold`` of a benchmark image.

    Args:
        benchmarks: ``(name, hashes, unreadable files)`` per benchmark.
    """
    outcome = Screening()
    slices: dict[ImageHash, list[StagedRow]] = defaultdict(list)
    for row in rows:
        for value in set(hashes[row.id].slices):
            slices[value].append(row)
    keys = list(slices)
    per_benchmark: dict[str, dict[str, int]] = {}
    for name, values, unreadable in benchmarks:
        pairs = benchmark_pairs(keys, values, threshold)
        hit_rows = {r.id: r for i in np.unique(pairs[:, 0]) for r in slices[keys[int(i)]]}
        train = [rid for rid, r in hit_rows.items() if split_of[r.group_id] == "train"]
        for rid in train:
            outcome.dropped.setdefault(rid, f"matches benchmark {name}")
        per_benchmark[name] = {
            "images": len(values),
            "unreadable_files": unreadable,
            "matched_benchmark_images": int(np.unique(pairs[:, 1]).size),
            "dropped_train_rows": len(train),
            "matching_rows_in_validation_or_test": len(hit_rows) - len(train),
        }
    outcome.report = {
        "threshold_bits": threshold,
        "benchmarks": per_benchmark,
        "dropped_train_rows": len(outcome.dropped),
    }
    return outcome


BENCHMARK_DIR = "decontamination"


def write_benchmark_lists(
    release: Path, benchmarks: Sequence[tuple[str, Sequence[ImageHash], int]]
) -> dict[str, str]:
    """Keep each benchmark's hashes in the release (``decontamination/<name>.txt``, hashes
    only, no file names), so that ``validate`` can re-check the training split without the
    benchmark's images. Lists of an earlier publish that this one did not use are removed.

    Returns the release-relative path of each benchmark's list, by benchmark name.
    """
    folder = release / BENCHMARK_DIR
    written: dict[str, str] = {}
    for name, values, _ in benchmarks:
        stem = re.sub(r"[^A-Za-z0-9._+-]", "_", name)
        while f"{BENCHMARK_DIR}/{stem}.txt" in written.values():
            stem += "+"
        write_hash_list(folder / f"{stem}.txt", ((f"{name}/{i}", v) for i, v in enumerate(values)))
        written[name] = f"{BENCHMARK_DIR}/{stem}.txt"
    kept = set(written.values())
    for stale in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        if f"{BENCHMARK_DIR}/{stale.name}" not in kept:
            stale.unlink()
    return written
