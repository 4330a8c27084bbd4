"""Published image sizes and the resizing that gets pixels there.

Published images must be sizes Qwen2.5-VL's ``smart_resize`` leaves unchanged (DESIGN.md §4), so
that the box coordinates written in the text are the coordinates the model sees.

Interpolation follows the kind of data (as TorchIO does): intensities use area averaging when
shrinking and bilinear when enlarging; labels always use nearest neighbour, in OpenCV's
``INTER_NEAREST_EXACT`` flavour, which samples pixel centres (like PIL and scipy). Plain
``INTER_NEAREST`` samples the top-left corner and shifts masks by half a pixel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ImagingError

# Qwen2.5-VL image processor: patch 14 x merge 2, and its default pixel budget.
QWEN_FACTOR = 28
QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 12_845_056  # 3584 x 3584
_LARGEST_SIDE = math.isqrt(QWEN_MAX_PIXELS) // QWEN_FACTOR * QWEN_FACTOR


def qwen_fixed_size(
    height: int, width: int, *, max_side: int, min_side: int = 56
) -> tuple[int, int]:
    """A publishable (height, width) for an image of the given size.

    Both sides are multiples of 28, between ``min_side`` (rounded up to 28) and ``max_side``
    (rounded down to 28), the aspect ratio is kept up to rounding of each side to the nearest
    multiple of 28, and the result is a fixed point of Qwen2.5-VL's ``smart_resize``. Images
    smaller than ``max_side`` keep (about) their size; larger ones are scaled down to fit.
    Extreme aspect ratios that cannot fit both bounds are clamped.

    Raises:
        ValueError: non-positive sizes, or bounds that leave no valid side.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    largest = min(max_side // QWEN_FACTOR * QWEN_FACTOR, _LARGEST_SIDE)
    smallest = max(QWEN_FACTOR, -(-min_side // QWEN_FACTOR) * QWEN_FACTOR)
    if largest < max(smallest, 2 * QWEN_FACTOR):
        raise ValueError(f"max_side={max_side} with min_side={min_side} leaves no valid size")
    scale = min(1.0, largest / max(height, width))
    if min(height, width) * scale < smallest:
        scale = smallest / min(height, width)

    def side(length: int) -> int:
        steps = math.floor(length * scale / QWEN_FACTOR + 0.5)
        return min(largest, max(smallest, steps * QWEN_FACTOR))

    new_h, new_w = side(height), side(width)
    while new_h * new_w < QWEN_MIN_PIXELS:  # only reachable with min_side < 56
        if new_h <= new_w:
            new_h += QWEN_FACTOR
        else:
            new_w += QWEN_FACTOR
    return new_h, new_w


def square_fov_shape(rows: int, cols: int, *, row_mm: float, col_mm: float) -> tuple[int, int]:
    """The (rows, cols) of a ``rows`` x ``cols`` slice padded to a square field of view."""
    side_mm = max(rows * row_mm, cols * col_mm)
    return max(rows, round(side_mm / row_mm)), max(cols, round(side_mm / col_mm))


def pad_to_square_fov(
    image: npt.NDArray[Any], *, row_mm: float, col_mm: float, value: float
) -> tuple[npt.NDArray[Any], tuple[int, int]]:
    """Pad an (H, W) slice with ``value`` so that its physical field of view is square.

    The slice stays centred. Returns the padded array and the padded (rows, cols) count.
    """
    rows, cols = image.shape[:2]
    target_rows, target_cols = square_fov_shape(rows, cols, row_mm=row_mm, col_mm=col_mm)
    top = (target_rows - rows) // 2
    left = (target_cols - cols) // 2
    pad = [(top, target_rows - rows - top), (left, target_cols - cols - left)]
    pad += [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="constant", constant_values=value), (target_rows, target_cols)


def resize_intensity(image: npt.NDArray[Any], height: int, width: int) -> npt.NDArray[Any]:
    """Resize intensities (gray or RGB): area averaging to shrink, bilinear to enlarge."""
    import cv2

    rows, cols = image.shape[:2]
    if (rows, cols) == (height, width):
        return image.copy()
    shrinking = height <= rows and width <= cols
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (width, height), interpolation=interpolation))


def resize_labels(labels: npt.NDArray[Any], height: int, width: int) -> npt.NDArray[np.int32]:
    """Resize an integer label map with centre-sampling nearest neighbour (values never mix)."""
    import cv2

    values = np.asarray(labels)
    if values.size and (
        values.min() < np.iinfo(np.int32).min or values.max() > np.iinfo(np.int32).max
    ):
        raise ImagingError("label values out of the int32 range")
    values = values.astype(np.int32, copy=False)
    if values.shape[:2] == (height, width):
        return values.copy()
    resized = cv2.resize(values, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    return np.asarray(resized, dtype=np.int32)
