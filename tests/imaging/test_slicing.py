"""Slice statistics computed slice by slice equal their whole-volume definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unimed_cot.imaging import ImagingError
from unimed_cot.imaging.slicing import body_above, body_extent, label_stats

THRESHOLD = -500.0


def _volume(seed: int, shape: tuple[int, int, int], order: str) -> np.ndarray:
    """Air with a body over some slices, specks in others, a gap inside the body."""
    rng = np.random.default_rng(seed)
    volume = np.full(shape, -1000, dtype=np.int16)
    nx, ny, nz = shape
    lo, hi = sorted(rng.integers(0, nz, size=2).tolist())
    volume[nx // 4 : 3 * nx // 4, ny // 5 : ny - 1, lo : hi + 1] = 40
    for _ in range(int(rng.integers(0, 6))):  # specks: below the body fraction of a slice
        x, y, z = (int(rng.integers(0, n)) for n in shape)
        volume[x, y, z] = 100
    if hi - lo > 2:  # a sparse slice inside the body
        volume[:, :, (lo + hi) // 2] = -1000
        volume[1, 1, (lo + hi) // 2] = 100
    return np.asarray(volume, order=order)  # type: ignore[call-overload]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shape=st.tuples(st.integers(4, 40), st.integers(4, 40), st.integers(1, 30)),
    order=st.sampled_from(["C", "F"]),
)
def test_body_above_equals_the_whole_volume_definition(
    seed: int, shape: tuple[int, int, int], order: str
) -> None:
    volume = _volume(seed, shape, order)
    mask = volume > THRESHOLD
    try:
        expected = body_extent(mask)
    except ImagingError:
        with pytest.raises(ImagingError, match="blank"):
            body_above(volume, THRESHOLD)
        return
    first, last, projection = body_above(volume, THRESHOLD)
    assert (first, last) == expected
    np.testing.assert_array_equal(projection, mask[:, :, first : last + 1].any(axis=2))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_label_stats_count_every_value_on_every_slice(dtype: type, order: str) -> None:
    rng = np.random.default_rng(3)
    labels = np.asarray(
        rng.choice([0, 0, 0, 1, 2, 7, 200], size=(23, 17, 9)).astype(dtype),
        order=order,  # type: ignore[call-overload]
    )
    stats = label_stats(labels)
    assert stats.values == (1, 2, 7, 200)
    for row, value in enumerate(stats.values):
        np.testing.assert_array_equal(stats.areas[row], (labels == value).sum(axis=(0, 1)))
    assert stats.voxels() == {v: int((labels == v).sum()) for v in stats.values}
