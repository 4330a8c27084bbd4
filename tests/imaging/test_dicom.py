"""DICOM series and files: sorting, rescale, geometry errors, cross-checked against SimpleITK.

Series are built from pydicom's real ``CT_small.dcm`` (a GE CT slice): copies with new positions,
shuffled InstanceNumbers and a per-slice pixel signature, so that the order can be checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk  # noqa: N813
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from unimed_cot.imaging import (
    BadAffineError,
    DuplicateSliceError,
    GantryTiltError,
    ImagingError,
    MissingCodecError,
    MissingSlicesError,
    MixedGeometryError,
    MixedSeriesError,
    UnevenSpacingError,
    read_dicom_series,
    read_image_2d,
    read_label_volume,
    read_volume,
)

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))  # type: ignore[arg-type]


def write_series(
    folder: Path,
    offsets_mm: Sequence[float],
    *,
    shift_per_slice: Sequence[float] = (0.0, 0.0, 0.0),
    series_uid: str | None = None,
    orientation: Sequence[float] | None = None,
    seed: int = 0,
) -> list[int]:
    """Write one slice per offset along z; slice k has pixels ``base + 10*k``.

    InstanceNumbers are a random permutation, so they cannot be what orders the result.
    Returns the instance numbers given, in offset order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(CT_SMALL)
    base = template.pixel_array.astype(np.int16)
    uid = series_uid or generate_uid()
    instances = [int(v) + 1 for v in np.random.default_rng(seed).permutation(len(offsets_mm))]
    origin = np.asarray([float(v) for v in template.ImagePositionPatient])
    for k, offset in enumerate(offsets_mm):
        ds = pydicom.dcmread(CT_SMALL)
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = instances[k]
        position = origin + np.asarray(shift_per_slice) * k + np.array([0.0, 0.0, offset])
        ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
        if orientation is not None:
            ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
        ds.PixelData = (base + 10 * k).astype(np.int16).tobytes()
        # File names in a third order (reverse) so that neither name nor number sorts it.
        ds.save_as(folder / f"IM{len(offsets_mm) - k:04d}.dcm", enforce_file_format=True)
    return instances


def slice_signature(volume_array: np.ndarray, base: np.ndarray) -> list[int]:
    """Which written slice k lies at each z of a read volume (pixel offset / 10)."""
    hu_base = base.astype(np.float32).T  # stored -> (x, y); rescale is slope 1, intercept -1024
    return [
        round(float(np.median(volume_array[:, :, z] + 1024 - hu_base)) / 10)
        for z in range(volume_array.shape[2])
    ]


def test_series_sorted_by_position_not_instance_number(tmp_path: Path) -> None:
    offsets = [0.0, 2.5, 5.0, 7.5, 10.0, 12.5]
    instances = write_series(tmp_path / "s", offsets)
    assert instances != sorted(instances)  # the shuffle really shuffles

    volume = read_volume(tmp_path / "s")
    base = pydicom.dcmread(CT_SMALL).pixel_array
    assert volume.shape == (128, 128, 6)
    assert slice_signature(volume.array, base) == [0, 1, 2, 3, 4, 5]
    assert volume.spacing == pytest.approx((0.661468, 0.661468, 2.5), abs=1e-5)
    assert volume.axcodes == ("L", "P", "S")
    # HU: CT_small has RescaleIntercept -1024; the first slice is the template itself.
    expected = base.astype(np.float32).T - 1024.0
    np.testing.assert_array_equal(volume.array[:, :, 0], expected)


