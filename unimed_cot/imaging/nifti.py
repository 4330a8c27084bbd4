"""NIfTI volumes through nibabel: header checks first, then the (scaled) data.

The affine is nibabel's resolved one (sform if its code is set, else qform, else the fall-back),
voxel -> RAS+ mm. A gzip stream that ends early or fails its CRC surfaces only when the data is
read; it becomes ``TruncatedFileError`` here rather than an ``EOFError`` deep in a worker.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .checks import check_affine, check_grid, check_size
from .errors import ImagingError, TruncatedFileError, UnreadableFileError, UnsupportedFormatError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
# What a gzip stream cut short or corrupted raises inside nibabel's reads.
_DATA_ERRORS = (EOFError, OSError, ValueError, zlib.error)


def read_nifti(
    path: Path, *, channel: int | None, labels: bool, max_voxels: int
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    image = _load_nifti(path)
    check_size(tuple(image.shape), path, limit=max_voxels, what="voxels")
    shape = _effective_shape(image.shape, path)
    check_grid(shape[:3], path)
    affine = check_affine(image.affine, path)
    proxy = image.dataobj
    try:
        if labels:
            if len(shape) != 3:
                raise ImagingError(
                    f"{path.name}: a label map must be 3D, got shape {tuple(image.shape)}"
                )
            # ``asanyarray(dataobj)`` keeps the stored dtype when slope is 1 and inter 0.
            return np.asanyarray(proxy).reshape(shape), affine
        if len(shape) == 4:
            if channel is None:
                raise ImagingError(
                    f"{path.name}: 4D volume of shape {tuple(image.shape)}; pass channel= "
                    f"(0..{shape[3] - 1}) to pick one"
                )
            if not 0 <= channel < shape[3]:
                raise ImagingError(
                    f"{path.name}: channel {channel} out of range, the file has {shape[3]} channels"
                )
            # Slicing the proxy reads (and scales) only the requested channel.
            data = np.asarray(proxy[..., channel], dtype=np.float32).reshape(shape[:3])
        elif channel not in (None, 0):
            raise ImagingError(f"{path.name}: 3D volume has no channel {channel}")
        else:
            data = np.asarray(image.get_fdata(dtype=np.float32), dtype=np.float32)
            data = data.reshape(shape)
    except ImagingError:
        raise
    except _DATA_ERRORS as error:
        raise TruncatedFileError(f"{path.name}: truncated or corrupt data ({error})") from error
    return data, affine


def _load_nifti(path: Path) -> Any:
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    if not path.name.endswith(NIFTI_SUFFIXES):
        raise ImagingError(f"{path.name}: expected a .nii or .nii.gz file")
    if not path.is_file():
        raise UnreadableFileError(f"{path}: file not found")
    try:
        image = nib.load(str(path))
    except (ImageFileError, OSError, EOFError, ValueError) as error:
        raise UnreadableFileError(f"{path.name}: not a readable NIfTI file ({error})") from error
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise ImagingError(f"{path.name}: not a NIfTI image ({type(image).__name__})")
    return image


def _effective_shape(shape: tuple[int, ...], path: Path) -> tuple[int, ...]:
    """Drop trailing singleton axes beyond the third ((x, y, z, 1) is a 3D volume)."""
    dims = list(shape)
    while len(dims) > 3 and dims[-1] == 1:
        dims.pop()
    if len(dims) == 2:
        dims.append(1)  # a single slice stored as 2D NIfTI
    if len(dims) not in (3, 4):
        raise UnsupportedFormatError(
            f"{path.name}: unsupported NIfTI shape {tuple(shape)}: expected 3D or 4D"
        )
    return tuple(dims)
