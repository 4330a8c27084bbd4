"""M3D-Seg sparse masks -> one label map: ``m3d_seg`` (CSR rows) vs the official demo recipe.

The official loader densifies the whole ``(C, X*Y*Z)`` CSR matrix
(``sparse.load_npz(p).toarray().reshape(shape)``, int32) and the label map is then built from the
dense channels; ``builders/m3d_seg.py`` writes each row's column indices straight into one uint8
map. Both run on the same ``.npz`` (written with ``scipy.sparse.save_npz`` like the release), are
checked to give the same map, and are timed; peak memory is read with ``tracemalloc``.

Run: ``.venv/bin/python benchmarks/bench_m3d_masks.py --channels 13 --side 256 --depth 96``.
The ratios are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import sparse

from unimed_cot.builders.m3d_seg import _read_label_map


def _write(folder: Path, channels: int, side: int, depth: int) -> tuple[Path, tuple[int, ...]]:
    rng = np.random.default_rng(0)
    labels = np.zeros((side, side, depth), dtype=np.uint8)
    grid = np.mgrid[0:side, 0:side, 0:depth].astype(np.float32)
    for value in range(1, channels + 1):  # disjoint blobs, as one source label map gives
        centre = rng.uniform(
            [0.2 * side, 0.2 * side, 0.2 * depth], [0.8 * side, 0.8 * side, 0.8 * depth]
        )
        radius = rng.uniform(0.05, 0.15) * side
        blob = sum(((g - c) / radius) ** 2 for g, c in zip(grid, centre, strict=True)) <= 1
        labels[blob & (labels == 0)] = value
    masks = np.stack([labels == v for v in range(1, channels + 1)]).astype(np.int32)
    shape = masks.shape
    path = folder / f"mask_{shape}"
    sparse.save_npz(path, sparse.csr_matrix(masks.reshape(channels, -1)))
    return folder / f"mask_{shape}.npz", shape


def _official(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    dense = sparse.load_npz(path).toarray().reshape(shape)
    labels = np.zeros(shape[1:], dtype=np.uint8)
    for channel in range(shape[0]):
        labels[dense[channel] > 0] = channel + 1
    return labels


def _measure(run, *args, repeats: int = 3) -> tuple[float, float, np.ndarray]:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = run(*args)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    run(*args)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=13)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--depth", type=int, default=96)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, shape = _write(Path(tmp), args.channels, args.side, args.depth)
        ours_s, ours_mb, ours = _measure(
            lambda: _read_label_map(path, shape, n_classes=args.channels)
        )
        demo_s, demo_mb, demo = _measure(lambda: _official(path, shape))
    assert np.array_equal(ours, demo), "the two label maps differ"
    print(f"mask {shape}: m3d_seg {ours_s:.3f} s, peak {ours_mb:.0f} MiB")
    print(f"mask {shape}: toarray recipe {demo_s:.3f} s, peak {demo_mb:.0f} MiB")
    print(f"ratio: {demo_s / ours_s:.1f}x faster, {demo_mb / max(ours_mb, 1e-9):.1f}x less memory")


if __name__ == "__main__":
    main()
