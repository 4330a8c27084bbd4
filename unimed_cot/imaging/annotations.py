"""Box annotations of 2D sources (detection sets) -> regions on the published image.

A source box is continuous and half-open in source pixels. Scaled to the published size it is
rounded outward (floor for the low corner, ceil for the high one) so the published box still
covers everything the annotator marked, then clipped to the image; a box with no area left is
dropped and counted.

A box's size is what its mask measured (``AnnotatedBox.mask_px`` times the source's pixel
spacing), never the rectangle's area: a thin diagonal structure fills a small part of its box.
A box without a mask count has no size, so no size question is asked about it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from unimed_cot.records import AnnotatedBox
from unimed_cot.samples import Region, RegionFacts


def scale_box(
    box: tuple[float, float, float, float],
    *,
    source_size: tuple[int, int],
    published_size: tuple[int, int],
) -> tuple[int, int, int, int] | None:
    """A source box on the published grid, rounded outward and clipped; None when empty.

    Sizes are (height, width).
    """
    (src_h, src_w), (dst_h, dst_w) = source_size, published_size
    if not (box[2] > box[0] and box[3] > box[1]):
        return None  # no area in the source: nothing was marked
    sx, sy = dst_w / src_w, dst_h / src_h
    x1 = max(0, math.floor(box[0] * sx + 1e-9))
    y1 = max(0, math.floor(box[1] * sy + 1e-9))
    x2 = min(dst_w, math.ceil(box[2] * sx - 1e-9))
    y2 = min(dst_h, math.ceil(box[3] * sy - 1e-9))
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def regions_from_boxes(
    annotations: Sequence[AnnotatedBox],
    *,
    first_id: int,
    source_size: tuple[int, int],
    published_size: tuple[int, int],
    lesion_labels: frozenset[str],
    source_spacing_mm: tuple[float, float] | None,
) -> tuple[list[Region], int]:
    """Regions for box annotations, numbered from ``R{first_id}``; returns (regions, dropped).

    Order is deterministic: by label, then by box. ``area_px`` is the published box's area
    (what the box covers on the published image); ``voxels`` and ``size_mm`` come from the
    annotation's mask count (source pixels, source spacing) and stay None without one.
    """
    regions: list[Region] = []
    dropped = 0
    height, width = source_size
    for annotation in sorted(annotations, key=lambda a: (a.label, a.box)):
        box = scale_box(annotation.box, source_size=source_size, published_size=published_size)
        if box is None:
            dropped += 1
            continue
        x1, y1, x2, y2 = box
        mask_px = annotation.mask_px
        size_mm = None
        if mask_px is not None and source_spacing_mm is not None:
            size_mm = round(mask_px * source_spacing_mm[0] * source_spacing_mm[1], 3)
        sx1, sy1, sx2, sy2 = annotation.box
        facts = RegionFacts(
            area_px=(x2 - x1) * (y2 - y1),
            size_mm=size_mm,
            centroid=((x1 + x2) / 2, (y1 + y2) / 2),
            voxels=mask_px,
            fraction=(round((sx1 + sx2) / 2 / width, 5), round((sy1 + sy2) / 2 / height, 5)),
        )
        regions.append(
            Region(
                id="",
                label=annotation.label,
                box=box,
                facts=facts,
                is_lesion=annotation.label in lesion_labels,
            )
        )
    numbered = [replace(r, id=f"R{first_id + i}") for i, r in enumerate(regions)]
    return numbered, dropped
