"""Two DICOM decode fixes, checked on real scanner files against GDCM (SimpleITK) and nibabel.

* Bits above BitsStored are not part of a pixel value: a signed 12-bit file may store negatives
  with zero high bits (pydicom-data ``mlut_18.dcm``) and must decode as pydicom and GDCM mask it,
  while data that really uses the high bits is still refused.
* A single slice has no step to measure: its slice axis is SpacingBetweenSlices (as GDCM reads
  it), else SliceThickness (as nibabel's ``dicomwrappers`` and dcm2niix do), else 1 mm.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk  # noqa: N813
from pydicom.data import get_testdata_file

from unimed_cot.imaging import BitDepthMismatchError, read_image_2d, read_volume
from unimed_cot.imaging.dicom_pixels import decode_frames, read_header

HAS_PYDICOM_DATA = importlib.util.find_spec("data_store") is not None
needs_pydicom_data = pytest.mark.skipif(not HAS_PYDICOM_DATA, reason="pydicom-data not installed")
LPS = np.diag([-1.0, -1.0, 1.0])


def pydicom_file(name: str) -> Path:
    """A file shipped by pydicom itself."""
    return Path(get_testdata_file(name))  # type: ignore[arg-type]


def pydicom_data_file(name: str) -> Path:
    """A file shipped by pydicom-data (installed as ``data_store``)."""
    spec = importlib.util.find_spec("data_store")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def itk_stored(path: Path) -> np.ndarray:
    """GDCM's decode of a single-frame file's stored values, (rows, cols)."""
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))[0]


def nibabel_voxel_sizes(path: Path) -> tuple[float, float, float]:
    """nibabel's (row spacing, column spacing, slice) voxel sizes of a single DICOM slice."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the DICOM readers are highly experimental"
        from nibabel.nicom import dicomwrappers

        sizes = dicomwrappers.wrapper_from_file(str(path)).voxel_sizes
    return (float(sizes[0]), float(sizes[1]), float(sizes[2]))


# --- bits above BitsStored ------------------------------------------------------------------


@needs_pydicom_data
def test_signed_12_bit_with_zero_high_bits_decodes_as_gdcm_does() -> None:
    path = pydicom_data_file("mlut_18.dcm")
    ds = read_header(path, pixels=True)
    raw = np.frombuffer(ds.PixelData, dtype="<i2")
    # the file really is the case of the issue: negatives both zero-padded and sign-extended
    assert (ds.BitsStored, ds.PixelRepresentation) == (12, 1)
    assert int(raw.max()) == 4095 and int((raw >= 2048).sum()) > 0 and int((raw < 0).sum()) > 0
    stored = decode_frames(ds, path)
    np.testing.assert_array_equal(stored, itk_stored(path))
    assert (int(stored.min()), int(stored.max())) == (-2048, 2047)


@needs_pydicom_data
def test_zero_padded_and_sign_extended_storage_give_the_same_image(tmp_path: Path) -> None:
    """The same 12-bit values, stored with zero high bits or sign-extended, are one image."""
    path = pydicom_data_file("mlut_18.dcm")
    ds = pydicom.dcmread(path)
    ds.PixelData = np.ascontiguousarray(ds.pixel_array, dtype="<i2").tobytes()  # sign-extended
    extended = tmp_path / "sign_extended.dcm"
    ds.save_as(extended, enforce_file_format=True)
    assert int(np.frombuffer(pydicom.dcmread(extended).PixelData, "<i2").max()) == 2047

    original, canonical = read_image_2d(path), read_image_2d(extended)
    assert original.array.dtype == np.uint8
    np.testing.assert_array_equal(original.array, canonical.array)
    assert len(np.unique(original.array)) > 100  # a real picture, not a constant


@needs_pydicom_data
def test_signed_values_using_the_high_bits_are_still_refused(tmp_path: Path) -> None:
    """High bits that are neither zero nor copies of the sign bit carry magnitude: refused."""
    ds = pydicom.dcmread(pydicom_data_file("mlut_18.dcm"))
    values = ds.pixel_array.astype(np.int16)
    positive = values > 0
    widened = values.view(np.uint16).copy()
    widened[positive] |= np.uint16(0x3000)  # bits 12-13 set on values whose sign bit is 0
    ds.PixelData = widened.tobytes()
    path = tmp_path / "wide.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(BitDepthMismatchError, match="BitsStored=12"):
        read_image_2d(path)


