"""Read and write pixels: volumes (NIfTI, NRRD/MHA/MHD, DICOM) and 2D images (PNG..., DICOM).

Every reader returns a ``records`` type (``Volume`` or ``Image2D``) and raises a typed
``ImagingError`` with one readable line for a file that is missing, corrupt or of an unsupported
kind, so that a builder can hand the failure to the pipeline as a rejection.

Conventions:

* ``read_volume`` dispatches on what the path is: ``.nii``/``.nii.gz`` (nibabel), ``.nrrd``/
  ``.nhdr``/``.mha``/``.mhd`` (SimpleITK, ``itk``), a folder (a DICOM series, ``dicom``), a
  ``.dcm`` file (enhanced multi-frame or one slice). NumPy arrays carry no geometry and go through
  ``arrays.read_array_volume``, where the caller states it.
* Volumes keep their voxel order (x, y, z) and an affine voxel -> RAS+ mm (nibabel's convention;
  ITK/DICOM LPS is converted). For NIfTI: sform if its code is set, else qform. Reorientation
  happens in ``normalize``.
* Intensity volumes are float32 with the scaling applied (NIfTI ``scl_*``, DICOM Modality LUT; HU
  for CT). Label volumes are integer arrays of the stored values, never interpolated or scaled.
* Every volume passes the ``checks``: finite values, a real grid, an orthogonal invertible affine,
  at most ``max_voxels`` voxels (checked from the header, before decoding).
* 2D intensities keep their bit depth (uint8, uint16, ...): windowing is ``serialize``'s job.
  RGB comes back in RGB order as uint8; a colour file whose three channels are identical (a
  radiograph saved as RGB) comes back as one gray channel. 2D DICOM is the exception: it comes
  back display-ready (VOI LUT / window, MONOCHROME1 inverted) as uint8 (``dicom2d``).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from unimed_cot.records import Image2D, Volume

from .checks import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_VOXELS,
    check_finite,
    check_grid,
    check_label_set,
    check_size,
)
from .errors import (
    BitDepthMismatchError,
    ImagingError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from .nifti import NIFTI_SUFFIXES, read_nifti

IMAGE_2D_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DICOM_SUFFIXES = (".dcm", ".dicom")
# Intensity dtypes a gray 2D image may keep; anything else is converted or refused.
_GRAY_DTYPES = (np.uint8, np.uint16, np.int16, np.float32)


def read_volume(
    path: Path,
    *,
    channel: int | None = None,
    series_uid: str | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> Volume:
    """Read a volume's intensities with its voxel -> RAS+ affine.

    Args:
        path: a NIfTI / NRRD / MHA / MHD file, a DICOM file, or a folder holding a DICOM series.
        channel: index of the channel (4th axis or vector component) for multi-channel files
            (modalities of BraTS/MSD, time points). Required there, refused for 3D files.
        series_uid: the SeriesInstanceUID to read from a folder holding several series.
        max_voxels: refuse larger volumes before decoding them (decompression bombs).

    Returns:
        A ``Volume`` in voxel order with its affine. The array holds float32 values with the
        file's scaling applied, or the stored integers where the file stores integers and
        applies no scaling (exact values, half the memory of float32 for int16 CT).

    Raises:
        ImagingError: a typed subclass naming the file and the reason (see ``errors``).
    """
    array, affine = _read_any(
        path, channel=channel, series_uid=series_uid, labels=False, max_voxels=max_voxels
    )
    if not np.issubdtype(array.dtype, np.integer):
        array = np.asarray(array, dtype=np.float32)
    check_finite(array, path)
    return Volume(array=array, affine=affine)


def read_label_volume(
    path: Path,
    *,
    labels: Collection[int] | None = None,
    series_uid: str | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> Volume:
    """Read a label map as an integer array (values as stored, no float scaling).

    A label map stored as float (common in the wild) is accepted when every value is an integer.
    Accepts the same paths as ``read_volume`` (DICOM without the Modality LUT).

    Args:
        path: the label file or DICOM folder.
        labels: the label values the source declares; any other non-zero value is refused.
        series_uid: the series to read from a folder holding several.
        max_voxels: refuse larger volumes before decoding them.

    Raises:
        ImagingError: unreadable file, not 3D, non-integer values, or labels outside ``labels``.
    """
    array, affine = _read_any(
        path, channel=None, series_uid=series_uid, labels=True, max_voxels=max_voxels
    )
    values = _as_integer_labels(array, path)
    if labels is not None:
        check_label_set(values, labels, path)
    return Volume(array=values, affine=affine)


def _read_any(
    path: Path, *, channel: int | None, series_uid: str | None, labels: bool, max_voxels: int
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    from . import dicom, itk

    is_dicom = path.is_dir() or path.suffix.lower() in DICOM_SUFFIXES
    if is_dicom and channel not in (None, 0):
        raise ImagingError(f"{path.name}: a DICOM volume has one channel, not {channel}")
    if path.is_dir():
        return dicom.read_dicom_series(
            path, series_uid=series_uid, rescale=not labels, max_voxels=max_voxels
        )
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        return read_nifti(path, channel=channel, labels=labels, max_voxels=max_voxels)
    if itk.is_itk_path(path):
        return itk.read_itk_array(path, channel=channel, max_voxels=max_voxels)
    if path.suffix.lower() in DICOM_SUFFIXES or dicom.is_dicom_file(path):
        return dicom.read_dicom_file_volume(path, rescale=not labels, max_voxels=max_voxels)
    if path.suffix.lower() in (".npy", ".npz"):
        raise UnsupportedFormatError(
            f"{path.name}: a bare array has no geometry; use read_array_volume(spacing=, axcodes=)"
        )
    if not path.exists():
        raise UnreadableFileError(f"{path}: file not found")
    raise UnsupportedFormatError(
        f"{path.name}: not a volume format (NIfTI, NRRD, MHA/MHD, DICOM file or series folder)"
    )


def write_nifti(volume: Volume, path: Path) -> None:
    """Write a volume as NIfTI-1 with its affine stored in both sform and qform (code scanner).

    Booleans are stored as uint8 and 64-bit integers as int32 (NIfTI readers rarely accept int64).

    Raises:
        ImagingError: bad suffix or values that do not fit the stored type.
    """
    import nibabel as nib

    if not path.name.endswith(NIFTI_SUFFIXES):
        raise ImagingError(f"{path.name}: a NIfTI file name ends with .nii or .nii.gz")
    array = np.asarray(volume.array)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    elif array.dtype in (np.int64, np.uint64):
        info = np.iinfo(np.int32)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ImagingError(f"{path.name}: integer values do not fit int32")
        array = array.astype(np.int32)
    affine = np.asarray(volume.affine, dtype=np.float64)
    image = nib.Nifti1Image(array, affine, dtype=array.dtype)
    image.set_sform(affine, code="scanner")
    image.set_qform(affine, code="scanner")
    nib.save(image, str(path))


def read_image_2d(
    path: Path, *, bits: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image2D:
    """Read a PNG/JPEG/BMP/TIFF image, 8- or 16-bit, gray or colour, or a 2D DICOM image.

    Args:
        path: the image file; ``.dcm`` goes through ``dicom2d`` (display-ready uint8).
        bits: the bit depth the source declares (e.g. 8); values beyond it are refused, and a
            16-bit container holding 8-bit values comes back as uint8.
        max_pixels: refuse larger images from their header, before decoding (bombs).

    Returns:
        ``Image2D`` with an (H, W) array in the file's bit depth, or an (H, W, 3) uint8 RGB array.
        Alpha is dropped; 16-bit colour is reduced to 8 bits. Pixel spacing is unknown (None)
        except for DICOM.

    Raises:
        ImagingError: missing file, unsupported suffix, undecodable content, too many pixels,
            or values wider than ``bits``.
    """
    import cv2

    if path.suffix.lower() in DICOM_SUFFIXES:
        from .dicom2d import read_dicom_image_2d

        return read_dicom_image_2d(path, max_pixels=max_pixels)
    _check_suffix(path, IMAGE_2D_SUFFIXES)
    buffer = _read_bytes(path)
    check_size(_header_size(path), path, limit=max_pixels, what="pixels")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.size == 0:
        raise UnreadableFileError(f"{path.name}: not a readable image (decoder failed)")
    array = np.asarray(decoded)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if bits is not None:
        array = _declared_bits(array, bits, path)
    if array.ndim == 3:
        array = _bgr_to_rgb_uint8(array, path)
        if _channels_identical(array):
            array = np.ascontiguousarray(array[:, :, 0])
    elif array.ndim == 2:
        array = _gray_dtype(array, path)
        check_finite(array, path)
    else:
        raise UnsupportedFormatError(f"{path.name}: unsupported image shape {array.shape}")
    check_grid((*array.shape[:2], 1), path)
    return Image2D(array=array)


def _header_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header alone, with Pillow's own bomb guard lifted locally.

    Pillow's ``MAX_IMAGE_PIXELS`` is process-global; it is set to None only around this header
    read (our ``max_pixels`` decides) and restored, so no other code sees a changed limit.
    """
    from PIL import Image, UnidentifiedImageError

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UnreadableFileError(f"{path.name}: not a readable image ({error})") from error
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return (int(height), int(width))


