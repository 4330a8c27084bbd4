"""Every kind of bad input is a typed ImagingError naming the file, with a stable reason slug."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from unimed_cot.imaging import (
    BadAffineError,
    BitDepthMismatchError,
    DegenerateShapeError,
    ImageTooLargeError,
    ImagingError,
    LabelMismatchError,
    LabelOutOfSetError,
    NonFiniteVoxelsError,
    TruncatedFileError,
    UnreadableFileError,
    read_image_2d,
    read_label_volume,
    read_volume,
    write_nifti,
)
from unimed_cot.imaging.normalize import check_label_grid
from unimed_cot.reasons import reason_of
from unimed_cot.records import Volume

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))  # type: ignore[arg-type]
AFFINE = np.diag([0.8, 0.8, 2.0, 1.0])


def save_nifti(path: Path, array: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    image = nib.Nifti1Image(array, None)  # a sheared/singular affine only fits the sform
    image.set_sform(affine, code="scanner")
    nib.save(image, str(path))
    return path


def raised(call: object, *args: object, **kwargs: object) -> ImagingError:
    with pytest.raises(ImagingError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "junk.nii.gz"
    path.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    error = raised(read_volume, path)
    assert isinstance(error, UnreadableFileError)
    assert str(error).startswith("junk.nii.gz: ")


def test_truncated_gzip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = save_nifti(tmp_path / "cut.nii.gz", rng.normal(size=(40, 40, 40)).astype(np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header survives, the voxels do not
    error = raised(read_volume, path)
    assert type(error) is TruncatedFileError
    assert reason_of(error) == "truncated-file"
    assert str(error).startswith("cut.nii.gz: truncated")
    # A gzip whose CRC fails is the same failure.
    payload = bytearray(
        gzip.compress(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), AFFINE).to_bytes())
    )
    payload[-8] ^= 0xFF
    (tmp_path / "crc.nii.gz").write_bytes(bytes(payload))
    assert isinstance(raised(read_volume, tmp_path / "crc.nii.gz"), UnreadableFileError)


def test_gzip_inflation_stops_at_the_declared_size(tmp_path: Path) -> None:
    import tracemalloc

    values = np.arange(64, dtype=np.float32).reshape(4, 4, 4)
    header_and_data = nib.Nifti1Image(values, AFFINE).to_bytes()
    # 256 MB of zeros after the declared voxels: a bomb if a reader inflated the whole stream.
    path = tmp_path / "bomb.nii.gz"
    path.write_bytes(gzip.compress(header_and_data + bytes(256 << 20), compresslevel=1))
    tracemalloc.start()
    try:
        volume = read_volume(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(volume.array, values)
    assert peak < 16 << 20, peak


def test_multi_member_gzip_reads_whole(tmp_path: Path) -> None:
    values = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    raw = nib.Nifti1Image(values, AFFINE).to_bytes()
    path = tmp_path / "members.nii.gz"  # as `cat a.gz b.gz` or pigz --independent write them
    path.write_bytes(gzip.compress(raw[:500]) + gzip.compress(raw[500:]))
    np.testing.assert_array_equal(read_volume(path).array, values)
    np.testing.assert_array_equal(read_label_volume(path).array, values)


def test_truncated_dicom(tmp_path: Path) -> None:
    data = CT_SMALL.read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) - 5000])
    for reader in (read_volume, read_image_2d):
        error = raised(reader, path)
        assert type(error) is TruncatedFileError, reader
        assert str(error).startswith("cut.dcm: ")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_voxels(tmp_path: Path, bad: float) -> None:
    array = np.zeros((4, 4, 4), np.float32)
    array[1, 2, 3] = bad
    error = raised(read_volume, save_nifti(tmp_path / "nan.nii", array))
    assert type(error) is NonFiniteVoxelsError
    assert reason_of(error) == "non-finite-voxels"
    assert str(error) == "nan.nii: 1 NaN/Inf voxels of 64"


@pytest.mark.parametrize("shape", [(1, 1, 5), (1, 1, 1), (0, 4, 4)])
def test_degenerate_shapes(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    path = save_nifti(tmp_path / "thin.nii", np.zeros(shape, np.float32))
    error = raised(read_volume, path)
    assert type(error) is DegenerateShapeError
    assert reason_of(error) == "degenerate-shape"


def test_single_slice_is_still_a_volume(tmp_path: Path) -> None:
    assert read_volume(save_nifti(tmp_path / "one.nii", np.zeros((4, 5, 1), np.float32))).shape == (
        4,
        5,
        1,
    )


@pytest.mark.parametrize(
    ("affine", "message"),
    [
        (np.diag([1.0, 1.0, 0.0, 1.0]), "degenerate affine"),
        (np.array([[1.0, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "sheared"),
    ],
)
def test_bad_affines(tmp_path: Path, affine: np.ndarray, message: str) -> None:
    path = save_nifti(tmp_path / "aff.nii", np.zeros((3, 3, 3), np.float32), affine)
    error = raised(read_volume, path)
    assert type(error) is BadAffineError
    assert message in str(error)
    assert reason_of(error) == "bad-affine"


def test_image_and_mask_mismatch(tmp_path: Path) -> None:
    image = Volume(array=np.zeros((4, 4, 4), np.float32), affine=AFFINE)
    other_grid = Volume(array=np.zeros((4, 4, 3), np.uint8), affine=AFFINE)
    with pytest.raises(LabelMismatchError) as info:
        check_label_grid(image, other_grid)
    assert reason_of(info.value) == "label-mismatch"


def test_labels_outside_the_declared_set(tmp_path: Path) -> None:
    labels = np.zeros((4, 4, 4), np.uint8)
    labels[0, 0, 0], labels[1, 1, 1] = 1, 7
    path = tmp_path / "seg.nii.gz"
    write_nifti(Volume(array=labels, affine=AFFINE), path)
    assert read_label_volume(path, labels=[1, 7]).array.max() == 7
    error = raised(read_label_volume, path, labels=[1, 2])
    assert type(error) is LabelOutOfSetError
    assert str(error) == "seg.nii.gz: label values 7 are outside the declared set [1, 2]"
    assert reason_of(error) == "label-out-of-set"


def test_sixteen_bit_png_declared_eight_bit(tmp_path: Path) -> None:
    wide = np.full((8, 8), 1000, np.uint16)
    cv2.imwrite(str(tmp_path / "wide.png"), wide)
    error = raised(read_image_2d, tmp_path / "wide.png", bits=8)
    assert type(error) is BitDepthMismatchError
    assert reason_of(error) == "bit-depth-mismatch"
    narrow = np.full((8, 8), 200, np.uint16)
    cv2.imwrite(str(tmp_path / "narrow.png"), narrow)
    assert read_image_2d(tmp_path / "narrow.png", bits=8).array.dtype == np.uint8


def test_sixteen_bit_dicom_declared_eight_bit(tmp_path: Path) -> None:
    ds = pydicom.dcmread(CT_SMALL)
    ds.BitsStored, ds.HighBit = 8, 7  # the stored values still reach 2191
    ds.save_as(tmp_path / "wide.dcm", enforce_file_format=True)
    error = raised(read_volume, tmp_path / "wide.dcm")
    assert type(error) is BitDepthMismatchError
    assert "BitsStored=8" in str(error)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height but holds one empty IDAT: a bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + (chunk(b"IEND", b""))
    )


def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(100_000, 100_000))
    before = Image.MAX_IMAGE_PIXELS
    error = raised(read_image_2d, path)
    assert type(error) is ImageTooLargeError
    assert str(error).startswith("bomb.png: 10000000000 pixels exceed the limit")
    assert before == Image.MAX_IMAGE_PIXELS  # Pillow's global guard is restored
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(small)
    assert type(raised(read_image_2d, small, max_pixels=100)) is ImageTooLargeError


def test_huge_volume_header_is_refused_before_reading(tmp_path: Path) -> None:
    header = nib.Nifti1Header()
    header.set_data_shape((4000, 4000, 4000))
    header.set_data_dtype(np.int16)
    path = tmp_path / "huge.nii"
    path.write_bytes(header.binaryblock + b"\x00" * 4 + b"\x00" * 64)  # no real voxels at all
    error = raised(read_volume, path)
    assert type(error) is ImageTooLargeError
    assert reason_of(error) == "image-too-large"
    small = save_nifti(tmp_path / "small.nii", np.zeros((10, 10, 10), np.float32))
    assert type(raised(read_volume, small, max_voxels=999)) is ImageTooLargeError
