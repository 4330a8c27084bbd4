"""Benchmark splits of sources that ship their own questions (VQA-RAD, SLAKE, PathVQA).

The official test split of such a source is the benchmark papers report on. ``publish`` keeps
its rows out of the release's ``2d``/``3d``/``all`` configs (so no trainer that reads a config's
``train`` split, nor a re-split, ever sees them), and puts their images into the
decontamination of the training split: a training row of *any* source in the same workspace
whose image is within the near-duplicate threshold of a benchmark image is dropped (VQA-RAD's
split is a question split, so most of its test images also carry training questions; SLAKE's
X-rays are NIH ChestX-ray images). With ``eval_config`` the benchmark rows are published as the
``eval`` config (``data/eval/test-*.parquet``), exactly the official questions.

Which splits are benchmarks is declared by each builder (``Builder.benchmark_splits``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from unimed_cot.screening.hashing import ImageHash
from unimed_cot.screening.rows import RowImages
from unimed_cot.store.staged import StagedRow

EVAL_CONFIG = "eval"
EVAL_SPLIT = "test"


def declared_benchmarks() -> dict[str, tuple[str, ...]]:
    """Source slug -> its benchmark splits, as the registered builders declare them."""
    from unimed_cot.builders import registered_builders

    return {
        slug: tuple(cls.benchmark_splits)
        for slug, cls in registered_builders().items()
        if cls.benchmark_splits
    }


@dataclass(frozen=True, slots=True)
class BenchmarkRows:
    """The staged rows split into the release's own and the benchmarks'."""

    release: list[StagedRow]
    benchmark: list[StagedRow]

    def names(self) -> list[str]:
        """``{source}-{split}`` of every benchmark present, sorted."""
        return sorted(self.counts())

    def counts(self) -> dict[str, int]:
        """Rows held out per benchmark, by name."""
        return dict(sorted(Counter(benchmark_name(row) for row in self.benchmark).items()))


def benchmark_name(row: StagedRow) -> str:
    return f"{row.source}-{row.official_split}"


def partition(rows: Sequence[StagedRow], splits: Mapping[str, Sequence[str]]) -> BenchmarkRows:
    """Rows whose official split is a benchmark split of their source, and the others."""
    release: list[StagedRow] = []
    benchmark: list[StagedRow] = []
    for row in rows:
        held = row.official_split and row.official_split in splits.get(row.source, ())
        (benchmark if held else release).append(row)
    return BenchmarkRows(release=release, benchmark=benchmark)


def benchmark_hashes(
    rows: Sequence[StagedRow], hashes: Mapping[str, RowImages]
) -> list[tuple[str, list[ImageHash], int]]:
    """``(name, distinct image hashes, 0 unreadable)`` per benchmark, for ``decontaminate``."""
    by_name: dict[str, dict[ImageHash, None]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        values = by_name.setdefault(benchmark_name(row), {})
        for value in hashes[row.id].slices:
            values.setdefault(value, None)
    return [(name, list(values), 0) for name, values in sorted(by_name.items())]