def _declared_bits(array: npt.NDArray[Any], bits: int, path: Path) -> npt.NDArray[Any]:
    if not np.issubdtype(array.dtype, np.integer):
        return array
    high = int(array.max(initial=0))
    if high >= 1 << bits:
        raise BitDepthMismatchError(
            f"{path.name}: values up to {high} in a {array.dtype} image declared {bits}-bit"
        )
    return array.astype(np.uint8) if bits <= 8 else array


def read_label_image(path: Path) -> Image2D:
    """Read an integer label image (PNG/BMP/TIFF), values untouched.

    Palette PNGs give their palette indices (the label values), not their display colours.
    A colour mask whose channels differ is refused: mapping colours to labels is source-specific.

    Raises:
        ImagingError: unreadable file, lossy format, or a colour-coded mask.
    """
    from PIL import Image, UnidentifiedImageError

    _check_suffix(path, IMAGE_2D_SUFFIXES)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        raise ImagingError(f"{path.name}: JPEG is lossy and cannot hold label values")
    try:
        with Image.open(path) as image:
            image.load()
            array = np.array(image)
    except FileNotFoundError as error:
        raise UnreadableFileError(f"{path}: file not found") from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UnreadableFileError(f"{path.name}: not a readable label image ({error})") from error
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.ndim == 3:
        if not _channels_identical(array[:, :, :3]):
            raise ImagingError(
                f"{path.name}: colour-coded mask (channels differ); map colours to labels first"
            )
        array = np.ascontiguousarray(array[:, :, 0])
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise ImagingError(f"{path.name}: a label image is 2D integer, got {array.dtype}")
    return Image2D(array=array)


