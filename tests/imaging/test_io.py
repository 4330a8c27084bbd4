"""Readers and writers of imaging.io, on files the tests write and on nibabel's shipped files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path
from PIL import Image

from unimed_cot.imaging import (
    ImagingError,
    read_image_2d,
    read_label_image,
    read_label_volume,
    read_volume,
    write_nifti,
)
from unimed_cot.records import Volume

NIBABEL_DATA = Path(str(data_path))
LPS_AFFINE = np.array([[-0.8, 0, 0, 100.0], [0, -0.8, 0, 120.0], [0, 0, 2.5, -50.0], [0, 0, 0, 1]])
RAS_AFFINE = np.array([[0.8, 0, 0, -100.0], [0, 0.8, 0, -120.0], [0, 0, 2.5, -50.0], [0, 0, 0, 1]])


@pytest.mark.parametrize(
    ("affine", "axcodes"), [(LPS_AFFINE, ("L", "P", "S")), (RAS_AFFINE, ("R", "A", "S"))]
)
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_round_trip(tmp_path: Path, affine: np.ndarray, axcodes: tuple, suffix: str) -> None:
    rng = np.random.default_rng(0)
    array = rng.normal(0, 300, size=(7, 6, 5)).astype(np.float32)
    path = tmp_path / f"vol{suffix}"
    write_nifti(Volume(array=array, affine=affine), path)

    volume = read_volume(path)
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, array)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-5)
    assert volume.axcodes == axcodes
    assert volume.spacing == pytest.approx((0.8, 0.8, 2.5), abs=1e-6)
    header: Any = nib.load(str(path)).header
    assert int(header["sform_code"]) == 1 and int(header["qform_code"]) == 1


def test_label_volume_keeps_integers(tmp_path: Path) -> None:
    labels = np.zeros((5, 4, 3), dtype=np.int16)
    labels[1:3, 1:3, 1] = 7
    labels[4, 3, 2] = 300
    path = tmp_path / "labels.nii.gz"
    write_nifti(Volume(array=labels, affine=LPS_AFFINE), path)
    volume = read_label_volume(path)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, labels)


def test_label_volume_stored_as_float_is_accepted_when_integral(tmp_path: Path) -> None:
    path = tmp_path / "float_labels.nii"
    values = np.array([0.0, 1.0, 2.0, 13.0], dtype=np.float32).reshape(2, 2, 1)
    nib.save(nib.Nifti1Image(values, LPS_AFFINE), str(path))
    volume = read_label_volume(path)
    assert np.issubdtype(volume.array.dtype, np.integer)
    assert volume.array.ravel().tolist() == [0, 1, 2, 13]

    nib.save(nib.Nifti1Image(values + 0.5, LPS_AFFINE), str(path))
    with pytest.raises(ImagingError, match="non-integer"):
        read_label_volume(path)


def test_read_volume_applies_nifti_scaling(tmp_path: Path) -> None:
    stored = np.array([[[0, 1], [2, 3]]], dtype=np.int16)
    image = nib.Nifti1Image(stored, RAS_AFFINE)
    image.header.set_slope_inter(2.0, -1024.0)
    path = tmp_path / "scaled.nii"
    nib.save(image, str(path))
    assert read_volume(path).array.ravel().tolist() == [-1024.0, -1022.0, -1020.0, -1018.0]


def test_read_nibabel_anatomical_file() -> None:
    path = NIBABEL_DATA / "anatomical.nii"
    volume = read_volume(path)
    reference: Any = nib.load(str(path))
    assert volume.shape == (33, 41, 25)
    # Stored big-endian int16 with no scaling: the exact integers, in native byte order.
    assert volume.array.dtype == np.dtype(np.int16)
    np.testing.assert_array_equal(volume.array.astype(float), reference.get_fdata())
    np.testing.assert_array_equal(volume.affine, reference.affine)
    assert volume.axcodes == ("L", "A", "S")


def test_4d_file_needs_a_channel() -> None:
    path = NIBABEL_DATA / "example4d.nii.gz"
    with pytest.raises(ImagingError, match="channel="):
        read_volume(path)
    with pytest.raises(ImagingError, match="out of range"):
        read_volume(path, channel=2)
    second = read_volume(path, channel=1)
    assert second.shape == (128, 96, 24)
    loaded: Any = nib.load(str(path))
    expected = np.asarray(loaded.dataobj[..., 1], dtype=np.float32)
    np.testing.assert_array_equal(second.array, expected)


def test_3d_file_refuses_other_channels(tmp_path: Path) -> None:
    path = tmp_path / "v.nii"
    write_nifti(Volume(array=np.zeros((2, 2, 2), np.float32), affine=LPS_AFFINE), path)
    with pytest.raises(ImagingError, match="no channel 1"):
        read_volume(path, channel=1)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.nii.gz", None, "not found"),
        ("volume.mha", b"x", "not a readable ITK image"),
        ("volume.mgh", b"x", "not a volume format"),
        ("broken.nii.gz", b"not a gzip stream", "not a readable NIfTI"),
    ],
)
def test_bad_volume_files(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImagingError, match=message):
        read_volume(path)


def test_read_16_bit_png(tmp_path: Path) -> None:
    array = (np.arange(40 * 30, dtype=np.uint32).reshape(40, 30) * 50).astype(np.uint16)
    path = tmp_path / "xray.png"
    assert cv2.imwrite(str(path), array)
    image = read_image_2d(path)
    assert image.array.dtype == np.uint16
    assert (image.height, image.width) == (40, 30)
    np.testing.assert_array_equal(image.array, array)
    assert image.spacing_mm is None


def test_read_16_bit_tiff(tmp_path: Path) -> None:
    array = np.full((8, 9), 40000, dtype=np.uint16)
    path = tmp_path / "scan.tif"
    Image.fromarray(array).save(path)
    image = read_image_2d(path)
    assert image.array.dtype == np.uint16
    assert int(image.array[3, 3]) == 40000


def test_rgb_comes_back_in_rgb_order(tmp_path: Path) -> None:
    rgb = np.zeros((6, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # red
    rgb[..., 2] = 10
    path = tmp_path / "derm.png"
    Image.fromarray(rgb).save(path)
    image = read_image_2d(path)
    assert image.array.shape == (6, 5, 3)
    assert image.array[0, 0].tolist() == [200, 0, 10]


def test_gray_saved_as_rgb_becomes_gray(tmp_path: Path) -> None:
    gray = np.tile(np.arange(16, dtype=np.uint8) * 10, (4, 1))
    path = tmp_path / "cxr.jpg"
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(path, quality=100)
    image = read_image_2d(path)
    assert image.array.ndim == 2
    assert image.array.dtype == np.uint8
    assert np.abs(image.array.astype(int) - gray).max() <= 3  # JPEG


def test_bad_2d_files(tmp_path: Path) -> None:
    with pytest.raises(ImagingError, match="not found"):
        read_image_2d(tmp_path / "nothing.png")
    (tmp_path / "junk.png").write_bytes(b"\x00\x01garbage")
    with pytest.raises(ImagingError, match="not a readable image"):
        read_image_2d(tmp_path / "junk.png")
    with pytest.raises(ImagingError, match="unsupported file type"):
        read_image_2d(tmp_path / "image.gif")


def test_label_image_values_untouched(tmp_path: Path) -> None:
    labels = np.zeros((10, 12), dtype=np.uint16)
    labels[2:5, 3:9] = 1
    labels[6:9, 1:4] = 1000
    path = tmp_path / "mask.png"
    assert cv2.imwrite(str(path), labels)
    image = read_label_image(path)
    np.testing.assert_array_equal(image.array, labels)


def test_palette_label_image_gives_indices(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2], [3, 2, 1]], dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12))
    path = tmp_path / "palette.png"
    image.save(path)
    np.testing.assert_array_equal(read_label_image(path).array, indices)


def test_colour_mask_and_jpeg_labels_are_refused(tmp_path: Path) -> None:
    colour = np.zeros((4, 4, 3), dtype=np.uint8)
    colour[0, 0] = (255, 0, 0)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    with pytest.raises(ImagingError, match="colour-coded"):
        read_label_image(tmp_path / "colour.png")
    with pytest.raises(ImagingError, match="lossy"):
        read_label_image(tmp_path / "mask.jpg")