def test_unsigned_values_above_bits_stored_are_still_refused(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    values = ds.pixel_array.astype(np.uint16)  # MR_small: signed 16-bit, values 127..2145
    assert int(values.max()) > 255
    ds.PixelRepresentation, ds.BitsStored, ds.HighBit = 0, 8, 7
    ds.PixelData = values.tobytes()
    path = tmp_path / "wide_unsigned.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(BitDepthMismatchError, match="BitsStored=8"):
        read_volume(path)


# --- the slice step of a single slice -------------------------------------------------------

# (file, shipped by, SliceThickness, SpacingBetweenSlices) as the files carry them
SINGLE_SLICES = [
    ("CT_small.dcm", "pydicom", 5.0, 5.0),
    ("MR_small.dcm", "pydicom", 0.8, None),
    ("693_UNCR.dcm", "pydicom-data", 5.0, 20.0),
    ("MR2_UNCR.dcm", "pydicom-data", 6.0, 6.6),
    ("MR-SIEMENS-DICOM-WithOverlays.dcm", "pydicom-data", 4.0, None),
]


def _single(name: str, shipped_by: str) -> Path:
    if shipped_by == "pydicom-data":
        if not HAS_PYDICOM_DATA:
            pytest.skip("pydicom-data not installed")
        return pydicom_data_file(name)
    return pydicom_file(name)


@pytest.mark.parametrize(("name", "shipped_by", "thickness", "between"), SINGLE_SLICES)
def test_single_slice_step_is_the_files_own(
    name: str, shipped_by: str, thickness: float, between: float | None
) -> None:
    path = _single(name, shipped_by)
    volume = read_volume(path)
    expected = between if between is not None else thickness
    assert volume.shape[2] == 1
    assert volume.spacing[2] == pytest.approx(expected, abs=1e-6)
    rows, cols, step = nibabel_voxel_sizes(path)
    assert volume.spacing == pytest.approx((cols, rows, step), abs=1e-6)
    # the slice axis is the normal of the image plane (row cosine x column cosine), as ITK's
    reference = sitk.ReadImage(str(path))
    direction = np.asarray(reference.GetDirection()).reshape(3, 3)
    lps = LPS @ volume.affine[:3, :3]
    np.testing.assert_allclose(lps[:, 2] / np.linalg.norm(lps[:, 2]), direction[:, 2], atol=1e-5)
    if between is not None:  # GDCM reads SpacingBetweenSlices; without it, it assumes 1 mm
        assert volume.spacing == pytest.approx(reference.GetSpacing(), abs=1e-6)
    else:
        assert reference.GetSpacing()[2] == 1.0


@pytest.mark.parametrize(
    ("thickness", "between", "expected", "itk_agrees"),
    [
        (3.0, 7.0, 7.0, True),  # SpacingBetweenSlices wins
        (3.0, None, 3.0, False),  # SliceThickness alone (GDCM: 1 mm)
        (None, 4.0, 4.0, True),
        (None, None, 1.0, True),  # nothing declared: 1 mm, as every reader does
        (0.0, None, 1.0, True),  # a zero thickness is no thickness
        (2.0, -3.0, 3.0, True),  # old MR files sign the spacing; its size is the step
    ],
)
def test_single_slice_step_precedence(
    tmp_path: Path,
    thickness: float | None,
    between: float | None,
    expected: float,
    itk_agrees: bool,
) -> None:
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    for keyword, value in (("SliceThickness", thickness), ("SpacingBetweenSlices", between)):
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    path = tmp_path / "one.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert read_volume(path).spacing[2] == pytest.approx(expected)
    assert (sitk.ReadImage(str(path)).GetSpacing()[2] == pytest.approx(expected)) is itk_agrees


def test_a_folder_holding_one_slice_gets_the_same_step(tmp_path: Path) -> None:
    """The series reader (a folder) and the file reader agree on a lone slice."""
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.SpacingBetweenSlices = 2.5
    (tmp_path / "series").mkdir()
    ds.save_as(tmp_path / "series" / "only.dcm", enforce_file_format=True)
    volume = read_volume(tmp_path / "series")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(tmp_path / "series" / "only.dcm")])
    assert volume.spacing == pytest.approx(reader.Execute().GetSpacing(), abs=1e-6)
    assert volume.spacing[2] == pytest.approx(2.5)


@needs_pydicom_data
def test_enhanced_file_with_one_frame_uses_its_slice_thickness(tmp_path: Path) -> None:
    """A one-frame enhanced CT (cut from eCT_Supplemental): PixelMeasures' SliceThickness."""
    ds = pydicom.dcmread(pydicom_data_file("eCT_Supplemental.dcm"))
    frame_bytes = int(ds.Rows) * int(ds.Columns) * int(ds.BitsAllocated) // 8
    ds.PixelData = ds.PixelData[:frame_bytes]
    ds.NumberOfFrames = 1
    ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:1]
    path = tmp_path / "one_frame.dcm"
    ds.save_as(path, enforce_file_format=True)
    volume = read_volume(path)
    assert volume.shape == (512, 512, 1)
    assert volume.spacing == pytest.approx((0.388672, 0.388672, 10.0), abs=1e-6)
    both = read_volume(pydicom_data_file("eCT_Supplemental.dcm"))
    # the kept frame is the slice of the two-frame volume that lies where it lies
    index = np.linalg.solve(both.affine, np.append(volume.affine[:3, 3], 1.0))
    np.testing.assert_allclose(index[:3], np.rint(index[:3]), atol=1e-6)
    np.testing.assert_array_equal(volume.array[..., 0], both.array[..., int(np.rint(index[2]))])