def test_series_matches_simpleitk_image_series_reader(tmp_path: Path) -> None:
    write_series(tmp_path / "s", [0.0, 3.0, 6.0, 9.0, 12.0], shift_per_slice=(0.0, 0.0, 0.0))
    ours = read_volume(tmp_path / "s")

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "s")))
    image = reader.Execute()
    reference = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0)).astype(np.float32)
    np.testing.assert_array_equal(ours.array, reference)
    lps = np.diag([-1.0, -1.0, 1.0]) @ ours.affine[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    np.testing.assert_allclose(spacing, image.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose((lps / spacing).ravel(), image.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(
        np.diag([-1.0, -1.0, 1.0]) @ ours.affine[:3, 3], image.GetOrigin(), atol=1e-4
    )


def test_oblique_series_geometry(tmp_path: Path) -> None:
    angle = np.radians(20.0)
    row = np.array([np.cos(angle), np.sin(angle), 0.0])
    col = np.array([0.0, 0.0, -1.0])  # a coronal-oblique plane
    normal = np.cross(row, col)
    folder = tmp_path / "oblique"
    write_series(folder, [0.0] * 4, shift_per_slice=tuple(normal * 2.0), orientation=[*row, *col])
    volume = read_volume(folder)
    np.testing.assert_allclose(volume.spacing, (0.661468, 0.661468, 2.0), atol=1e-4)
    lps_linear = np.diag([-1.0, -1.0, 1.0]) @ volume.affine[:3, :3]
    np.testing.assert_allclose(lps_linear[:, 2] / 2.0, normal, atol=1e-4)


def test_rescale_in_float_does_not_wrap_uint16(tmp_path: Path) -> None:
    ds = pydicom.dcmread(CT_SMALL)
    stored = np.full((ds.Rows, ds.Columns), 24, dtype=np.uint16)
    stored[0, 0] = 65535
    ds.PixelRepresentation = 0
    ds.PixelData = stored.tobytes()
    ds.RescaleSlope = 2
    ds.RescaleIntercept = -1024
    path = tmp_path / "u16.dcm"
    ds.save_as(path, enforce_file_format=True)
    volume = read_volume(path)
    assert volume.array[1, 1, 0] == pytest.approx(24 * 2 - 1024)
    assert volume.array[0, 0, 0] == pytest.approx(65535 * 2 - 1024)
    # Labels stored as DICOM keep their stored integers (no Modality LUT).
    labels = read_label_volume(path)
    assert int(labels.array[1, 1, 0]) == 24


@pytest.mark.parametrize(
    ("offsets", "shift", "error", "message"),
    [
        ([0.0, 2.0, 4.0, 8.0, 10.0], (0, 0, 0), MissingSlicesError, "about 1 slices missing"),
        ([0.0, 2.0, 4.0, 6.3, 8.0], (0, 0, 0), UnevenSpacingError, "vary by"),
        ([0.0, 2.0, 2.0, 4.0], (0, 0, 0), DuplicateSliceError, "share a position"),
        ([0.0, 2.0, 4.0, 6.0], (0, 0.5, 0), GantryTiltError, "deg off their normal"),
    ],
)
def test_irregular_series_are_typed_errors(
    tmp_path: Path, offsets: list[float], shift: tuple, error: type, message: str
) -> None:
    write_series(tmp_path / "s", offsets, shift_per_slice=shift)
    with pytest.raises(error, match=message) as raised:
        read_volume(tmp_path / "s")
    assert str(raised.value).startswith("s: ")


def test_mixed_series_lists_uids_and_reads_the_chosen_one(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    write_series(folder / "a", [0.0, 2.0, 4.0], series_uid="1.2.3.4")
    write_series(folder / "b", [0.0, 5.0], series_uid="1.2.3.5")
    with pytest.raises(MixedSeriesError, match="2 series") as raised:
        read_volume(folder)
    assert raised.value.counts == {"1.2.3.4": 3, "1.2.3.5": 2}
    assert "1.2.3.4 (3 files)" in str(raised.value)
    array, _ = read_dicom_series(folder, series_uid="1.2.3.5")
    assert array.shape == (128, 128, 2)
    with pytest.raises(ImagingError, match=r"no series 9\.9"):
        read_dicom_series(folder, series_uid="9.9")


def test_mixed_orientation_in_one_series(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_series(folder, [0.0, 2.0, 4.0], series_uid="1.2.3")
    ds = pydicom.dcmread(next(folder.glob("*.dcm")))
    ds.ImageOrientationPatient = ["0", "1", "0", "0", "0", "-1"]
    ds.save_as(next(folder.glob("*.dcm")), enforce_file_format=True)
    with pytest.raises(MixedGeometryError, match="different orientations"):
        read_volume(folder)


def test_non_orthonormal_orientation_is_a_bad_affine(tmp_path: Path) -> None:
    write_series(tmp_path / "s", [0.0, 2.0], orientation=[1, 0, 0, 0.5, 0.5, 0])
    with pytest.raises(BadAffineError, match="not orthonormal"):
        read_volume(tmp_path / "s")


def test_non_dicom_files_in_the_folder_are_skipped(tmp_path: Path) -> None:
    write_series(tmp_path / "s", [0.0, 2.0, 4.0])
    (tmp_path / "s" / "README.txt").write_text("scanner export notes")
    assert read_volume(tmp_path / "s").shape == (128, 128, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImagingError, match="no DICOM image slices"):
        read_volume(tmp_path / "empty")


@pytest.mark.filterwarnings("ignore:Expected explicit VR")  # SC_rgb_jpeg.dcm's own header quirk
@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_jpeg.dcm"])
def test_compressed_transfer_syntaxes_decode(name: str) -> None:
    from unimed_cot.imaging.dicom_pixels import decode_frames, read_header

    path = Path(get_testdata_file(name))  # type: ignore[arg-type]
    ds = read_header(path, pixels=True)
    assert ds.file_meta.TransferSyntaxUID.is_compressed
    assert decode_frames(ds, path).size == ds.Rows * ds.Columns * ds.SamplesPerPixel


def test_missing_codec_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_plugin(self: Any) -> None:
        raise RuntimeError("all plugins are missing dependencies")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_plugin))
    path = Path(get_testdata_file("JPEG2000.dcm"))  # type: ignore[arg-type]
    with pytest.raises(MissingCodecError, match=r"JPEG 2000.*dicom-codecs"):
        read_image_2d(path)


def test_mixed_slice_sizes_in_one_series(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_series(folder, [0.0, 2.0, 4.0], series_uid="1.2.3")
    path = next(folder.glob("*.dcm"))
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 64, 64
    ds.PixelData = np.zeros((64, 64), np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(MixedGeometryError, match="sizes"):
        read_volume(folder)


def test_safe_metadata_is_a_whitelist() -> None:
    from pydicom.dataset import Dataset

    from unimed_cot.imaging import safe_metadata

    ds = Dataset()
    ds.PatientName = "Roe^Richard"
    ds.PatientID = "ID-998877"
    ds.PatientBirthDate = "19551231"
    ds.AcquisitionDate = "20240102"
    ds.InstitutionName = "St. Example Hospital"
    ds.SeriesDescription = "CT chest for Richard Roe"
    ds.SeriesInstanceUID = "1.2.840.99.1"
    ds.add_new(0x00091001, "LO", "private vendor note: Roe")
    ds.Modality = "CT"
    ds.BodyPartExamined = "CHEST"
    ds.KVP = "120"
    ds.PixelSpacing = ["0.7", "0.7"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    assert safe_metadata(ds) == {
        "Modality": "CT",
        "BodyPartExamined": "CHEST",
        "PixelSpacing": "0.7\\0.7",
        "ImageOrientationPatient": "1\\0\\0\\0\\1\\0",
        "KVP": "120",
    }
