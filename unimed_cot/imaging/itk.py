"""NRRD / MHA / MHD volumes through SimpleITK, returned in the nibabel RAS+ convention.

ITK keeps physical space in LPS and hands arrays over as (z, y, x). A ``records.Volume`` is
(x, y, z) voxels with a voxel -> RAS+ affine, so the reader transposes the array and negates the
first two rows of the ITK matrix (``direction * spacing`` with ``origin`` as translation). The
result is the affine nibabel would give the same volume saved as NIfTI by ITK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .checks import DEFAULT_MAX_VOXELS, LPS_TO_RAS, check_affine, check_grid, check_size
from .errors import ImagingError, TruncatedFileError, UnreadableFileError, UnsupportedFormatError

ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")


def is_itk_path(path: Path) -> bool:
    """Whether ``path`` names a file format this module reads."""
    return path.suffix.lower() in ITK_SUFFIXES


def itk_affine(image: Any) -> npt.NDArray[np.float64]:
    """The voxel (x, y, z) -> RAS+ mm affine of a 3D SimpleITK image (LPS origin/direction)."""
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing  # column j scaled by the spacing along axis j
    lps[:3, 3] = np.asarray(image.GetOrigin(), dtype=np.float64)
    return LPS_TO_RAS @ lps


def read_itk_array(
    path: Path, *, channel: int | None = None, max_voxels: int = DEFAULT_MAX_VOXELS
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Read a 3D (or 4D / multi-component, one channel chosen) ITK image as stored.

    Args:
        path: a ``.nrrd``, ``.nhdr``, ``.mha`` or ``.mhd`` file.
        channel: component (vector pixels) or 4th-axis index; required when there are several.
        max_voxels: refuse larger grids before decoding (decompression bombs).

    Returns:
        The (x, y, z) array in its stored dtype and the voxel -> RAS+ affine.

    Raises:
        ImagingError: missing or unreadable file, wrong dimension or channel, bad geometry.
    """
    import SimpleITK as sitk  # noqa: N813 - the name every ITK example uses

    if not path.is_file():
        raise UnreadableFileError(f"{path}: file not found")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise UnreadableFileError(
            f"{path.name}: not a readable ITK image ({_first_line(error)})"
        ) from error
    size = tuple(int(n) for n in reader.GetSize())
    components = int(reader.GetNumberOfComponents())
    check_size((*size, components), path, limit=max_voxels, what="voxels")
    if len(size) not in (3, 4):
        raise UnsupportedFormatError(f"{path.name}: expected a 3D or 4D image, got size {size}")
    channels = components * (size[3] if len(size) == 4 else 1)
    if channels > 1 and channel is None:
        raise ImagingError(
            f"{path.name}: {channels} channels; pass channel= (0..{channels - 1}) to pick one"
        )
    if channel is not None and not 0 <= channel < channels:
        raise ImagingError(f"{path.name}: channel {channel} out of range ({channels} channels)")
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise TruncatedFileError(
            f"{path.name}: pixel data unreadable ({_first_line(error)})"
        ) from error
    if len(size) == 4:
        # Keep the spatial part: ITK's 4D direction is 4x4, the first three axes are space.
        image = sitk.Extract(image, [*size[:3], 0], [0, 0, 0, channel or 0])
    array = sitk.GetArrayFromImage(image)  # (z, y, x[, c]), a copy owned by numpy
    if components > 1:
        array = np.ascontiguousarray(array[..., channel or 0])
    # The (x, y, z) view of a C-ordered (z, y, x) array is Fortran-ordered, as nibabel's arrays
    # are: no second copy of the volume.
    data = np.transpose(array, (2, 1, 0))
    check_grid(data.shape, path)
    return data, check_affine(itk_affine(image), path)


def write_itk(array: npt.NDArray[Any], affine: npt.NDArray[np.float64], path: Path) -> None:
    """Write an (x, y, z) array with a voxel -> RAS+ affine as NRRD/MHA (LPS on disk).

    Raises:
        ImagingError: the suffix is not an ITK format or the affine has no ITK direction.
    """
    import SimpleITK as sitk  # noqa: N813 - the name every ITK example uses

    if not is_itk_path(path):
        raise UnsupportedFormatError(f"{path.name}: expected one of {ITK_SUFFIXES}")
    lps = LPS_TO_RAS @ check_affine(affine, path)
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(array, (2, 1, 0))))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in lps[:3, 3]])
    image.SetDirection([float(v) for v in (lps[:3, :3] / spacing).ravel()])
    sitk.WriteImage(image, str(path), useCompression=True)


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
