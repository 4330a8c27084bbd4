"""Reading one DICOM file: header, decoded frames, Modality LUT. Shared by the DICOM readers.

Failures become typed errors naming the file: a truncated file (``TruncatedFileError``), a
compressed transfer syntax with no installed decoder (``MissingCodecError``, the fix being
``pip install 'unimed-cot[dicom-codecs]'``), stored values wider than BitsStored
(``BitDepthMismatchError``).

Bits above BitsStored are not part of a pixel value (PS3.5 section 8.1.1): pydicom masks them off
and sign-extends signed data, as GDCM (SimpleITK) does, and that is the decode used here. So a
signed value may be stored either sign-extended (``0xF800`` for -2048 in 12 bits) or with zero high
bits (``0x0FFF`` for -1, as pydicom-data's ``mlut_18.dcm`` stores it); both are valid. What is
refused is data that uses the bits above BitsStored for magnitude (16-bit values in a file
declared 8-bit), which masking would silently turn into noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import (
    BitDepthMismatchError,
    MissingCodecError,
    TruncatedFileError,
    UnreadableFileError,
)

CODEC_HINT = "pip install 'unimed-cot[dicom-codecs]' (pylibjpeg, pylibjpeg-libjpeg, -openjpeg)"


def read_header(path: Path, *, pixels: bool) -> Any:
    """``pydicom.dcmread`` with typed errors; ``pixels=False`` stops before the pixel data.

    Raises:
        UnreadableFileError: missing or not DICOM. TruncatedFileError: the data ends early.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not path.is_file():
        raise UnreadableFileError(f"{path}: file not found")
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except InvalidDicomError as error:
        raise UnreadableFileError(f"{path.name}: not a DICOM file ({error})") from error
    except (EOFError, OSError, ValueError, KeyError, TypeError) as error:
        # pydicom reports a file cut inside an element as EOFError/OSError or a bad length.
        raise TruncatedFileError(f"{path.name}: truncated or corrupt DICOM ({error})") from error


def decode_frames(ds: Any, path: Path) -> npt.NDArray[Any]:
    """Decoded stored values: (rows, cols), (frames, rows, cols) or (..., samples) for colour.

    Raises:
        MissingCodecError: compressed pixel data and no plugin decodes its transfer syntax.
        TruncatedFileError: less pixel data than the header announces.
        BitDepthMismatchError: values outside the range BitsStored allows.
    """
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise UnreadableFileError(f"{path.name}: no pixel data")
    syntax = _transfer_syntax(ds)
    try:
        array = np.asarray(ds.pixel_array)
    except (RuntimeError, NotImplementedError) as error:
        if syntax is not None and syntax.is_compressed:
            raise MissingCodecError(
                f"{path.name}: no decoder for {syntax.name}; {CODEC_HINT}"
            ) from error
        raise UnreadableFileError(f"{path.name}: pixel data undecodable ({error})") from error
    except (ValueError, EOFError) as error:
        raise TruncatedFileError(f"{path.name}: pixel data truncated ({error})") from error
    _check_bits_stored(array, ds, path)
    return array


def modality_rescale(frame: npt.NDArray[Any], ds: Any) -> npt.NDArray[np.float32]:
    """Stored values -> modality values (HU for CT) in float32: Modality LUT or slope/intercept.

    Done in float so that an intercept of -1024 on uint16 data, or -(-32768) on int16, cannot wrap
    (the dicom2nifti overflow bugs of sources section 13.3).
    """
    if "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut

        return np.asarray(apply_modality_lut(frame, ds), dtype=np.float32)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    values = frame.astype(np.float32)
    if slope != 1.0:
        values *= np.float32(slope)
    if intercept != 0.0:
        values += np.float32(intercept)
    return values


def _check_bits_stored(array: npt.NDArray[Any], ds: Any, path: Path) -> None:
    """Refuse stored values wider than BitsStored (e.g. 16-bit data in a file declared 8-bit).

    pydicom masks the bits above BitsStored away when it decodes, which would silently turn such
    a file into noise; so native (uncompressed) data is checked in its raw container. A raw value
    is valid when its high bits are all zero, or, for signed data, copies of its sign bit: signed
    raw values thus range over ``-2**(bits-1) .. 2**bits - 1`` in the container's signed type.
    """
    bits = int(ds.get("BitsStored", 0) or 0)
    allocated = int(ds.get("BitsAllocated", 0) or 0)
    if not bits or allocated not in (8, 16, 32) or bits >= allocated:
        return
    syntax = _transfer_syntax(ds)
    if syntax is None or syntax.is_compressed or not syntax.is_little_endian:
        return  # decoders of compressed data honour the codestream's precision
    signed = bool(int(ds.get("PixelRepresentation", 0) or 0))
    container = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    raw = np.frombuffer(ds.PixelData, dtype=container, count=array.size)
    if signed:
        # sign-extended negatives down to -2**(bits-1); zero-padded ones (high bits 0, sign
        # bit set) read as 2**(bits-1) .. 2**bits - 1 in the signed container
        low, high = -(1 << (bits - 1)), (1 << bits) - 1
    else:
        low, high = 0, (1 << bits) - 1
    found_low, found_high = int(raw.min()), int(raw.max())
    if found_low < low or found_high > high:
        raise BitDepthMismatchError(
            f"{path.name}: stored values {found_low}..{found_high} do not fit the declared "
            f"BitsStored={bits}"
        )


def _transfer_syntax(ds: Any) -> Any:
    meta = getattr(ds, "file_meta", None)
    return None if meta is None else meta.get("TransferSyntaxUID")
