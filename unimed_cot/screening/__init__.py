"""Screening of images: perceptual hashes, near-duplicate search, duplicates across splits,
decontamination against benchmarks, and the audits ``validate`` re-runs on a published release."""

from .benchmarks import (
    BENCHMARK_DIR,
    benchmark_pairs,
    decontaminate,
    load_benchmarks,
    write_benchmark_lists,
)
from .hashing import ImageHash, hash_folder, read_hash_list, write_hash_list
from .rows import DEFAULT_THRESHOLD, RowImages, Screening, find_duplicates, hash_rows

__all__ = [
    "BENCHMARK_DIR",
    "DEFAULT_THRESHOLD",
    "ImageHash",
    "RowImages",
    "Screening",
    "benchmark_pairs",
    "decontaminate",
    "find_duplicates",
    "hash_folder",
    "hash_rows",
    "load_benchmarks",
    "read_hash_list",
    "write_benchmark_lists",
    "write_hash_list",
]
