"""NumPy volumes: M3D's (1, D, H, W) layout, caller-stated geometry, npz keys, refused content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unimed_cot.imaging import (
    ImagingError,
    NonFiniteVoxelsError,
    UnsupportedFormatError,
    read_array_volume,
    read_volume,
)


def m3d_array() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.random((1, 4, 5, 6), dtype=np.float32)  # (C, D, H, W) as M3D stores them


def test_m3d_layout_without_geometry(tmp_path: Path) -> None:
    array = m3d_array()
    np.save(tmp_path / "ct.npy", array)
    result = read_array_volume(tmp_path / "ct.npy")
    assert result.geometry_known is False
    assert result.volume.shape == (6, 5, 4)  # (x=W, y=H, z=D)
    np.testing.assert_array_equal(result.volume.array[2, 3, 1], array[0, 1, 3, 2])
    np.testing.assert_array_equal(result.volume.affine, np.eye(4))


def test_stated_geometry_builds_the_affine(tmp_path: Path) -> None:
    np.save(tmp_path / "ct.npy", m3d_array()[0])
    result = read_array_volume(tmp_path / "ct.npy", spacing=(0.7, 0.8, 2.0), axcodes="LPS")
    assert result.geometry_known is True
    np.testing.assert_allclose(np.diag(result.volume.affine), [-0.7, -0.8, 2.0, 1.0])
    assert result.volume.axcodes == ("L", "P", "S")
    assert result.volume.spacing == pytest.approx((0.7, 0.8, 2.0))
    with pytest.raises(ImagingError, match="axcodes"):
        read_array_volume(tmp_path / "ct.npy", axcodes="RRS")
    with pytest.raises(ImagingError, match="spacing"):
        read_array_volume(tmp_path / "ct.npy", spacing=(1.0, 0.0, 1.0))


def test_xyz_layout_is_kept(tmp_path: Path) -> None:
    array = m3d_array()[0]
    np.save(tmp_path / "v.npy", array)
    result = read_array_volume(tmp_path / "v.npy", layout="xyz")
    np.testing.assert_array_equal(result.volume.array, array)


def test_npz_keys_and_labels(tmp_path: Path) -> None:
    labels = np.zeros((3, 4, 5), dtype=np.int16)
    labels[1, 2, 3] = 2
    np.savez_compressed(tmp_path / "case.npz", image=m3d_array()[0, :3, :4, :5], seg=labels)
    with pytest.raises(ImagingError, match="2 arrays"):
        read_array_volume(tmp_path / "case.npz")
    seg = read_array_volume(tmp_path / "case.npz", key="seg", labels=True).volume
    assert seg.array.dtype == np.int16
    assert seg.array[3, 2, 1] == 2
    with pytest.raises(ImagingError, match="no array 'mask'"):
        read_array_volume(tmp_path / "case.npz", key="mask")
    with pytest.raises(ImagingError, match="label array is integer"):
        read_array_volume(tmp_path / "case.npz", key="image", labels=True)


def test_channels(tmp_path: Path) -> None:
    two = np.stack([np.zeros((3, 3, 3)), np.ones((3, 3, 3))]).astype(np.float32)
    np.save(tmp_path / "mm.npy", two)
    with pytest.raises(ImagingError, match="2 channels"):
        read_array_volume(tmp_path / "mm.npy")
    assert float(read_array_volume(tmp_path / "mm.npy", channel=1).volume.array.min()) == 1.0


def test_refused_content(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UnsupportedFormatError, match="pickled"):
        read_array_volume(tmp_path / "obj.npy")
    bad = np.ones((3, 3, 3), np.float32)
    bad[1, 1, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(NonFiniteVoxelsError, match=r"nan\.npy: 1 NaN/Inf"):
        read_array_volume(tmp_path / "nan.npy")
    with pytest.raises(UnsupportedFormatError, match="read_array_volume"):
        read_volume(tmp_path / "nan.npy")
    (tmp_path / "cut.npy").write_bytes((tmp_path / "nan.npy").read_bytes()[:100])
    with pytest.raises(ImagingError, match=r"cut\.npy"):
        read_array_volume(tmp_path / "cut.npy")
