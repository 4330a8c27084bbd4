"""Near-duplicate search: multi-index hashing vs all pairs (numpy) vs ``imagehash``, same data.

Generates N smooth synthetic grayscale images (256x256 PNGs, as a release publishes), plants
near copies (re-encoded, brightened, rescaled), then times:

1. hashing: ``unimed_cot.screening.hashing`` (OpenCV decode, scipy DCT) vs ``imagehash.phash`` +
   ``imagehash.dhash`` (PIL), on the same PNG bytes (a sample, extrapolated);
2. search: ``dedup.near_pairs`` (multi-index hashing) vs ``dedup.naive_near_pairs`` (all pairs,
   vectorized per row) on the same hashes; all pairs runs on a subset and is extrapolated as
   O(n^2), and both are checked to find the same pairs on that subset.

Run: ``.venv/bin/python benchmarks/bench_dedup.py --n 100000`` (takes a few minutes, mostly
generating images). The ratios are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import time

import cv2
import numpy as np

from unimed_cot.screening.dedup import naive_near_pairs, near_pairs
from unimed_cot.screening.hashing import hash_image_bytes


def _images(n: int, side: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    for i in range(n):
        if i % 50 == 49:  # a near copy of an earlier image
            source = cv2.imdecode(np.frombuffer(out[int(rng.integers(i - 1))], np.uint8), 0)
            copy = cv2.resize(cv2.add(source, 4), (side + 16, side + 16))
            out.append(cv2.imencode(".png", cv2.resize(copy, (side, side)))[1].tobytes())
            continue
        low = rng.integers(0, 255, (16, 16)).astype(np.uint8)
        image = cv2.resize(low, (side, side), interpolation=cv2.INTER_CUBIC)
        out.append(cv2.imencode(".png", image)[1].tobytes())
    return out


def _time(label: str, func, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = func(*args)
    elapsed = time.perf_counter() - start
    print(f"  {label}: {elapsed:.2f} s")
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="images")
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--threshold", type=int, default=6)
    parser.add_argument("--naive-n", type=int, default=20_000, help="subset for all pairs")
    parser.add_argument("--hash-sample", type=int, default=2_000)
    args = parser.parse_args()

    print(f"generating {args.n} images of {args.side}x{args.side} ...")
    images = _images(args.n, args.side, seed=0)

    print("hashing")
    sample = images[: args.hash_sample]
    _, ours = _time(f"unimed-cot phash+dhash, {len(sample)} images", _hash_ours, sample)
    try:
        import imagehash
        from PIL import Image

        def theirs(batch: list[bytes]) -> None:
            for data in batch:
                with Image.open(io.BytesIO(data)) as image:
                    imagehash.phash(image)
                    imagehash.dhash(image)

        _, other = _time(f"imagehash phash+dhash, {len(sample)} images", theirs, sample)
        print(f"  ratio imagehash / unimed-cot: {other / ours:.1f}x")
    except ImportError:
        print("  imagehash is not installed (pip install imagehash); skipped")
    hashes, all_hash = _time(f"unimed-cot, all {args.n} images", _hash_ours, images)
    phash = np.array([h.phash for h in hashes], dtype=np.uint64)
    dhash = np.array([h.dhash for h in hashes], dtype=np.uint64)

    print(f"search, threshold {args.threshold} bits")
    pairs, fast = _time(
        f"multi-index hashing, n={args.n}", near_pairs, phash, dhash, args.threshold
    )
    m = min(args.naive_n, args.n)
    sub_fast, fast_m = _time(
        f"multi-index hashing, n={m}", near_pairs, phash[:m], dhash[:m], args.threshold
    )
    sub_naive, naive_m = _time(
        f"all pairs (numpy), n={m}", naive_near_pairs, phash[:m], dhash[:m], args.threshold
    )
    assert np.array_equal(sub_fast, sub_naive), "the two searches disagree"
    naive_full = naive_m * (args.n / m) ** 2
    print(f"  same {len(sub_fast)} pairs on the subset; {len(pairs)} pairs on all {args.n}")
    print(f"  ratio all-pairs / multi-index at n={m}: {naive_m / fast_m:.1f}x")
    print(
        f"  all pairs extrapolated to n={args.n}: {naive_full:.0f} s "
        f"(ratio {naive_full / fast:.0f}x)"
    )
    print(f"total for {args.n} images (hash + search): {all_hash + fast:.0f} s")


def _hash_ours(batch: list[bytes]) -> list:  # type: ignore[type-arg]
    return [hash_image_bytes(data) for data in batch]


if __name__ == "__main__":
    main()
