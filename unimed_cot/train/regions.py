"""Region-token injection: crops of the boxes a trace cites, placed right after each box.

After every ``<|box_end|>`` of a target, the region is cropped (2D: from the image; 3D: from every
slice in ``[z1, z2)``) and the crops are inserted as image content of the same assistant turn, so
their vision tokens follow the box directly (DESIGN.md §4). Crop hygiene follows the reference
system: integer coordinates clamped to the image, a minimum side of 4 px (grown symmetrically),
and no upscaling here (the processor's ``min_pixels`` upsamples tiny crops).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from PIL import Image

from unimed_cot.boxes import BOX_END, BOX_START, BoxError, parse_coordinates

MIN_SIDE = 4
_BOX_AT_END = re.compile(re.escape(BOX_START) + r"([^<]*?)" + re.escape(BOX_END) + r"$")


def _grow(lo: int, hi: int, limit: int) -> tuple[int, int]:
    """Clamp ``[lo, hi)`` into ``[0, limit)`` and grow it to at least MIN_SIDE, symmetrically."""
    lo, hi = max(0, min(lo, limit - 1)), max(0, min(hi, limit))
    hi = max(hi, lo + 1)
    while hi - lo < min(MIN_SIDE, limit):
        if lo > 0:
            lo -= 1
        if hi - lo < MIN_SIDE and hi < limit:
            hi += 1
    return lo, hi


def crop_region(images: Sequence[Image.Image], box: Sequence[int]) -> list[Image.Image]:
    """The crops of one box: one crop for a 4-int box (first image), one per slice for 6 ints.

    A 3D box ``[x1,y1,z1,x2,y2,z2]`` crops every slice in ``[z1, z2)`` after clamping ``z1`` into
    ``[0, K-1]`` and ``z2`` into ``[z1+1, K]``, as the reference inference does.

    Raises:
        BoxError: a box with neither 4 nor 6 values, or no image to crop.
    """
    if not images:
        raise BoxError("no image to crop")
    if len(box) == 4:
        x1, y1, x2, y2 = (int(v) for v in box)
        planes = [images[0]]
    elif len(box) == 6:
        x1, y1, z1, x2, y2, z2 = (int(v) for v in box)
        k = len(images)
        z1 = max(0, min(z1, k - 1))
        z2 = max(z1 + 1, min(z2, k))
        planes = list(images[z1:z2])
    else:
        raise BoxError(f"a box has 4 or 6 values, got {len(box)}")
    crops = []
    for plane in planes:
        left, right = _grow(x1, x2, plane.width)
        top, bottom = _grow(y1, y2, plane.height)
        crops.append(plane.crop((left, top, right, bottom)))
    return crops


def inject_regions(
    target: str, images: Sequence[Image.Image]
) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """Assistant content with the crops of each cited box right after its ``<|box_end|>``.

    Returns:
        ``(content, crops)``: the content list (text and ``{"type": "image"}`` parts, in order) and
        the crop images in the same order as the image parts. A box that does not parse gets no
        crop (its text stays), exactly as a rollout would continue without one.
    """
    content: list[dict[str, Any]] = []
    crops: list[Image.Image] = []
    pieces = target.split(BOX_END)
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        text = piece if last else piece + BOX_END
        if text:
            content.append({"type": "text", "text": text})
        if last:
            break
        box = last_box(text)
        if box is None:
            continue
        try:
            region_crops = crop_region(images, box)
        except BoxError:
            continue
        content.extend({"type": "image"} for _ in region_crops)
        crops.extend(region_crops)
    return content, crops


def last_box(text: str) -> tuple[int, ...] | None:
    """The box of a chunk that ends with ``<|box_start|>[…]<|box_end|>``, or None."""
    match = _BOX_AT_END.search(text)
    if match is None:
        return None
    try:
        return parse_coordinates(match.group(1))
    except BoxError:
        return None
