"""Resampling to a target spacing: geometry, label values, anti-aliasing, serialize wiring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from unimed_cot.imaging import ImagingError, SerializeConfig, serialize_case
from unimed_cot.imaging.resample import (
    antialias_sigma,
    new_grid,
    resample_pair,
    resample_volume,
)
from unimed_cot.records import Case, SourceRecord, Volume

LPS = np.array([[-1.0, 0, 0, 60], [0, -1.0, 0, 40], [0, 0, 2.5, -50], [0, 0, 0, 1]])


def _corners(volume: Volume) -> np.ndarray:
    """World coordinates of the outer voxel edges (index -0.5 and n - 0.5 on every axis)."""
    low = volume.affine @ np.array([-0.5, -0.5, -0.5, 1.0])
    high = volume.affine @ np.array([*(n - 0.5 for n in volume.shape), 1.0])
    return np.stack([low[:3], high[:3]])


def test_new_grid_keeps_the_physical_extent() -> None:
    shape, actual = new_grid((40, 30, 20), (1.0, 1.0, 2.5), (2.0, 2.0, 1.0))
    assert shape == (20, 15, 50)
    assert actual == pytest.approx((2.0, 2.0, 1.0))
    # 31 voxels of 1 mm at 2 mm: 15.5 -> 16 voxels of 31/16 mm (extent kept, spacing rounded).
    shape, actual = new_grid((31, 10, 10), (1.0, 1.0, 1.0), (2.0, 1.0, 1.0))
    assert shape == (16, 10, 10) and actual[0] == pytest.approx(31 / 16)
    with pytest.raises(ImagingError, match="positive"):
        new_grid((4, 4, 4), (1, 1, 1), (1.0, 0.0, 1.0))


def test_resampled_volume_covers_the_same_world_box_and_keeps_centres() -> None:
    array = np.zeros((40, 30, 20), dtype=np.float32)
    array[10:20, 6:12, 4:8] = 1000.0
    volume = Volume(array=array, affine=LPS)
    out = resample_volume(volume, (2.0, 2.0, 1.0))
    assert out.shape == (20, 15, 50) and out.array.dtype == np.float32
    np.testing.assert_allclose(_corners(out), _corners(volume), atol=1e-9)
    assert out.spacing == pytest.approx((2.0, 2.0, 1.0))

    def world_centroid(v: Volume) -> np.ndarray:
        weights = np.asarray(v.array, dtype=np.float64)
        index = [float((np.indices(v.shape)[a] * weights).sum() / weights.sum()) for a in range(3)]
        return (v.affine @ np.array([*index, 1.0]))[:3]

    np.testing.assert_allclose(world_centroid(out), world_centroid(volume), atol=0.05)


def test_labels_use_nearest_and_never_invent_values() -> None:
    labels = np.zeros((40, 30, 20), dtype=np.uint8)
    labels[5:25, 4:20, 2:10] = 1
    labels[25:35, 4:20, 2:10] = 3  # touches label 1: linear interpolation would create 2
    volume = Volume(array=labels, affine=LPS)
    for target in [(2.0, 2.0, 1.0), (0.7, 3.0, 2.0)]:
        out = resample_volume(volume, target, labels=True)
        assert out.array.dtype == np.uint8
        assert set(np.unique(out.array).tolist()) == {0, 1, 3}
        np.testing.assert_allclose(_corners(out), _corners(volume), atol=1e-9)
    # Nearest neighbour on a 2x coarser in-plane grid: boxes of even extent keep their volume.
    out = resample_volume(volume, (2.0, 2.0, 2.5), labels=True)
    voxel_ml = np.prod(out.spacing) / 1000
    assert np.count_nonzero(out.array == 1) * voxel_ml == pytest.approx(20 * 16 * 8 * 2.5 / 1000)


def test_antialiasing_suppresses_checkerboard_aliasing() -> None:
    # A 1-voxel checkerboard is pure Nyquist-frequency detail: downsampled by 3 it must fade to
    # its mean, while plain linear zooming (no pre-filter) folds it into a visible pattern.
    grid = np.indices((60, 60, 12)).sum(axis=0) % 2
    board = Volume(array=(grid * 200.0 - 100.0).astype(np.float32), affine=np.eye(4))
    out = resample_volume(board, (3.0, 3.0, 1.0))
    assert out.shape == (20, 20, 12)
    naive = ndimage.zoom(board.array, (1 / 3, 1 / 3, 1), order=1, grid_mode=True, mode="nearest")
    ours_energy = float(np.mean((out.array - out.array.mean()) ** 2))
    naive_energy = float(np.mean((naive - naive.mean()) ** 2))
    assert naive_energy > 1000  # amplitude of ~100 HU survives without smoothing
    assert ours_energy < 0.05 * naive_energy
    assert antialias_sigma((1 / 3, 1 / 3, 1.0)) == pytest.approx((1.0, 1.0, 0.0))


def test_upsampling_is_linear_without_smoothing() -> None:
    ramp = np.broadcast_to(np.arange(10, dtype=np.float32)[:, None, None], (10, 4, 4)).copy()
    out = resample_volume(Volume(array=ramp, affine=np.eye(4)), (0.5, 1.0, 1.0))
    assert out.shape == (20, 4, 4)
    # Grid convention: new voxel i sits at old index (i + 0.5) / 2 - 0.5; edges clamp.
    expected = np.clip((np.arange(20) + 0.5) / 2 - 0.5, 0, 9)
    np.testing.assert_allclose(out.array[:, 1, 1], expected, atol=1e-5)


def test_resample_pair_and_history() -> None:
    image = Volume(array=np.zeros((8, 8, 8), np.float32), affine=LPS)
    same, labels, line = resample_pair(image, None, (1.0, 1.0, 2.5))
    assert same is image and labels is None and "skipped" in line
    out, out_labels, line = resample_pair(
        image, Volume(array=np.zeros((8, 8, 8), np.uint8), affine=LPS), (2.0, 2.0, 2.5)
    )
    assert out.shape == (4, 4, 8) and out_labels is not None and out_labels.shape == (4, 4, 8)
    assert line.startswith("resampled 8x8x8 at 1x1x2.5 mm -> 4x4x8 at 2x2x2.5 mm")
    assert "Gaussian anti-aliasing" in line and "labels nearest" in line


def test_serialize_resamples_when_asked(tmp_path: Path) -> None:
    ct = np.full((126, 84, 16), -1000.0, dtype=np.float32)
    ct[3:123, 2:82, :] = 40.0
    labels = np.zeros(ct.shape, dtype=np.uint8)
    labels[20:50, 10:40, 2:8] = 1
    record = SourceRecord(
        source="t", case_id="c", group_key="p", dims=3, modality="CT", image=Path("x")
    )
    case = Case(
        record=record,
        image=Volume(array=ct, affine=np.diag([-1.0, -1.0, 2.0, 1.0])),
        labels={1: "liver"},
        label_map=Volume(array=labels, affine=np.diag([-1.0, -1.0, 2.0, 1.0])),
    )
    config = SerializeConfig(n_slices=8, target_spacing_mm=(2.0, 2.0, 1.0), strategy="uniform")
    out = serialize_case(case, config)
    assert any(line.startswith("resampled 126x84x16") for line in case.history)
    # 32 slices of 1 mm now; 8 picked every 4 mm.
    assert np.diff(out.slice_positions_mm) == pytest.approx([4.0] * 7)
    liver = out.regions[0]
    assert liver.facts is not None and liver.facts.size_mm == pytest.approx(30 * 30 * 6 * 2 / 1000)
    assert SerializeConfig(target_spacing_mm=[1, 1, 2]).target_spacing_mm == (1.0, 1.0, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target_spacing_mm"):
        SerializeConfig(target_spacing_mm=(1.0, -1.0, 1.0))


@pytest.mark.parametrize("shape", [(13, 9, 7), (40, 31, 5)])
def test_separable_zoom_equals_scipy_grid_mode(shape: tuple[int, int, int]) -> None:
    from unimed_cot.imaging.resample import _zoom_linear, _zoom_nearest

    rng = np.random.default_rng(3)
    values = rng.normal(size=(20, 17, 11)).astype(np.float32)
    zoom = [n / o for n, o in zip(shape, values.shape, strict=True)]
    expected = ndimage.zoom(values, zoom, order=1, grid_mode=True, mode="nearest")
    np.testing.assert_allclose(_zoom_linear(values, shape, (0.0, 0.0, 0.0)), expected, atol=1e-4)
    # With the anti-aliasing pre-filter: the same as scipy's 3D Gaussian, then zoom.
    sigma = antialias_sigma(zoom)
    smoothed = ndimage.gaussian_filter(values, sigma, mode="nearest", truncate=3.0)
    expected = ndimage.zoom(smoothed, zoom, order=1, grid_mode=True, mode="nearest")
    np.testing.assert_allclose(_zoom_linear(values, shape, sigma), expected, atol=1e-4)
    labels = rng.integers(0, 5, size=(20, 17, 11)).astype(np.uint8)
    nearest = _zoom_nearest(labels, shape)
    assert nearest.shape == shape and nearest.dtype == np.uint8
    scipy_nearest = ndimage.zoom(labels, zoom, order=0, grid_mode=True, mode="nearest")
    assert np.mean(nearest == scipy_nearest) > 0.9  # scipy rounds exact ties differently
