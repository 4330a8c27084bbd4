"""Serialize a 2D case: one image resized to a Qwen-fixed size, its regions and their truth.

8-bit pixels are kept as they are; CT in HU (a source that declares it, e.g. DeepLesion's offset
PNGs) gets CT presets like a volume (``views.ct_views_2d``); other depths are clipped to their
1st-99th percentile. The label image is measured at its own resolution first
(``truth.measure_image``), then sampled with nearest neighbour onto the published grid.
"""

from __future__ import annotations

import numpy as np

from unimed_cot.records import Case, Image2D, Intensity
from unimed_cot.samples import CaseTruth, SerializedImages

from .annotations import regions_from_boxes
from .errors import ImagingError, LabelMismatchError
from .regions import RegionExtraction, extract_regions
from .resize import qwen_fixed_size, resize_intensity, resize_labels
from .truth import Measurement, measure_image
from .views import CtWindowViews, ct_views_2d
from .window import is_ct, percentile_bounds, to_unit, unit_to_uint8


def serialize_image(
    case: Case, image: Image2D, *, max_side: int, min_side: int, min_component_px: int
) -> SerializedImages:
    """Published image, spacing, window, regions and truth of a 2D case (history appended)."""
    array = np.asarray(image.array)
    height, width = image.height, image.width
    new_h, new_w = qwen_fixed_size(height, width, max_side=max_side, min_side=min_side)
    views: CtWindowViews | None = None
    hounsfield = (
        array.ndim == 2 and is_ct(case.record.modality) and case.record.intensity == Intensity.HU
    )
    if hounsfield:
        views = ct_views_2d(case, array, (new_h, new_w))
        published, window = views.default_images[0], views.default.describe()
        case.history.append(f"window choice: {views.default.name} (from annotated areas)")
    elif array.dtype == np.uint8:
        published = np.asarray(resize_intensity(array, new_h, new_w), dtype=np.uint8)
        window = ""
    elif np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating):
        low, high = percentile_bounds(array)
        unit = to_unit(array, low, high)
        published = unit_to_uint8(np.asarray(resize_intensity(unit, new_h, new_w)))
        window = f"{case.record.modality} percentile p1-p99"
    else:
        raise ImagingError(f"unsupported 2D pixel type {array.dtype}")
    if published.ndim == 3 and published.shape[2] != 3:
        raise ImagingError(f"2D images are gray or RGB, got {published.shape[2]} channels")

    spacing: list[float] = []
    if image.spacing_mm is not None:
        spacing = [
            round(image.spacing_mm[0] * height / new_h, 6),
            round(image.spacing_mm[1] * width / new_w, 6),
        ]
    case.history.append(f"resized {height}x{width} -> {new_h}x{new_w}")
    if window:
        case.history.append(f"window {window}")

    regions = RegionExtraction(regions=(), dropped_components=0)
    measured = Measurement()
    label_map = case.label_map
    if label_map is not None:
        if not isinstance(label_map, Image2D) or label_map.array.shape != (height, width):
            raise LabelMismatchError("label image does not lie on the image grid")
        measured = measure_image(
            label_map.array,
            names=case.labels,
            lesion_names=case.lesion_labels,
            spacing_mm=image.spacing_mm,
            intensity=array if hounsfield else None,
        )
        entities = measured.entity_plane(np.asarray(label_map.array))
        regions = extract_regions(
            resize_labels(entities, new_h, new_w),
            labels=measured.names(),
            min_component_px=min_component_px,
            spacing_mm=spacing,
            truth=measured.entities,
        )
        case.history.append(
            f"regions: {len(regions.regions)} kept, {regions.dropped_components} component(s) "
            f"smaller than {min_component_px} px dropped"
        )
    box_regions, dropped_boxes = regions_from_boxes(
        case.boxes,
        first_id=len(regions.regions) + 1,
        source_size=(height, width),
        published_size=(new_h, new_w),
        lesion_labels=case.lesion_labels,
        source_spacing_mm=image.spacing_mm,
    )
    if case.boxes:
        case.history.append(
            f"box annotations: {len(box_regions)} kept, {dropped_boxes} empty ones dropped"
        )
    shown = {r.label for r in (*regions.regions, *box_regions)}
    box_labels = {b.label for b in case.boxes}
    present = measured.present | box_labels
    return SerializedImages(
        images=[published],
        slice_positions_mm=[],
        plane="",
        spacing_mm=spacing,
        window=window,
        regions=[*regions.regions, *box_regions],
        orientation_known=False,
        views=views,
        truth=CaseTruth(
            annotated=frozenset(case.labels.values()) | box_labels,
            present=present,
            covered=case.covered_labels,
            hidden=present - shown,
            vocabulary=case.vocabulary,
            exhaustive=case.findings_exhaustive,
        ),
        image_axes=case.image_axes,
    )
