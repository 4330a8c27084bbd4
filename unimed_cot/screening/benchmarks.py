"""Decontamination: benchmark hash lists in, training rows that match them out.

Every image of a training row (every slice of a 3D row) is compared with each benchmark's hashes;
a training row with any match is dropped. Matches in validation or test rows are counted, not
dropped (they are not trained on). The benchmarks' hashes, never their images, are kept in the
release (``decontamination/<name>.txt``) so ``validate`` can re-check any copy of it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from unimed_cot.store.staged import StagedRow

from .dedup import near_pairs
from .hashing import ImageHash, load_hashes, write_hash_list
from .rows import DEFAULT_THRESHOLD, RowImages, Screening


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
