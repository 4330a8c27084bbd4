"""Region-token injection: crops of the boxes a trace cites, placed right after each box.

After every ``<|box_end|>`` of a target, the region is cropped (2D: from the image; 3D: from every
slice in ``[z1, z2)``) and the crops are inserted as image content of the same assistant turn, so
their vision tokens follow the box directly (DESIGN.md §4). Crop hygiene follows the reference
system, in one place for the trainer and the exports (``boxes.crop_window``/``crop_planes``):
integer coordinates clamped to the image, a minimum side of 4 px (grown symmetrically), a bounded
aspect ratio, and no upscaling here (the processor's ``min_pixels`` upsamples tiny crops).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from PIL import Image

from unimed_cot.boxes import (
    BOX_END,
    BOX_START,
    BoxError,
    crop_planes,
    crop_window,
    parse_coordinates,
)
from unimed_cot.train.errors import TrainError

_BOX_AT_END = re.compile(re.escape(BOX_START) + r"([^<]*?)" + re.escape(BOX_END) + r"$")


def crop_region(
    images: Sequence[Image.Image], box: Sequence[int], *, dims: int | None = None
) -> list[Image.Image]:
    """The crops of one box: one crop for a 4-int box (first image), one per slice for 6 ints.

    The geometry is :func:`unimed_cot.boxes.crop_planes` and :func:`~unimed_cot.boxes.crop_window`,
    the exports' own, so a crop seen in training is the crop an export shows.

    Args:
        images: the row's images (one for 2D, K slices for 3D).
        box: the box as written.
        dims: the row's dimensionality; a box of the other arity is refused (a 2D box in a 3D
            question has no slice range, a 3D box in a 2D question no meaning).

    Raises:
        BoxError: a box with neither 4 nor 6 values (or not the arity of ``dims``), or no image.
    """
    if dims is not None and len(box) != (4 if dims == 2 else 6):
        raise BoxError(f"a {dims}D question takes {4 if dims == 2 else 6} values, got {len(box)}")
    planes, xy = crop_planes(box, len(images))
    crops = []
    for z in planes:
        plane = images[z]
        crops.append(plane.crop(crop_window(xy, width=plane.width, height=plane.height)))
    return crops


def inject_regions(
    target: str, images: Sequence[Image.Image], *, dims: int | None = None
) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """Assistant content with the crops of each cited box right after its ``<|box_end|>``.

    Returns:
        ``(content, crops)``: the content list (text and ``{"type": "image"}`` parts, in order) and
        the crop images in the same order as the image parts. A box that does not parse, or whose
        arity is not the row's (``dims``), gets no crop (its text stays), exactly as a rollout
        continues without one.
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
            region_crops = crop_region(images, box, dims=dims)
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


def check_unresized(processor: Any, images: Sequence[Image.Image], grids: Any) -> None:
    """Refuse images the processor resized: box coordinates are pixels of the published image,
    so a crop or a box is only right when the model sees the image at that size.

    Args:
        processor: the (image-only) processor.
        images: the published images (not the crops: those may be upsampled to ``min_pixels``).
        grids: their ``image_grid_thw`` rows, in the same order.

    Raises:
        TrainError: an image whose patch grid is not its own size (a ``max_pixels`` below the
            release's images, or a side that is not a multiple of the patch size).
    """
    patch = int(processor.image_processor.patch_size)
    for image, grid in zip(images, grids, strict=False):
        seen = (int(grid[2]) * patch, int(grid[1]) * patch)
        if seen != image.size:
            raise TrainError(
                f"the processor resizes a {image.width}x{image.height} image to "
                f"{seen[0]}x{seen[1]}: boxes would not match the pixels; raise its max_pixels "
                "(preprocessor_config.json) to at least the release's largest image"
            )