# --- helpers ------------------------------------------------------------------------------------


def _as_integer_labels(raw: npt.NDArray[Any], path: Path) -> npt.NDArray[np.integer]:
    if np.issubdtype(raw.dtype, np.integer):
        return np.asarray(raw)
    if raw.dtype == np.bool_:
        return raw.astype(np.uint8)
    if not np.issubdtype(raw.dtype, np.floating):
        raise UnsupportedFormatError(f"{path.name}: unsupported label dtype {raw.dtype}")
    rounded = np.rint(raw)
    if not np.isfinite(raw).all() or np.abs(raw - rounded).max(initial=0.0) > 1e-3:
        raise ImagingError(f"{path.name}: label map holds non-integer values")
    lo, hi = (float(rounded.min()), float(rounded.max())) if rounded.size else (0.0, 0.0)
    for dtype in (np.uint8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return rounded.astype(dtype)
    raise ImagingError(f"{path.name}: label values out of the int32 range")


def _check_suffix(path: Path, allowed: tuple[str, ...]) -> None:
    if path.suffix.lower() not in allowed:
        raise UnsupportedFormatError(
            f"{path.name}: unsupported file type; expected one of {allowed}"
        )


def _read_bytes(path: Path) -> npt.NDArray[np.uint8]:
    # imdecode over bytes (not imread) so that non-ASCII paths and missing files behave the same.
    try:
        return np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except FileNotFoundError as error:
        raise UnreadableFileError(f"{path}: file not found") from error
    except OSError as error:
        raise UnreadableFileError(f"{path}: cannot read ({error})") from error


def _bgr_to_rgb_uint8(array: npt.NDArray[Any], path: Path) -> npt.NDArray[np.uint8]:
    channels = array.shape[2]
    if channels not in (3, 4):
        raise UnsupportedFormatError(f"{path.name}: unsupported number of channels {channels}")
    rgb = np.ascontiguousarray(array[:, :, 2::-1])  # OpenCV decodes BGR(A); drop alpha
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.dtype == np.uint16:
        return (rgb >> 8).astype(np.uint8)
    raise UnsupportedFormatError(f"{path.name}: unsupported colour dtype {rgb.dtype}")


def _gray_dtype(array: npt.NDArray[Any], path: Path) -> npt.NDArray[Any]:
    if array.dtype in _GRAY_DTYPES:
        return array
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype == np.int32:
        return array.astype(np.float32)
    raise UnsupportedFormatError(f"{path.name}: unsupported gray dtype {array.dtype}")


def _channels_identical(array: npt.NDArray[Any]) -> bool:
    return bool(np.array_equal(array[:, :, 0], array[:, :, 1])) and bool(
        np.array_equal(array[:, :, 0], array[:, :, 2])
    )
