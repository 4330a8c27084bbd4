"""2D DICOM images (CR, DX, MG, single-frame anything) as display-ready 8-bit ``Image2D``.

A radiograph is only meaningful through its display pipeline, so this reader applies it in the
standard order (PS3.3 C.11): Modality LUT / rescale, then the VOI LUT or window the file carries
(``pydicom.pixels.apply_voi_lut``, first window when several), else a 1st-99th percentile stretch,
then MONOCHROME1 inversion (so bone is always bright). Colour (RGB / YBR) comes back as RGB uint8.
Pixel spacing is PixelSpacing, else ImagerPixelSpacing (at the detector), as (row, col) mm; a zero
or absent spacing is unknown (None).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from unimed_cot.records import Image2D

from .checks import DEFAULT_MAX_PIXELS, check_finite, check_grid, check_size
from .dicom_pixels import decode_frames, modality_rescale, read_header
from .errors import UnreadableFileError, UnsupportedFormatError

DICOM_SUFFIXES = (".dcm", ".dicom")
# Percentiles of the stretch used when a file carries no window (the reference system's 1/99).
PERCENTILES = (1.0, 99.0)
# Inputs far outside any stored range, to read the output bounds of a VOI transform.
_PROBE = np.array([[-(2.0**40), 2.0**40]], dtype=np.float64)


def read_dicom_image_2d(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image2D:
    """Read a single-frame DICOM image as an 8-bit display image.

    Args:
        path: a ``.dcm`` file holding one frame.
        max_pixels: refuse larger images before decoding.

    Returns:
        ``Image2D`` with an (H, W) uint8 gray array (or (H, W, 3) RGB) and its spacing if known.

    Raises:
        ImagingError: unreadable / truncated file, missing codec, several frames, bad values.
    """
    header = read_header(path, pixels=False)
    if "Rows" not in header or "Columns" not in header:
        raise UnreadableFileError(f"{path.name}: DICOM without an image (no Rows/Columns)")
    frames = int(str(header.get("NumberOfFrames", 1) or 1))
    if frames != 1:
        raise UnsupportedFormatError(f"{path.name}: {frames} frames; read it as a volume")
    check_size((int(header.Rows), int(header.Columns)), path, limit=max_pixels, what="pixels")
    ds = read_header(path, pixels=True)
    stored = decode_frames(ds, path)
    check_grid((*stored.shape[:2], 1), path)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if stored.ndim == 3:
        array = _colour_to_rgb(stored, path)
    else:
        array = _display_gray(stored, ds, path, invert=photometric == "MONOCHROME1")
    return Image2D(array=array, spacing_mm=_spacing(ds))


def _display_gray(
    stored: npt.NDArray[Any], ds: Any, path: Path, *, invert: bool
) -> npt.NDArray[np.uint8]:
    from pydicom.pixels import apply_voi_lut

    values = modality_rescale(stored, ds).astype(np.float64)
    check_finite(values, path)
    if "VOILUTSequence" in ds:
        # A LUT indexes by integer modality values; its output range is its own data's range.
        lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
        indices = np.rint(values).astype(np.int64)
        shown = np.asarray(apply_voi_lut(indices, ds, index=0), dtype=np.float64)
        low, high = float(lut.min()), float(lut.max())
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        shown = np.asarray(apply_voi_lut(values, ds, index=0), dtype=np.float64)
        # The window's output bounds, read by pushing two extreme inputs through it.
        low, high = (float(v) for v in np.asarray(apply_voi_lut(_PROBE, ds, index=0)).ravel())
    else:
        shown = values
        low, high = (float(v) for v in np.percentile(values, PERCENTILES))
    if high <= low:
        scaled = np.zeros(shown.shape, dtype=np.float64)
    else:
        scaled = np.clip((shown - low) / (high - low), 0.0, 1.0)
    if invert:
        scaled = 1.0 - scaled
    return np.rint(scaled * 255.0).astype(np.uint8)


def _colour_to_rgb(stored: npt.NDArray[Any], path: Path) -> npt.NDArray[np.uint8]:
    # pydicom 3 converts YBR colour spaces to RGB while decoding (``as_rgb=True``).
    if stored.shape[-1] != 3:
        raise UnsupportedFormatError(f"{path.name}: {stored.shape[-1]} samples per pixel")
    rgb = stored
    if rgb.dtype != np.uint8:
        rgb = (rgb.astype(np.float64) / max(float(rgb.max()), 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def _spacing(ds: Any) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        values = ds.get(keyword)
        if values is None or len(values) != 2:
            continue
        row, col = float(values[0]), float(values[1])
        if row > 0 and col > 0:
            return (row, col)
    return None
