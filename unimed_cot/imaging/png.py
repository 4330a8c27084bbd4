"""The one PNG encoder of published pixels (release images, hydrated images, export crops)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

# zlib level 6: the size/speed balance of libpng's default; fixed, because the bytes are part of
# a release's identity (sha256 in rows.tsv, byte-identical re-publishing, hydrate checks).
PNG_COMPRESSION = 6


def encode_png(image: npt.NDArray[np.uint8]) -> bytes:
    """Lossless, deterministic PNG bytes of a (H, W) or (H, W, 3 RGB) uint8 image.

    Raises:
        ValueError: for a non-uint8 array (a bug of the caller: published pixels are uint8).
    """
    array: np.ndarray = np.ascontiguousarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"published images are uint8, got {array.dtype}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as PNG")
    return bytes(buffer.tobytes())
