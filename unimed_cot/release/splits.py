"""Group-wise train / validation / test assignment.

Splits are made by group (the salted hash of a patient or case id), never by row, so no patient
contributes to two splits. ``publish`` applies ``assign_splits`` per (source, dims) stratum, so
every source's groups spread over all three splits instead of one large source filling the test
set by chance.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

from unimed_cot.errors import UsageError
from unimed_cot.records import SPLITS

DEFAULT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)

# When a group holds rows with different official splits (a patient whose images the source put
# in two splits), the group goes to the most held-out one, so evaluation data stays unseen.
_PRECEDENCE = {"test": 2, "validation": 1, "train": 0}


def assign_splits(
    group_ids: Sequence[str],
    *,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seed: int = 0,
    official: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Assign every group to ``train``, ``validation`` or ``test``, deterministically.

    Groups with an official split (``official[group]`` non-empty) keep it. The others are ordered
    by a seeded hash of their id and cut into consecutive runs whose sizes are the ratios applied
    to the number of groups (largest remainder), so the result depends only on the set of ids,
    the ratios and the seed, never on input order.

    Trade-offs, chosen on purpose:

    * Allocation by counts, not by a per-group hash threshold: with three or more free groups
      every split with a non-zero ratio gets at least one group, so a small source still has a
      test set. The price is stability across versions: adding groups shifts the cut points, so
      a few groups near a boundary can change split between releases. (A pure threshold on the
      hash never moves a group, but leaves small sources with empty splits.)
    * Ratios apply to groups, not rows: a group with many rows weighs as one, so row ratios of a
      small stratum can differ from ``ratios``; the card reports the real counts.
    * The minimum of one group per split over-represents validation/test for tiny strata.

    Args:
        group_ids: group ids (duplicates are ignored).
        ratios: fractions of (train, validation, test); non-negative, summing to 1.
        seed: changes the order of the hash, hence which groups land where.
        official: the source's own split per group, honoured when present.

    Returns:
        The split of every distinct group id.

    Raises:
        UsageError: for ratios that are not three non-negative numbers summing to 1, or an
            official split that is not train/validation/test.
    """
    weights = _check_ratios(ratios)
    official = official or {}
    assigned: dict[str, str] = {}
    free: list[str] = []
    for group in sorted(set(group_ids)):
        fixed = official.get(group, "")
        if fixed:
            if fixed not in SPLITS:
                raise UsageError(f"group {group}: official split {fixed!r} is not one of {SPLITS}")
            assigned[group] = fixed
        else:
            free.append(group)

    free.sort(key=lambda group: _order_key(group, seed))
    start = 0
    for split, count in zip(SPLITS, _allocate(len(free), weights), strict=True):
        for group in free[start : start + count]:
            assigned[group] = split
        start += count
    return assigned


def merge_official(current: str, other: str) -> str:
    """The official split of a group seen with two (possibly empty) official splits."""
    if not current or not other:
        return current or other
    return current if _PRECEDENCE.get(current, 0) >= _PRECEDENCE.get(other, 0) else other


def _order_key(group: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x1f{group}".encode()).hexdigest()


def _allocate(n: int, weights: tuple[float, ...]) -> list[int]:
    """Counts per split that sum to ``n``: largest remainder, then at least one each when n >= 3."""
    exact = [n * w for w in weights]
    counts = [math.floor(v) for v in exact]
    # Ties go to the earlier split (train first), so the allocation is fully determined.
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    wanted = [i for i, w in enumerate(weights) if w > 0]
    if n >= len(wanted):
        for i in wanted:
            if counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    return counts


def _check_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(r) for r in ratios)
    if (
        len(values) != len(SPLITS)
        or any(v < 0 for v in values)
        or not math.isclose(sum(values), 1.0, abs_tol=1e-6)
    ):
        raise UsageError(
            f"split ratios must be three non-negative numbers (train, validation, test) summing "
            f"to 1, got {list(ratios)}"
        )
    return values
