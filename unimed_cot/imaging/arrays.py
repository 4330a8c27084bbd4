"""NumPy ``.npy`` / ``.npz`` volumes, whose geometry the caller states.

M3D (and many preprocessed releases) store volumes as bare float arrays, (1, D, H, W) or
(D, H, W), with no spacing and no orientation on disk. This reader never guesses them: the builder
passes what its source documents (``spacing=``, ``axcodes=``); when it passes nothing the volume
gets a 1 mm RAS grid and ``geometry_known`` is False, so that the builder can refuse questions
that need millimetres or sides (volume in ml, left/right) instead of inventing them.

Layouts: ``"zyx"`` (default: numpy/ITK/M3D order, slice-major) or ``"xyz"`` (nibabel order). The
returned ``Volume`` is always (x, y, z); ``spacing`` and ``axcodes`` describe those (x, y, z) axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from unimed_cot.records import Volume

from .checks import DEFAULT_MAX_VOXELS, check_affine, check_finite, check_grid, check_size
from .errors import ImagingError, TruncatedFileError, UnreadableFileError, UnsupportedFormatError

ARRAY_SUFFIXES = (".npy", ".npz")
# Unit direction in RAS+ of each axis code.
_DIRECTIONS = {
    "R": (1.0, 0.0, 0.0),
    "L": (-1.0, 0.0, 0.0),
    "A": (0.0, 1.0, 0.0),
    "P": (0.0, -1.0, 0.0),
    "S": (0.0, 0.0, 1.0),
    "I": (0.0, 0.0, -1.0),
}


@dataclass(frozen=True, slots=True)
class ArrayVolume:
    """A volume read from a bare array, and whether its geometry was stated by the caller."""

    volume: Volume
    geometry_known: bool


def read_array_volume(
    path: Path,
    *,
    spacing: Sequence[float] | None = None,
    axcodes: str | Sequence[str] | None = None,
    key: str | None = None,
    channel: int | None = None,
    layout: Literal["zyx", "xyz"] = "zyx",
    labels: bool = False,
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> ArrayVolume:
    """Read a ``.npy`` / ``.npz`` volume and give it the geometry the caller states.

    Args:
        path: a ``.npy`` (memory-mapped) or ``.npz`` file; pickled objects are refused.
        spacing: voxel size in mm of the returned (x, y, z) axes.
        axcodes: anatomical direction of the returned axes, e.g. ``"LPS"`` or ``("R","A","S")``.
        key: the array's name inside an ``.npz`` holding several.
        channel: index of the leading channel axis of a 4D array (a leading 1 needs none).
        layout: axis order on disk, ``"zyx"`` (default) or ``"xyz"``.
        labels: keep integer values (label maps) instead of float32 intensities.
        max_voxels: refuse larger arrays before loading them.

    Returns:
        ``ArrayVolume``; ``geometry_known`` is True only when both spacing and axcodes are given.

    Raises:
        ImagingError: unreadable file, pickled content, wrong shape, NaN/Inf, bad geometry.
    """
    array = _load(path, key=key)
    check_size(array.shape, path, limit=max_voxels, what="voxels")
    array = _three_d(array, path, channel=channel)
    if layout == "zyx":
        array = np.transpose(array, (2, 1, 0))
    check_grid(array.shape, path)
    if labels:
        data: npt.NDArray[Any] = _integer_labels(array, path)
    else:
        data = np.ascontiguousarray(array, dtype=np.float32)
        check_finite(data, path)
    affine = stated_affine(spacing=spacing, axcodes=axcodes, path=path)
    known = spacing is not None and axcodes is not None
    return ArrayVolume(volume=Volume(array=data, affine=affine), geometry_known=known)


def stated_affine(
    *,
    spacing: Sequence[float] | None,
    axcodes: str | Sequence[str] | None,
    path: Path,
) -> npt.NDArray[np.float64]:
    """The voxel -> RAS+ affine of a grid with the given spacing and axis codes, origin 0.

    Raises:
        ImagingError: spacing not three positive numbers, or axcodes not one of each R/L, A/P, S/I.
    """
    steps = (1.0, 1.0, 1.0) if spacing is None else tuple(float(s) for s in spacing)
    codes = ("R", "A", "S") if axcodes is None else tuple(str(c).upper() for c in axcodes)
    if len(steps) != 3 or not all(s > 0 and np.isfinite(s) for s in steps):
        raise ImagingError(f"{path.name}: spacing must be three positive mm values, got {steps}")
    axes = {int(np.argmax(np.abs(_DIRECTIONS[c]))) for c in codes if c in _DIRECTIONS}
    if len(codes) != 3 or axes != {0, 1, 2}:
        raise ImagingError(
            f"{path.name}: axcodes need one of each R/L, A/P, S/I, got {''.join(codes)}"
        )
    affine = np.eye(4)
    for axis, (code, step) in enumerate(zip(codes, steps, strict=True)):
        affine[:3, axis] = np.asarray(_DIRECTIONS[code]) * step
    return check_affine(affine, path)


def _load(path: Path, *, key: str | None) -> npt.NDArray[Any]:
    suffix = path.suffix.lower()
    if suffix not in ARRAY_SUFFIXES:
        raise UnsupportedFormatError(f"{path.name}: expected one of {ARRAY_SUFFIXES}")
    if not path.is_file():
        raise UnreadableFileError(f"{path}: file not found")
    try:
        if suffix == ".npy":
            # Memory-mapped: only the header is read until the transpose/cast touches the data.
            return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if key is None and len(names) != 1:
                raise ImagingError(f"{path.name}: {len(names)} arrays {names}; pass key=")
            chosen = key if key is not None else names[0]
            if chosen not in names:
                raise ImagingError(f"{path.name}: no array {chosen!r} (has {names})")
            return np.asarray(archive[chosen])
    except ImagingError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower() or "Python objects" in str(error):
            raise UnsupportedFormatError(
                f"{path.name}: pickled object arrays are refused"
            ) from error
        raise TruncatedFileError(f"{path.name}: truncated or corrupt array ({error})") from error
    except (OSError, EOFError) as error:
        raise TruncatedFileError(f"{path.name}: truncated or corrupt array ({error})") from error


def _three_d(array: npt.NDArray[Any], path: Path, *, channel: int | None) -> npt.NDArray[Any]:
    if array.ndim == 3:
        if channel not in (None, 0):
            raise ImagingError(f"{path.name}: 3D array has no channel {channel}")
        return array
    if array.ndim != 4:
        raise UnsupportedFormatError(f"{path.name}: expected a 3D or 4D array, got {array.shape}")
    channels = array.shape[0]
    if channel is None and channels != 1:
        raise ImagingError(f"{path.name}: {channels} channels in {array.shape}; pass channel=")
    index = channel or 0
    if not 0 <= index < channels:
        raise ImagingError(f"{path.name}: channel {index} out of range ({channels} channels)")
    return array[index]


def _integer_labels(array: npt.NDArray[Any], path: Path) -> npt.NDArray[Any]:
    if array.dtype == np.bool_:
        return np.ascontiguousarray(array, dtype=np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        raise ImagingError(f"{path.name}: a label array is integer, got {array.dtype}")
    if array.dtype in (np.uint8, np.int8, np.int16, np.uint16, np.int32):
        return np.ascontiguousarray(array)
    info = np.iinfo(np.int32)
    if array.size and (int(array.min()) < info.min or int(array.max()) > info.max):
        raise ImagingError(f"{path.name}: label values out of the int32 range")
    return np.ascontiguousarray(array, dtype=np.int32)
