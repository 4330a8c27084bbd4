"""Real scanner files that nobody here wrote, cross-checked against the reference tools.

pydicom ships CT/MR slices, a CT series with a real gap and a multi-series MR study; pydicom-data
ships enhanced multi-frame CT and CR radiographs; nibabel ships NIfTI volumes. Geometry is checked
against SimpleITK and ``nibabel.as_closest_canonical`` in the same test.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk  # noqa: N813
from nibabel.testing import data_path
from pydicom.data import get_testdata_file

from unimed_cot.imaging import (
    MissingSlicesError,
    MixedSeriesError,
    UnsupportedFormatError,
    read_image_2d,
    read_volume,
    safe_metadata,
)
from unimed_cot.imaging.normalize import reorient

PYDICOM_FILES = Path(get_testdata_file("CT_small.dcm")).parent  # type: ignore[arg-type]
DICOMDIR_TESTS = PYDICOM_FILES / "dicomdirtests"
NIBABEL_DATA = Path(str(data_path))
# pydicom-data installs its files under ``data_store``; without it get_testdata_file downloads.
HAS_PYDICOM_DATA = importlib.util.find_spec("data_store") is not None
needs_pydicom_data = pytest.mark.skipif(not HAS_PYDICOM_DATA, reason="pydicom-data not installed")
LPS = np.diag([-1.0, -1.0, 1.0])


def pydicom_data_file(name: str) -> Path:
    spec = importlib.util.find_spec("data_store")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def assert_matches_itk(volume_affine: np.ndarray, image: sitk.Image, *, columns: int = 3) -> None:
    lps = LPS @ volume_affine[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    np.testing.assert_allclose(spacing[:columns], image.GetSpacing()[:columns], atol=1e-4)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose((lps / spacing)[:, :columns], direction[:, :columns], atol=1e-5)
    np.testing.assert_allclose(LPS @ volume_affine[:3, 3], image.GetOrigin(), atol=1e-3)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_single_slices_match_simpleitk(name: str) -> None:
    path = Path(get_testdata_file(name))  # type: ignore[arg-type]
    volume = read_volume(path)
    reference = sitk.ReadImage(str(path))
    assert volume.shape == (*reference.GetSize()[:2], 1)
    assert_matches_itk(volume.affine, reference, columns=2)
    expected = np.transpose(sitk.GetArrayFromImage(reference), (2, 1, 0)).astype(np.float32)
    np.testing.assert_allclose(volume.array, expected)
    if name == "CT_small.dcm":
        assert float(volume.array.min()) == -896.0  # HU after RescaleIntercept -1024


def test_real_ct_series_matches_image_series_reader() -> None:
    folder = DICOMDIR_TESTS / "98892001" / "CT5N"
    volume = read_volume(folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reference = reader.Execute()
    assert volume.shape == reference.GetSize() == (16, 16, 5)
    assert_matches_itk(volume.affine, reference)
    expected = np.transpose(sitk.GetArrayFromImage(reference), (2, 1, 0)).astype(np.float32)
    np.testing.assert_allclose(volume.array, expected)


def test_real_series_with_a_gap_is_refused() -> None:
    with pytest.raises(MissingSlicesError, match="CT2: about 161 slices missing"):
        read_volume(DICOMDIR_TESTS / "77654033" / "CT2")


def test_real_multi_series_folder_lists_its_series() -> None:
    with pytest.raises(MixedSeriesError) as raised:
        read_volume(DICOMDIR_TESTS / "98892003" / "MR2")
    assert sorted(raised.value.counts.values()) == [1, 3, 3]


@needs_pydicom_data
def test_enhanced_multiframe_ct() -> None:
    path = pydicom_data_file("eCT_Supplemental.dcm")
    volume = read_volume(path)
    assert volume.shape == (512, 512, 2)
    assert volume.spacing == pytest.approx((0.388672, 0.388672, 10.0), abs=1e-6)
    # IOP (-1,0,0 / 0,1,0): the normal points to the feet, so slice z runs inferior.
    assert volume.axcodes == ("R", "P", "I")
    np.testing.assert_allclose(LPS @ volume.affine[:3, 3], (99.5, -301.5, -149.0), atol=1e-4)
    assert float(volume.array.min()) == -1024.0


@needs_pydicom_data
def test_enhanced_mr_without_functional_groups_is_refused() -> None:
    with pytest.raises(UnsupportedFormatError, match="without per-frame positions"):
        read_volume(pydicom_data_file("emri_small.dcm"))


@needs_pydicom_data
def test_computed_radiograph_monochrome1() -> None:
    uncompressed = read_image_2d(pydicom_data_file("RG1_UNCR.dcm"))
    lossless_j2k = read_image_2d(pydicom_data_file("RG1_J2KR.dcm"))
    assert uncompressed.array.shape == (1955, 1841)
    assert uncompressed.array.dtype == np.uint8
    np.testing.assert_array_equal(uncompressed.array, lossless_j2k.array)
    assert uncompressed.spacing_mm is None  # the file's PixelSpacing is 0\0: unknown
    stored = pydicom.dcmread(pydicom_data_file("RG1_UNCR.dcm")).pixel_array.astype(np.float64)
    # MONOCHROME1: higher stored values are darker, so the displayed image anti-correlates.
    correlation = np.corrcoef(stored.ravel(), uncompressed.array.astype(np.float64).ravel())[0, 1]
    assert correlation < -0.9


def test_two_d_dicom_spacing_and_window() -> None:
    image = read_image_2d(Path(get_testdata_file("MR_small.dcm")))  # type: ignore[arg-type]
    assert image.spacing_mm == (0.3125, 0.3125)
    assert image.array.dtype == np.uint8 and int(image.array.max()) == 255


@pytest.mark.parametrize(("name", "channel"), [("anatomical.nii", None), ("example4d.nii.gz", 1)])
def test_nibabel_files_reorient_like_as_closest_canonical(name: str, channel: int | None) -> None:
    path = NIBABEL_DATA / name
    volume = read_volume(path, channel=channel)
    canonical, _ = reorient(volume)  # the project's canonical frame is LPS
    reference = nib.as_closest_canonical(nib.load(str(path)))  # nibabel's is RAS
    expected = np.asarray(reference.get_fdata(dtype=np.float32))
    if channel is not None:
        expected = expected[..., channel]
    expected = expected.reshape(canonical.shape)[::-1, ::-1, :]  # RAS -> LPS: flip x and y
    flip = np.array(
        [
            [-1, 0, 0, canonical.shape[0] - 1],
            [0, -1, 0, canonical.shape[1] - 1],
            [0, 0, 1, 0],
            [0, 0, 0, 1],
        ],
        dtype=np.float64,
    )
    assert canonical.axcodes == ("L", "P", "S")
    np.testing.assert_allclose(canonical.affine, reference.affine @ flip, atol=1e-4)
    np.testing.assert_array_equal(canonical.array, expected)


def test_identifying_tags_never_leave() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN-123456"
    ds.PatientBirthDate = "19700101"
    ds.StudyDescription = "follow-up of Jane's lesion"
    ds.ImageComments = "call Dr. Smith 555-0100"
    kept = safe_metadata(ds)
    assert kept["Modality"] == "CT"
    assert kept["KVP"] == "120"
    assert kept["PixelSpacing"] == "0.661468\\0.661468"
    text = repr(kept)
    for secret in (
        "Doe",
        "MRN-123456",
        "1970",
        "Jane",
        "555-0100",
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        str(ds.StudyDate),
        ds.get("InstitutionName", "@@"),
    ):
        assert secret not in text
    identifying = {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "StudyDate",
        "StudyTime",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "StudyDescription",
        "ImageComments",
        "InstitutionName",
        "ReferringPhysicianName",
        "AccessionNumber",
    }
    assert identifying.isdisjoint(kept)
