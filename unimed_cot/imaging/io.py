"""Read and write pixels: NIfTI volumes (nibabel) and 2D images (OpenCV / Pillow).

Every reader returns a ``records`` type (``Volume`` or ``Image2D``) and raises ``ImagingError``
with one readable line for a file that is missing, corrupt or of an unsupported kind, so that a
builder can hand the failure to the pipeline as a rejection.

Conventions:

* Volumes keep nibabel's voxel order and its resolved affine (sform if its code is set, else
  qform, else the fall-back), i.e. voxel -> RAS+ mm. Reorientation happens in ``normalize``.
* Intensity volumes are float32 with the NIfTI ``scl_slope``/``scl_inter`` applied (HU for CT).
  Label volumes are integer arrays of the stored values, never interpolated or scaled to float.
* 2D intensities keep their bit depth (uint8, uint16, ...): windowing is ``serialize``'s job.
  RGB comes back in RGB order as uint8; a colour file whose three channels are identical (a
  radiograph saved as RGB) comes back as one gray channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from unimed_cot.records import Image2D, Volume

from .errors import ImagingError, UnreadableFileError, UnsupportedFormatError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
IMAGE_2D_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Intensity dtypes a gray 2D image may keep; anything else is converted or refused.
_GRAY_DTYPES = (np.uint8, np.uint16, np.int16, np.float32)


def read_volume(path: Path, *, channel: int | None = None) -> Volume:
    """Read a NIfTI volume as float32 intensities with its affine.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file.
        channel: index along the 4th axis for 4D files (modalities of BraTS/MSD, time points).
            Required for a 4D file, refused for a 3D one.

    Returns:
        A ``Volume`` with a float32 array (scaling applied) and nibabel's resolved affine.

    Raises:
        ImagingError: the file is missing, not NIfTI, not 3D/4D, or the channel is wrong.
    """
    image = _load_nifti(path)
    proxy = image.dataobj
    shape = _effective_shape(image.shape)
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
        data = np.asarray(image.get_fdata(dtype=np.float32), dtype=np.float32).reshape(shape)
    if not np.isfinite(data).all():
        # NaN/inf survive nothing downstream (percentiles, windows); zero them but keep going.
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    return Volume(array=data, affine=_checked_affine(image.affine, path))


def read_label_volume(path: Path) -> Volume:
    """Read a NIfTI label map as an integer array (values as stored, no float scaling).

    A label map stored as float (common in the wild) is accepted when every value is an integer.

    Raises:
        ImagingError: unreadable file, not 3D, or non-integer label values.
    """
    image = _load_nifti(path)
    shape = _effective_shape(image.shape)
    if len(shape) != 3:
        raise ImagingError(f"{path.name}: a label map must be 3D, got shape {tuple(image.shape)}")
    # ``asanyarray(dataobj)`` returns the stored dtype untouched when slope is 1 and inter 0.
    raw = np.asanyarray(image.dataobj).reshape(shape)
    labels = _as_integer_labels(raw, path)
    return Volume(array=labels, affine=_checked_affine(image.affine, path))


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


def read_image_2d(path: Path) -> Image2D:
    """Read a PNG/JPEG/BMP/TIFF image, 8- or 16-bit, gray or colour.

    Returns:
        ``Image2D`` with an (H, W) array in the file's bit depth, or an (H, W, 3) uint8 RGB array.
        Alpha is dropped; 16-bit colour is reduced to 8 bits. Pixel spacing is unknown (None).

    Raises:
        ImagingError: missing file, unsupported suffix, or undecodable content.
    """
    import cv2

    _check_suffix(path, IMAGE_2D_SUFFIXES)
    buffer = _read_bytes(path)
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.size == 0:
        raise UnreadableFileError(f"{path.name}: not a readable image (decoder failed)")
    array = np.asarray(decoded)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3:
        array = _bgr_to_rgb_uint8(array, path)
        if _channels_identical(array):
            array = np.ascontiguousarray(array[:, :, 0])
    elif array.ndim == 2:
        array = _gray_dtype(array, path)
    else:
        raise UnsupportedFormatError(f"{path.name}: unsupported image shape {array.shape}")
    return Image2D(array=array)


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


def _effective_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Drop trailing singleton axes beyond the third ((x, y, z, 1) is a 3D volume)."""
    dims = list(shape)
    while len(dims) > 3 and dims[-1] == 1:
        dims.pop()
    if len(dims) == 2:
        dims.append(1)  # a single slice stored as 2D NIfTI
    if len(dims) not in (3, 4):
        raise UnsupportedFormatError(f"unsupported NIfTI shape {tuple(shape)}: expected 3D or 4D")
    return tuple(dims)


def _checked_affine(affine: npt.NDArray[Any] | None, path: Path) -> npt.NDArray[np.float64]:
    if affine is None:
        raise ImagingError(f"{path.name}: no affine")
    matrix = np.asarray(affine, dtype=np.float64)
    if not np.isfinite(matrix).all() or abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise ImagingError(f"{path.name}: degenerate affine (zero spacing or NaN)")
    return matrix


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
