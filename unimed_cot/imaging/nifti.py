"""NIfTI volumes through nibabel: header checks first, then the (scaled) data.

The affine is nibabel's resolved one (sform if its code is set, else qform, else the fall-back),
voxel -> RAS+ mm. A gzip stream that ends early or fails its CRC surfaces only when the data is
read; it becomes ``TruncatedFileError`` here rather than an ``EOFError`` deep in a worker.

Intensities keep the stored integer dtype when the file applies no scaling (slope 1, intercept
0): the values are exact either way, and a float32 copy of a CT would double its memory and cost
a full pass. Scaled or float data comes back as float32.

``.nii.gz`` data is inflated by one bounded call over the whole file (zlib-ng, the faster
drop-in zlib, when installed) instead of nibabel's streaming reader, and the array is a
read-only view of the inflated bytes: about 2.5x faster on a 512x512x300 CT and no second copy
(``benchmarks/bench_imaging.py``). nibabel still
parses the header, affine, dtype and scaling. The output is capped at the size the header
declares, so a gzip bomb cannot inflate past it.
"""

from __future__ import annotations

import importlib
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from .checks import check_affine, check_grid, check_size
from .errors import ImagingError, TruncatedFileError, UnreadableFileError, UnsupportedFormatError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
_inflate_module: ModuleType
try:  # same API as zlib, about twice as fast to inflate
    _inflate_module = importlib.import_module("zlib_ng.zlib_ng")
except ImportError:  # pragma: no cover - zlib-ng is a dependency; plain zlib still works
    _inflate_module = zlib

# What a gzip stream cut short or corrupted raises inside nibabel's reads and ours.
_DATA_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    _inflate_module.error,
)


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
            return _stored_values(path, image).reshape(shape), affine
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
            data = _intensities(path, image).reshape(shape)
    except ImagingError:
        raise
    except _DATA_ERRORS as error:
        raise TruncatedFileError(f"{path.name}: truncated or corrupt data ({error})") from error
    return data, affine


def _intensities(path: Path, image: Any) -> npt.NDArray[Any]:
    """The stored integers when the file applies no scaling, else float32 scaled values."""
    proxy = image.dataobj
    stored = _stored_values(path, image)
    slope, inter = float(proxy.slope), float(proxy.inter)
    if np.issubdtype(stored.dtype, np.integer) and (slope, inter) == (1.0, 0.0):
        return stored
    values = stored.astype(np.float32)
    if (slope, inter) != (1.0, 0.0):
        values *= np.float32(slope)
        values += np.float32(inter)
    return values


def _stored_values(path: Path, image: Any) -> npt.NDArray[Any]:
    """The data as stored (no scaling), in the header's shape and byte order."""
    proxy = image.dataobj
    dtype = np.dtype(proxy.dtype)
    if path.name.endswith(".nii.gz"):
        count = int(np.prod(proxy.shape, dtype=np.int64))
        needed = int(proxy.offset) + count * dtype.itemsize
        raw = _inflate_gzip(path, needed)
        stored = np.frombuffer(raw, dtype=dtype, count=count, offset=int(proxy.offset))
        stored = stored.reshape(proxy.shape, order=proxy.order)
    else:  # nibabel memory-maps (or streams) an uncompressed file; a plain array from here on
        stored = np.asarray(proxy.get_unscaled())
    if not dtype.isnative:  # big-endian files: compute in native order
        stored = stored.astype(dtype.newbyteorder("="))
    return stored


def _inflate_gzip(path: Path, needed: int) -> bytes:
    """The first ``needed`` bytes of a (possibly multi-member) gzip file, and no more.

    Raises:
        TruncatedFileError: the stream ends before ``needed`` bytes, or fails its CRC.
    """
    compressed = memoryview(path.read_bytes())
    parts: list[bytes] = []
    have = 0
    while have < needed and compressed:
        inflater = _inflate_module.decompressobj(wbits=31)  # 31: gzip header and trailer
        parts.append(inflater.decompress(compressed, needed - have))
        have += len(parts[-1])
        if have >= needed and not inflater.eof:
            # Reach the member's trailer when little is left, so its CRC is checked.
            inflater.decompress(inflater.unconsumed_tail, 1 << 16)
        if not inflater.eof:
            break
        compressed = memoryview(inflater.unused_data)
    if have < needed:
        raise TruncatedFileError(
            f"{path.name}: truncated or corrupt data (the stream ends after {have} of "
            f"{needed} bytes)"
        )
    return parts[0] if len(parts) == 1 else b"".join(parts)


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
