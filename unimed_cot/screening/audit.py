"""Release-wide checks of ``validate`` that need every row: near duplicates, answer balance.

``observe`` is called on each row as ``validate`` reads it (it keeps hashes and letters, no
pixels); ``finish`` then reports

* **near duplicates across splits** (a problem): two rows of different groups in different splits
  whose images (2D) or slice stacks (3D) are within the release's threshold on pHash and dHash,
  the leak ``publish`` resolves and a hand-edited or foreign release may still have;
* **decontamination hits** (a problem): a training row with an image (any slice of a volume)
  within the threshold of a benchmark image whose hashes the release keeps
  (``decontamination/*.txt``, written by ``publish --decontaminate-against``);
* **answer-letter balance** (a warning): per config, how often each letter is the answer against
  what uniform answers would give for the rows' option counts; a letter off by more than
  ``BALANCE_TOLERANCE`` (relative) in a config of at least ``BALANCE_MIN_ROWS`` rows is reported,
  since a model can learn a skewed letter prior instead of reading the image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .benchmarks import benchmark_pairs
from .dedup import near_pairs
from .hashing import HashCache, ImageHash, stack_hash
from .rows import DEFAULT_THRESHOLD

BALANCE_TOLERANCE = 0.25
BALANCE_MIN_ROWS = 50
_LETTERS = "ABCDEFGHIJ"


class _Report(Protocol):
    def add(self, where: str, what: str) -> None: ...

    def warn(self, where: str, what: str) -> None: ...


@dataclass(slots=True)
class Audit:
    """What ``validate`` gathered for the release-wide checks."""

    cache: HashCache = field(default_factory=HashCache)
    items: list[tuple[str, str, str, int, tuple[str, ...], ImageHash]] = field(
        default_factory=list
    )  # id, split, group, dims, image sha256s, stack hash
    letters: dict[str, Counter[str]] = field(default_factory=dict)
    expected: dict[str, dict[str, float]] = field(default_factory=dict)
    letter_rows: Counter[str] = field(default_factory=Counter)

    def observe(self, row: dict[str, Any], images: Sequence[bytes], config: str) -> None:
        """Keep what the release-wide checks need from one row (its images already decode)."""
        options = list(row.get("options") or [])
        answer = str(row.get("answer") or "")
        if options and answer[:1] in _LETTERS:
            self.letters.setdefault(config, Counter())[answer[0]] += 1
            expected = self.expected.setdefault(config, {})
            for letter in _LETTERS[: len(options)]:
                expected[letter] = expected.get(letter, 0.0) + 1.0 / len(options)
            self.letter_rows[config] += 1
        if not images:
            return
        try:
            hashed = [self.cache.get(data) for data in images]
        except ValueError:
            return  # undecodable images are reported by the row checks
        self.items.append(
            (
                str(row.get("id")),
                str(row.get("split")),
                str(row.get("group_id")),
                int(row.get("dims") or 0),
                tuple(sha for sha, _ in hashed),
                stack_hash([value for _, value in hashed]),
            )
        )

    def finish(
        self,
        report: _Report,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        benchmarks: Mapping[str, Sequence[ImageHash]] | None = None,
    ) -> None:
        """Report near duplicates across splits, training rows that match a benchmark, and
        unbalanced answer letters."""
        self._near_duplicates(report, threshold)
        if benchmarks:
            train_images: dict[ImageHash, list[str]] = {}  # -> row ids, from the kept hashes
            for row_id, split, _, _, shas, _ in self.items:
                if split == "train":
                    for sha in shas:
                        train_images.setdefault(self.cache.of_sha(sha), []).append(row_id)
            for name, values in sorted(benchmarks.items()):
                self._benchmark_hits(report, threshold, name, values, train_images)
        for config, counts in sorted(self.letters.items()):
            if self.letter_rows[config] < BALANCE_MIN_ROWS:
                continue
            for letter, expected in sorted(self.expected[config].items()):
                ratio = counts[letter] / expected if expected else 0.0
                if abs(ratio - 1.0) > BALANCE_TOLERANCE:
                    report.warn(
                        f"config {config}",
                        f"answer {letter} is {counts[letter]} rows, {expected:.0f} expected "
                        f"from uniform answers ({ratio:.2f}x)",
                    )

    def _near_duplicates(self, report: _Report, threshold: int) -> None:
        for dims in sorted({item[3] for item in self.items}):
            unique: dict[tuple[str, ...], list[tuple[str, str, str]]] = {}
            stacks: dict[tuple[str, ...], ImageHash] = {}
            for row_id, split, group, item_dims, shas, stack in self.items:
                if item_dims == dims:
                    unique.setdefault(shas, []).append((row_id, split, group))
                    stacks[shas] = stack
            keys = list(unique)
            phash = np.array([stacks[k].phash for k in keys], dtype=np.uint64)
            dhash = np.array([stacks[k].dhash for k in keys], dtype=np.uint64)
            links = [(k, k) for k in range(len(keys))]
            links += [(int(i), int(j)) for i, j in near_pairs(phash, dhash, threshold)]
            for i, j in links:
                rows = unique[keys[i]] + (unique[keys[j]] if i != j else [])
                splits = {split for _, split, _ in rows}
                if len(splits) > 1 and len({group for _, _, group in rows}) > 1:
                    first = min(rows)
                    other = next(r for r in sorted(rows) if r[1] != first[1])
                    report.add(
                        f"rows {first[0]} and {other[0]}",
                        f"near-duplicate images in {first[1]} and {other[1]} (different groups)",
                    )

    @staticmethod
    def _benchmark_hits(
        report: _Report,
        threshold: int,
        name: str,
        values: Sequence[ImageHash],
        train_images: Mapping[ImageHash, list[str]],
    ) -> None:
        keys = list(train_images)
        if not keys or not values:
            return
        pairs = benchmark_pairs(keys, values, threshold)
        hits = sorted({r for i in np.unique(pairs[:, 0]) for r in train_images[keys[int(i)]]})
        for row_id in hits:
            report.add(f"row {row_id}", f"training row matches an image of benchmark {name}")
