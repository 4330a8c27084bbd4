"""Checks every reader runs on what it decoded, each raising one typed ``ImagingError``.

Kept apart from the readers so that NIfTI, ITK, DICOM and NumPy inputs are held to one standard:
finite voxels, a real 3D grid, an invertible orthogonal affine, a bounded size, declared labels.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import (
    BadAffineError,
    DegenerateShapeError,
    ImageTooLargeError,
    LabelOutOfSetError,
    NonFiniteVoxelsError,
)

# 2**30 voxels is 4 GiB of float32: far above any CT (512x512x2000 = 2**29) and far below a bomb.
DEFAULT_MAX_VOXELS = 1 << 30
# 2D: 2**28 pixels (16384 x 16384) covers mammography and whole-slide thumbnails.
DEFAULT_MAX_PIXELS = 1 << 28
# Columns of a voxel-to-world matrix whose cosines differ by more than this are a shear.
ORTHOGONALITY_TOLERANCE = 1e-3

# ITK/DICOM physical space is LPS; records.Volume affines are nibabel's RAS+: negate x and y.
LPS_TO_RAS: npt.NDArray[np.float64] = np.diag([-1.0, -1.0, 1.0, 1.0])


def name_of(path: Path | str) -> str:
    """The name a message shows for a file or a folder."""
    return Path(path).name or str(path)


def check_size(shape: tuple[int, ...], path: Path | str, *, limit: int, what: str) -> None:
    """Refuse a grid larger than ``limit`` elements before anything is decoded.

    Raises:
        ImageTooLargeError: the product of ``shape`` exceeds ``limit``.
    """
    count = int(np.prod([int(n) for n in shape], dtype=np.float64))
    if count > limit:
        raise ImageTooLargeError(
            f"{name_of(path)}: {count} {what} exceed the limit of {limit} "
            f"(shape {tuple(int(n) for n in shape)}); raise max_{what}= if this is real"
        )


def check_grid(shape: tuple[int, ...], path: Path | str) -> None:
    """Refuse a zero-size axis and a 'volume' with fewer than two axes longer than one voxel.

    A single slice (H, W, 1) is a valid volume: 2D NIfTI and one-file DICOM produce it.

    Raises:
        DegenerateShapeError: an empty axis, or a line / point instead of an image.
    """
    if any(int(n) == 0 for n in shape):
        raise DegenerateShapeError(f"{name_of(path)}: empty axis in shape {tuple(shape)}")
    if sum(int(n) > 1 for n in shape) < 2:
        raise DegenerateShapeError(
            f"{name_of(path)}: shape {tuple(shape)} is a line or a point, not an image"
        )


def check_finite(array: npt.NDArray[Any], path: Path | str) -> None:
    """Refuse NaN / Inf intensities (they poison percentiles and windows silently).

    Raises:
        NonFiniteVoxelsError: with the count of bad voxels.
    """
    if not np.issubdtype(array.dtype, np.floating) or not array.size:
        return
    # min/max propagate NaN and expose Inf without allocating a mask the size of the volume.
    if np.isfinite(array.min()) and np.isfinite(array.max()):
        return
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise NonFiniteVoxelsError(f"{name_of(path)}: {bad} NaN/Inf voxels of {array.size}")


def check_affine(affine: npt.NDArray[Any] | None, path: Path | str) -> npt.NDArray[np.float64]:
    """Return ``affine`` as float64 after checking it is finite, invertible and orthogonal.

    Raises:
        BadAffineError: missing, non-finite, singular, or with sheared (non-orthogonal) axes.
    """
    if affine is None:
        raise BadAffineError(f"{name_of(path)}: no affine")
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise BadAffineError(f"{name_of(path)}: affine is not a finite 4x4 matrix")
    linear = matrix[:3, :3]
    norms = np.linalg.norm(linear, axis=0)
    if (norms < 1e-6).any() or abs(np.linalg.det(linear)) < 1e-12:
        raise BadAffineError(f"{name_of(path)}: degenerate affine (zero spacing or singular)")
    cosines = linear / norms
    off_diagonal = np.abs(cosines.T @ cosines - np.eye(3))
    if off_diagonal.max() > ORTHOGONALITY_TOLERANCE:
        raise BadAffineError(
            f"{name_of(path)}: non-orthogonal (sheared) affine, axis cosines differ by "
            f"{off_diagonal.max():.3g}"
        )
    return matrix


def check_label_set(labels: npt.NDArray[Any], allowed: Collection[int], path: Path | str) -> None:
    """Refuse label values outside ``allowed`` (background 0 is always allowed).

    Raises:
        LabelOutOfSetError: naming up to five unexpected values.
    """
    present = {int(v) for v in np.unique(labels)}
    unexpected = sorted(present - {0, *(int(v) for v in allowed)})
    if unexpected:
        shown = ", ".join(str(v) for v in unexpected[:5])
        raise LabelOutOfSetError(
            f"{name_of(path)}: label values {shown} are outside the declared set "
            f"{sorted(int(v) for v in allowed)}"
        )
