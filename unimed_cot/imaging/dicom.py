"""DICOM volumes: a series from a folder, or one enhanced multi-frame file (pydicom).

The algorithm follows the reference tools (sources/3d-sources.md section 13, highdicom's
``get_series_volume_positions``, dicom2nifti's ``create_affine``):

1. read headers only (``stop_before_pixels``), group by SeriesInstanceUID, drop localizers;
2. sort by ImagePositionPatient projected on the slice normal (row cosine x column cosine) -
   never by InstanceNumber or SliceLocation;
3. refuse what is not one regular grid, each with its own typed error: mixed sizes/orientations,
   duplicate positions, gantry tilt (stacking direction not the normal), missing slices (a step
   over 1.5x the median) and uneven steps. Nothing is resampled: a builder that wants such series
   must correct them itself and record it; a wrong silent guess would move every box;
4. decode pixels (compressed transfer syntaxes via the pydicom plugins of ``[dicom-codecs]``) and
   apply the Modality LUT / RescaleSlope+Intercept per slice in float32 (no int16/uint16 overflow);
5. affine: column index along the row cosine x PixelSpacing[1], row index along the column cosine x
   PixelSpacing[0], slice index along the normal x mean step, origin the first slice's IPP; LPS is
   turned to RAS+ by negating the first two rows. A single slice has no step: its slice axis gets
   SpacingBetweenSlices, else SliceThickness, else 1 mm (nibabel's ``dicomwrappers`` order; GDCM,
   hence SimpleITK, reads SpacingBetweenSlices too but falls back to 1 mm without it).

Arrays come back (x, y, z) = (column, row, slice) like nibabel's; ``normalize`` reorients.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .checks import DEFAULT_MAX_VOXELS, LPS_TO_RAS, check_affine, check_size, name_of
from .dicom_pixels import decode_frames, modality_rescale, read_header
from .errors import (
    BadAffineError,
    DuplicateSliceError,
    GantryTiltError,
    ImagingError,
    MissingSlicesError,
    MixedGeometryError,
    MixedSeriesError,
    UnevenSpacingError,
    UnreadableFileError,
    UnsupportedFormatError,
)

# Positions closer than this along the normal are the same slice (mm).
DUPLICATE_TOLERANCE_MM = 1e-3
# |stacking direction . normal| below 1 - this is a tilted (sheared) grid, as in highdicom.
TILT_TOLERANCE = 1e-3
# A step above this multiple of the median step means slices are missing.
GAP_FACTOR = 1.5
# Steps may differ from the median by this fraction (or by UNEVEN_ABS_MM, whichever is larger).
UNEVEN_REL_TOLERANCE = 0.01
UNEVEN_ABS_MM = 0.01


@dataclass(frozen=True, slots=True)
class SliceGeometry:
    """Where one 2D frame lies in patient (LPS) space."""

    position: npt.NDArray[np.float64]  # ImagePositionPatient, mm
    orientation: npt.NDArray[np.float64]  # ImageOrientationPatient: row cosine, column cosine
    pixel_spacing: tuple[float, float]  # (row spacing, column spacing), mm
    size: tuple[int, int]  # (rows, columns)
    # SpacingBetweenSlices, else SliceThickness (mm), when positive: the extent of a lone slice
    nominal_step: float | None = None


@dataclass(frozen=True, slots=True)
class StackedGrid:
    """The sorted order of a set of frames and the voxel (x, y, z) -> RAS+ affine of the stack."""

    order: list[int]
    affine: npt.NDArray[np.float64]


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` starts like a DICOM Part 10 file (the 'DICM' magic after the preamble)."""
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom_series(
    folder: Path,
    *,
    series_uid: str | None = None,
    rescale: bool = True,
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Read one DICOM series from a folder (searched recursively) as a sorted 3D grid.

    Args:
        folder: a folder of DICOM files; other files (DICOMDIR, notes) are skipped.
        series_uid: the SeriesInstanceUID to read when the folder holds several.
        rescale: apply the Modality LUT (HU for CT) and return float32; ``False`` keeps the
            stored integers (label maps stored as DICOM).
        max_voxels: refuse larger series before decoding.

    Returns:
        The (x, y, z) array and its voxel -> RAS+ affine.

    Raises:
        MixedSeriesError: several series and no ``series_uid``.
        ImagingError: any of the typed geometry errors above, or unreadable files.
    """
    if not folder.is_dir():
        raise UnreadableFileError(f"{folder}: folder not found")
    headers = _series_headers(folder, series_uid=series_uid)
    geometries = [_slice_geometry(ds, path) for path, ds in headers]
    rows, cols = geometries[0].size
    check_size((cols, rows, len(headers)), folder, limit=max_voxels, what="voxels")
    grid = stack_geometry(geometries, folder)
    # Filled slice by slice as (z, y, x), contiguous writes; returned as the (x, y, z) view, which
    # is the Fortran-ordered layout nibabel gives a NIfTI volume (no copy, no strided writes).
    stack = np.empty((len(headers), rows, cols), dtype=np.float32 if rescale else np.int32)
    for z, index in enumerate(grid.order):
        path, _ = headers[index]
        ds = read_header(path, pixels=True)
        frame = decode_frames(ds, path)
        if frame.shape != (rows, cols):
            raise UnsupportedFormatError(f"{path.name}: a series slice must be one 2D frame")
        stack[z] = modality_rescale(frame, ds) if rescale else frame
    return np.transpose(stack, (2, 1, 0)), grid.affine


def read_dicom_multiframe(
    path: Path, *, rescale: bool = True, max_voxels: int = DEFAULT_MAX_VOXELS
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Read an enhanced multi-frame DICOM file (per-frame functional groups) as a 3D grid.

    Frames are placed by their PlanePositionSequence, exactly as series slices; per-frame
    PixelValueTransformationSequence rescales are applied.

    Raises:
        UnsupportedFormatError: a multi-frame file without per-frame positions.
        ImagingError: the same geometry errors as a series.
    """
    ds = read_header(path, pixels=False)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    check_size((cols, rows, frames), path, limit=max_voxels, what="voxels")
    per_frame = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    if per_frame is None or len(per_frame) != frames:
        raise UnsupportedFormatError(f"{path.name}: multi-frame file without per-frame positions")
    shared = _first(getattr(ds, "SharedFunctionalGroupsSequence", None))
    groups = [(_merged(shared, item)) for item in per_frame]
    geometries = [_frame_geometry(group, (rows, cols), path) for group in groups]
    grid = stack_geometry(geometries, path)
    pixels = decode_frames(read_header(path, pixels=True), path)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    stack = np.empty((frames, rows, cols), dtype=np.float32 if rescale else np.int32)
    for z, index in enumerate(grid.order):
        frame = pixels[index]
        if rescale:
            slope, intercept = _frame_rescale(groups[index], ds)
            stack[z] = frame.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        else:
            stack[z] = frame
    return np.transpose(stack, (2, 1, 0)), grid.affine


def stack_geometry(geometries: list[SliceGeometry], source: Path) -> StackedGrid:
    """Sort frames along their normal, check they form one regular grid, and build its affine.

    Raises:
        MixedGeometryError, DuplicateSliceError, GantryTiltError, MissingSlicesError,
        UnevenSpacingError: as named.
    """
    name = name_of(source)
    first = geometries[0]
    for geometry in geometries[1:]:
        if geometry.size != first.size:
            raise MixedGeometryError(f"{name}: slices of sizes {first.size} and {geometry.size}")
        if not np.allclose(geometry.orientation, first.orientation, atol=1e-4):
            raise MixedGeometryError(f"{name}: slices with different orientations")
        if not np.allclose(geometry.pixel_spacing, first.pixel_spacing, atol=1e-4):
            raise MixedGeometryError(f"{name}: slices with different pixel spacings")
    row_cosine, col_cosine = first.orientation[:3], first.orientation[3:]
    normal = np.cross(row_cosine, col_cosine)
    positions = np.stack([g.position for g in geometries])
    distances = positions @ normal
    order = [int(i) for i in np.argsort(distances, kind="stable")]
    if len(geometries) == 1:
        step = first.nominal_step or 1.0  # one slice: no positions to measure a step from
    else:
        step = _checked_step(positions[order], distances[order], normal, name)
    lps = np.eye(4)
    lps[:3, 0] = row_cosine * first.pixel_spacing[1]
    lps[:3, 1] = col_cosine * first.pixel_spacing[0]
    lps[:3, 2] = normal * step
    lps[:3, 3] = positions[order[0]]
    return StackedGrid(order=order, affine=check_affine(LPS_TO_RAS @ lps, source))


def _checked_step(
    positions: npt.NDArray[np.float64],
    distances: npt.NDArray[np.float64],
    normal: npt.NDArray[np.float64],
    name: str,
) -> float:
    steps = np.diff(distances)
    duplicates = int((steps < DUPLICATE_TOLERANCE_MM).sum())
    if duplicates:
        raise DuplicateSliceError(f"{name}: {duplicates} slices share a position")
    span = positions[-1] - positions[0]
    cosine = abs(float(span @ normal)) / float(np.linalg.norm(span))
    if cosine < 1.0 - TILT_TOLERANCE:
        degrees = float(np.degrees(np.arccos(min(cosine, 1.0))))
        raise GantryTiltError(f"{name}: slices stacked {degrees:.2f} deg off their normal")
    median = float(np.median(steps))
    gaps = steps > GAP_FACTOR * median
    if gaps.any():
        missing = int(np.rint(steps[gaps] / median).sum() - gaps.sum())
        raise MissingSlicesError(
            f"{name}: about {missing} slices missing ({int(gaps.sum())} gaps, median step "
            f"{median:.3g} mm, largest {float(steps.max()):.3g} mm)"
        )
    deviation = float(np.abs(steps - median).max())
    if deviation > max(UNEVEN_REL_TOLERANCE * median, UNEVEN_ABS_MM):
        raise UnevenSpacingError(
            f"{name}: slice steps vary by {deviation:.3g} mm around {median:.3g} mm"
        )
    # The mean step over the whole span, as ITK and highdicom do (robust to rounding per slice).
    return float((distances[-1] - distances[0]) / (len(distances) - 1))


def _series_headers(folder: Path, *, series_uid: str | None) -> list[tuple[Path, Any]]:
    groups: dict[str, list[tuple[Path, Any]]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if not is_dicom_file(path):
            continue
        ds = read_header(path, pixels=False)
        if "ImageType" in ds and "LOCALIZER" in [str(v).upper() for v in ds.ImageType]:
            continue
        if "Rows" not in ds or "ImagePositionPatient" not in ds:
            continue  # DICOMDIR, structured reports, presentation states: no image plane
        groups.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((path, ds))
    if not groups:
        raise UnreadableFileError(f"{folder}: no DICOM image slices in this folder")
    if series_uid is not None:
        if series_uid not in groups:
            raise ImagingError(f"{folder.name}: no series {series_uid} (has {sorted(groups)})")
        return groups[series_uid]
    if len(groups) > 1:
        counts = {uid: len(files) for uid, files in groups.items()}
        listed = ", ".join(f"{uid} ({n} files)" for uid, n in Counter(counts).most_common())
        raise MixedSeriesError(
            f"{folder.name}: {len(groups)} series, pass series_uid= to pick one: {listed}",
            counts=counts,
        )
    return next(iter(groups.values()))


def _slice_geometry(ds: Any, path: Path) -> SliceGeometry:
    try:
        return SliceGeometry(
            position=np.asarray([float(v) for v in ds.ImagePositionPatient], dtype=np.float64),
            orientation=_unit_orientation(ds.ImageOrientationPatient, path),
            pixel_spacing=_pair(ds.PixelSpacing),
            size=(int(ds.Rows), int(ds.Columns)),
            nominal_step=_nominal_step(ds),
        )
    except ImagingError:
        raise
    except (AttributeError, TypeError, ValueError) as error:  # a tag absent, empty or not numbers
        raise UnreadableFileError(f"{path.name}: incomplete image plane tags ({error})") from error


def _frame_geometry(group: dict[str, Any], size: tuple[int, int], path: Path) -> SliceGeometry:
    wanted = {
        "PlanePositionSequence": "ImagePositionPatient",
        "PlaneOrientationSequence": "ImageOrientationPatient",
        "PixelMeasuresSequence": "PixelSpacing",
    }
    items = {sequence: _first(group.get(sequence)) for sequence in wanted}
    absent = [
        f"{seq}/{tag}" for seq, tag in wanted.items() if items[seq] is None or tag not in items[seq]
    ]
    if absent:
        raise UnsupportedFormatError(f"{path.name}: frame without plane tags ({', '.join(absent)})")
    position = items["PlanePositionSequence"].ImagePositionPatient
    orientation = items["PlaneOrientationSequence"].ImageOrientationPatient
    measures = items["PixelMeasuresSequence"]
    try:
        return SliceGeometry(
            position=np.asarray([float(v) for v in position], dtype=np.float64),
            orientation=_unit_orientation(orientation, path),
            pixel_spacing=_pair(measures.PixelSpacing),
            size=size,
            nominal_step=_nominal_step(measures),
        )
    except (TypeError, ValueError) as error:  # present but not numbers, or the wrong count
        raise UnreadableFileError(f"{path.name}: malformed plane tags ({error})") from error


def _nominal_step(item: Any) -> float | None:
    """SpacingBetweenSlices (its size: old MR files sign it), else SliceThickness, if positive."""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = abs(float(item.get(keyword) or 0.0))
        except (TypeError, ValueError):
            continue  # a malformed optional tag only costs the hint
        if value > 0 and np.isfinite(value):
            return value
    return None


def _frame_rescale(group: dict[str, Any], ds: Any) -> tuple[float, float]:
    item = _first(group.get("PixelValueTransformationSequence"))
    source = item if item is not None else ds
    slope = float(getattr(source, "RescaleSlope", 1.0) or 1.0)
    return slope, float(getattr(source, "RescaleIntercept", 0.0) or 0.0)


def _merged(shared: Any, item: Any) -> dict[str, Any]:
    """Functional groups of one frame: the per-frame ones win over the shared ones."""
    groups: dict[str, Any] = {}
    for source in (shared, item):
        if source is None:
            continue
        for element in source:
            if element.VR == "SQ" and len(element.value):
                groups[element.keyword] = element.value
    return groups


def _unit_orientation(values: Any, path: Path) -> npt.NDArray[np.float64]:
    orientation = np.asarray([float(v) for v in values], dtype=np.float64)
    if orientation.shape != (6,):
        raise UnreadableFileError(f"{path.name}: ImageOrientationPatient needs 6 values")
    row, col = orientation[:3], orientation[3:]
    norms = np.array([np.linalg.norm(row), np.linalg.norm(col)])
    if (np.abs(norms - 1.0) > 1e-2).any() or abs(float(row @ col)) > 1e-2:
        raise BadAffineError(f"{path.name}: ImageOrientationPatient cosines are not orthonormal")
    return np.concatenate([row / norms[0], col / norms[1]])


def _pair(values: Any) -> tuple[float, float]:
    first, second = (float(v) for v in values)
    return (first, second)


def _first(sequence: Any) -> Any:
    return sequence[0] if sequence is not None and len(sequence) else None


def read_dicom_file_volume(
    path: Path, *, rescale: bool = True, max_voxels: int = DEFAULT_MAX_VOXELS
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Read one DICOM file as a volume: enhanced multi-frame, or a single slice (x, y, 1).

    Raises:
        ImagingError: as ``read_dicom_multiframe`` and ``read_dicom_series``.
    """
    ds = read_header(path, pixels=False)
    if "PerFrameFunctionalGroupsSequence" in ds:
        return read_dicom_multiframe(path, rescale=rescale, max_voxels=max_voxels)
    if int(str(ds.get("NumberOfFrames", 1) or 1)) != 1:
        raise UnsupportedFormatError(f"{path.name}: multi-frame file without per-frame positions")
    if "Rows" not in ds or "ImagePositionPatient" not in ds:
        raise UnsupportedFormatError(f"{path.name}: no image plane (read 2D images as images)")
    grid = stack_geometry([_slice_geometry(ds, path)], path)
    frame = decode_frames(read_header(path, pixels=True), path)
    values = modality_rescale(frame, ds) if rescale else frame.astype(np.int32)
    return np.ascontiguousarray(values.T[:, :, np.newaxis]), grid.affine
