"""Near-duplicate search over 64-bit perceptual hashes: multi-index hashing, never all pairs.

Multi-index hashing (Norouzi et al., 2012): cut each 64-bit hash into ``m`` 16-bit blocks. Two
hashes at Hamming distance ``<= d`` have, by pigeonhole, at least one block at distance
``<= d // m``. So for each block and each of the few bit masks of weight ``<= d // m`` (137 for
``d <= 11``), rows whose block XOR the mask equals another row's block are candidates; a sorted
join (``searchsorted``) finds them in ``O(n log n)``, and a vectorized popcount on the candidates
keeps the true pairs. The result is exact: the same pairs as the all-pairs comparison.

A pair is a near duplicate when both its pHashes and its dHashes are within the threshold; the
search runs on pHash and dHash is checked on the candidates.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

import numpy as np

_BLOCKS = 4
_BLOCK_BITS = 16
_BLOCK_MASK = np.uint64((1 << _BLOCK_BITS) - 1)
# Bound on the candidate pairs materialized at once (two int64 arrays): ~64 MB.
_CHUNK_PAIRS = 4_000_000


def popcount(words: np.ndarray) -> np.ndarray:
    """Bits set in each uint64 (``np.bitwise_count`` on numpy >= 2, a byte table before)."""
    if hasattr(np, "bitwise_count"):
        return np.asarray(np.bitwise_count(words))
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    as_bytes = np.ascontiguousarray(words, dtype=np.uint64).view(np.uint8).reshape(-1, 8)
    return table[as_bytes].sum(axis=1).reshape(np.shape(words))


def _masks(radius: int) -> np.ndarray:
    """Every 16-bit mask with at most ``radius`` bits set."""
    masks = [0]
    for weight in range(1, min(radius, _BLOCK_BITS) + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(_BLOCK_BITS), weight)]
    return np.array(masks, dtype=np.uint64)


def _block(words: np.ndarray, index: int) -> np.ndarray:
    return (words >> np.uint64(index * _BLOCK_BITS)) & _BLOCK_MASK


def _candidates(
    query: np.ndarray, base: np.ndarray, radius: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Candidate index pairs ``(i into query, j into base)`` sharing a block within ``radius``."""
    for block in range(_BLOCKS):
        keys = _block(base, block)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        qkeys = _block(query, block)
        for mask in _masks(radius):
            wanted = qkeys ^ mask
            left = np.searchsorted(sorted_keys, wanted, side="left")
            counts = np.searchsorted(sorted_keys, wanted, side="right") - left
            hits = np.nonzero(counts)[0]
            if hits.size == 0:
                continue
            # Expand the [left, right) ranges in chunks so a crowded bucket cannot blow memory.
            cum = np.cumsum(counts[hits])
            start = 0
            while start < hits.size:
                base_total = cum[start - 1] if start else 0
                stop = int(np.searchsorted(cum, base_total + _CHUNK_PAIRS, side="right"))
                stop = max(stop, start + 1)
                part = hits[start:stop]
                part_counts = counts[part]
                ii = np.repeat(part, part_counts)
                offsets = np.arange(ii.size) - np.repeat(
                    np.cumsum(part_counts) - part_counts, part_counts
                )
                jj = order[np.repeat(left[part], part_counts) + offsets]
                yield ii, jj
                start = stop


def near_pairs(
    phash: np.ndarray,
    dhash: np.ndarray,
    threshold: int,
    *,
    other_phash: np.ndarray | None = None,
    other_dhash: np.ndarray | None = None,
) -> np.ndarray:
    """All pairs within ``threshold`` bits on both hashes, as an ``(k, 2)`` int64 array.

    Args:
        phash, dhash: uint64 hashes of the items searched.
        threshold: maximum Hamming distance (inclusive), 0..63.
        other_phash, other_dhash: when given, pairs ``(i, j)`` match item ``i`` against item
            ``j`` of this second set; otherwise pairs ``i < j`` within the first set.

    Returns:
        Sorted, distinct pairs.
    """
    if not 0 <= threshold < 64:
        raise ValueError(f"threshold must be 0..63 bits, got {threshold}")
    phash = np.asarray(phash, dtype=np.uint64)
    dhash = np.asarray(dhash, dtype=np.uint64)
    self_join = other_phash is None
    base_p = phash if other_phash is None else np.asarray(other_phash, dtype=np.uint64)
    base_d = dhash if other_dhash is None else np.asarray(other_dhash, dtype=np.uint64)
    found: list[np.ndarray] = []
    n_base = max(1, base_p.size)
    if phash.size and base_p.size:
        for ii, jj in _candidates(phash, base_p, threshold // _BLOCKS):
            if self_join:
                keep = ii < jj
                ii, jj = ii[keep], jj[keep]
            close = (popcount(phash[ii] ^ base_p[jj]) <= threshold) & (
                popcount(dhash[ii] ^ base_d[jj]) <= threshold
            )
            if close.any():
                found.append(np.unique(ii[close].astype(np.int64) * n_base + jj[close]))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    keys = np.unique(np.concatenate(found))
    return np.stack([keys // n_base, keys % n_base], axis=1)


def naive_near_pairs(phash: np.ndarray, dhash: np.ndarray, threshold: int) -> np.ndarray:
    """The all-pairs reference (``O(n^2)``, row by row); for tests and the benchmark only."""
    phash = np.asarray(phash, dtype=np.uint64)
    dhash = np.asarray(dhash, dtype=np.uint64)
    found = []
    for i in range(phash.size - 1):
        close = (popcount(phash[i + 1 :] ^ phash[i]) <= threshold) & (
            popcount(dhash[i + 1 :] ^ dhash[i]) <= threshold
        )
        for j in np.nonzero(close)[0]:
            found.append((i, i + 1 + int(j)))
    return np.array(found, dtype=np.int64).reshape(-1, 2)
