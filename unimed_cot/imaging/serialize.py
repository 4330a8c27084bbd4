"""Serialize a normalized case into published pixels: one 2D image or K axial slices.

3D (a canonical LPS volume): K slices are picked uniformly over the body's extent along S
(nearest slice, no interpolation along z; never a repeated slice, so a short volume gives fewer
slices), each shown as ``vol[:, :, k].T`` (rows = posterior-ward, anterior at the top; cols =
patient left-ward, patient left on the image right: the radiological view), windowed, padded to
a square physical field of view and resized to ``slice_size`` square. Labels follow the same
path with nearest-neighbour sampling, and regions are derived on the published stack.

2D: resized to a Qwen-fixed size with the aspect kept; 8-bit pixels are kept as they are, other
depths are clipped to their 1st-99th percentile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from unimed_cot.boxes import box_from_mask_2d
from unimed_cot.records import CANONICAL_AXCODES, Case, Image2D, SerializedImages, Volume

from .annotations import regions_from_boxes
from .errors import ImagingError, LabelMismatchError
from .regions import BodyFrame, RegionExtraction, extract_regions
from .resize import pad_to_square_fov, qwen_fixed_size, resize_intensity, resize_labels
from .window import (
    CT_AIR_HU,
    choose_ct_preset,
    foreground_mask,
    is_ct,
    percentile_bounds,
    to_unit,
    unit_to_uint8,
)

# A slice belongs to the body when at least this fraction of it is foreground (ignores specks).
BODY_SLICE_FRACTION = 0.001
_COUNT_SLAB = 16


@dataclass(frozen=True)
class SerializeConfig:
    """How cases become published pixels.

    Attributes:
        n_slices: slices per volume (K); fewer when the body spans fewer slices.
        slice_size: side of the square published slices; a multiple of 28.
        plane: slicing plane of volumes; only "axial" is supported.
        max_side_2d: longest published side of 2D images.
        min_side_2d: shortest published side of 2D images.
        min_component_px: connected components with fewer published pixels are dropped.
    """

    n_slices: int = 32
    slice_size: int = 252
    plane: str = "axial"
    max_side_2d: int = 448
    min_side_2d: int = 56
    min_component_px: int = 4

    def __post_init__(self) -> None:
        if self.n_slices < 1:
            raise ValueError(f"n_slices must be at least 1, got {self.n_slices}")
        if qwen_fixed_size(self.slice_size, self.slice_size, max_side=self.slice_size) != (
            self.slice_size,
            self.slice_size,
        ):
            raise ValueError(
                f"slice_size must be a multiple of 28 between 56 and 3584, got {self.slice_size}"
            )
        if self.plane != "axial":
            raise ValueError(f"only the axial plane is supported, got {self.plane!r}")
        qwen_fixed_size(
            self.max_side_2d, self.max_side_2d, max_side=self.max_side_2d, min_side=self.min_side_2d
        )  # raises ValueError on impossible bounds
        if self.min_component_px < 1:
            raise ValueError(f"min_component_px must be at least 1, got {self.min_component_px}")


def serialize_case(case: Case, config: SerializeConfig) -> SerializedImages:
    """Published images, geometry, window and regions of a normalized case.

    Appends what was done (slices kept, window, resizing, dropped components) to
    ``case.history``; the pixels of the case are not modified.

    Raises:
        ImagingError: not normalized, blank volume, or pixels of an unsupported kind.
        LabelMismatchError: the label map does not lie on the image grid.
    """
    if case.dims == 3:
        if not isinstance(case.image, Volume):
            raise ImagingError(f"case {case.record.case_id}: a 3D case needs a volume")
        return _serialize_volume(case, case.image, config)
    if not isinstance(case.image, Image2D):
        raise ImagingError(f"case {case.record.case_id}: a 2D case needs a 2D image")
    return _serialize_image(case, case.image, config)


def pick_slices(n_body: int, first: int, k: int) -> list[int]:
    """K slice indices at the centres of K equal bins over ``first .. first + n_body - 1``.

    Requires ``k <= n_body``; the indices are then strictly increasing (no slice repeats).
    """
    return [first + int(np.floor((i + 0.5) * n_body / k)) for i in range(k)]


def _serialize_volume(case: Case, image: Volume, config: SerializeConfig) -> SerializedImages:
    if image.axcodes != CANONICAL_AXCODES:
        raise ImagingError(
            f"serialize needs a normalized case (axcodes {''.join(CANONICAL_AXCODES)}), "
            f"got {''.join(image.axcodes)}"
        )
    label_map = case.label_map
    if label_map is not None and (
        not isinstance(label_map, Volume) or label_map.shape != image.shape
    ):
        raise LabelMismatchError("label map does not lie on the image grid")
    volume = np.asarray(image.array, dtype=np.float32)
    ct = is_ct(case.record.modality)
    foreground = foreground_mask(volume, ct=ct)
    per_slice = foreground.sum(axis=(0, 1))
    needed = max(1, int(BODY_SLICE_FRACTION * volume.shape[0] * volume.shape[1]))
    body_slices = np.flatnonzero(per_slice >= needed)
    if body_slices.size == 0:
        raise ImagingError("no body voxels found: the volume looks blank")
    first, last = int(body_slices[0]), int(body_slices[-1])
    n_body = last - first + 1
    k = min(config.n_slices, n_body)
    picked = pick_slices(n_body, first, k)

    if ct:
        preset = choose_ct_preset(case.labels.values())
        low, high, background, window = preset.low, preset.high, CT_AIR_HU, preset.describe()
    else:
        low, high = percentile_bounds(volume, foreground)
        background = float(volume.min())
        window = f"{case.record.modality} percentile p1-p99"
    fill = float(to_unit(np.array([background]), low, high)[0])
    col_mm, row_mm, slice_mm = image.spacing  # axis 0 (L) -> image columns, axis 1 (P) -> rows
    size = config.slice_size

    images = []
    label_slices = []
    padded_shape = (0, 0)
    for index in picked:
        unit = to_unit(volume[:, :, index].T, low, high)
        padded, padded_shape = pad_to_square_fov(unit, row_mm=row_mm, col_mm=col_mm, value=fill)
        images.append(unit_to_uint8(np.asarray(resize_intensity(padded, size, size))))
        if label_map is not None:
            labels_2d = np.asarray(label_map.array[:, :, index]).T
            padded_labels, _ = pad_to_square_fov(labels_2d, row_mm=row_mm, col_mm=col_mm, value=0)
            label_slices.append(resize_labels(padded_labels, size, size))

    centre = np.array([(image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2, 0.0, 1.0])
    positions = []
    for index in picked:
        centre[2] = index
        positions.append(round(float(image.affine[2] @ centre), 4))
    gap = float(np.mean(np.abs(np.diff(positions)))) if k > 1 else slice_mm
    spacing = [
        round(padded_shape[0] * row_mm / size, 6),
        round(padded_shape[1] * col_mm / size, 6),
        round(gap, 6),
    ]

    history = case.history
    note = f" (fewer than the {config.n_slices} requested)" if k < config.n_slices else ""
    history.append(
        f"serialized {k} axial slices over body slices {first}..{last} of {image.shape[2]}{note}"
    )
    history.append(f"window {window}")
    history.append(
        f"padded slices to a square field of view {padded_shape[0]}x{padded_shape[1]} and "
        f"resized to {size}x{size} ({spacing[0]:.3f} x {spacing[1]:.3f} mm/px)"
    )

    regions = RegionExtraction(regions=(), dropped_components=0)
    if label_map is not None:
        body = _body_frame(foreground[:, :, first : last + 1], row_mm, col_mm, size, k)
        organ_ml = _label_volumes_ml(label_map, case)
        regions = extract_regions(
            np.stack(label_slices),
            labels=case.labels,
            lesion_labels=case.lesion_labels,
            min_component_px=config.min_component_px,
            spacing_mm=spacing,
            body=body,
            organ_size_ml=organ_ml,
        )
        history.append(_regions_line(regions, config))
    return SerializedImages(
        images=images,
        slice_positions_mm=positions,
        plane="axial",
        spacing_mm=spacing,
        window=window,
        regions=list(regions.regions),
        orientation_known=True,
    )


def _serialize_image(case: Case, image: Image2D, config: SerializeConfig) -> SerializedImages:
    array = np.asarray(image.array)
    height, width = image.height, image.width
    new_h, new_w = qwen_fixed_size(
        height, width, max_side=config.max_side_2d, min_side=config.min_side_2d
    )
    if array.dtype == np.uint8:
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
    label_map = case.label_map
    if label_map is not None:
        if not isinstance(label_map, Image2D) or label_map.array.shape != (height, width):
            raise LabelMismatchError("label image does not lie on the image grid")
        regions = extract_regions(
            resize_labels(np.asarray(label_map.array), new_h, new_w),
            labels=case.labels,
            lesion_labels=case.lesion_labels,
            min_component_px=config.min_component_px,
            spacing_mm=spacing,
        )
        case.history.append(_regions_line(regions, config))
    box_regions, dropped_boxes = regions_from_boxes(
        case.boxes,
        first_id=len(regions.regions) + 1,
        source_size=(height, width),
        published_size=(new_h, new_w),
        lesion_labels=case.lesion_labels,
        spacing_mm=spacing,
    )
    if case.boxes:
        case.history.append(
            f"box annotations: {len(box_regions)} kept, {dropped_boxes} empty ones dropped"
        )
    return SerializedImages(
        images=[published],
        slice_positions_mm=[],
        plane="",
        spacing_mm=spacing,
        window=window,
        regions=[*regions.regions, *box_regions],
        orientation_known=False,
    )


def _body_frame(
    foreground: npt.NDArray[np.bool_], row_mm: float, col_mm: float, size: int, k: int
) -> BodyFrame:
    """The body's in-plane extent in published pixels (from its projection along S)."""
    projection = np.asarray(foreground.any(axis=2)).T.astype(np.uint8)
    padded, _ = pad_to_square_fov(projection, row_mm=row_mm, col_mm=col_mm, value=0)
    box = box_from_mask_2d(resize_labels(padded, size, size))
    if box is None:  # body thinner than a published pixel: fall back to the whole slice
        box = (0, 0, size, size)
    return BodyFrame(x_range=(box[0], box[2]), y_range=(box[1], box[3]), n_slices=k)


def _label_volumes_ml(label_map: Volume, case: Case) -> dict[int, float]:
    """Exact volume in ml of every organ label, counted on the canonical grid."""
    values = np.asarray(label_map.array)
    voxel_ml = abs(float(np.linalg.det(label_map.affine[:3, :3]))) / 1000.0
    wanted = [v for v, name in case.labels.items() if name not in case.lesion_labels and v != 0]
    if not wanted:
        return {}
    if values.size and values.min() >= 0 and values.max() < 1 << 16:
        counts = np.zeros(max(int(values.max()), *wanted) + 1, dtype=np.int64)
        # Count slab by slab: bincount needs intp input, and a whole-volume copy costs 8 B/voxel.
        for start in range(0, values.shape[2], _COUNT_SLAB):
            slab = values[:, :, start : start + _COUNT_SLAB].ravel().astype(np.intp)
            counts += np.bincount(slab, minlength=counts.size)
        return {v: float(counts[v]) * voxel_ml for v in wanted}
    return {v: float(np.count_nonzero(values == v)) * voxel_ml for v in wanted}


def _regions_line(regions: RegionExtraction, config: SerializeConfig) -> str:
    return (
        f"regions: {len(regions.regions)} kept, {regions.dropped_components} component(s) "
        f"smaller than {config.min_component_px} px dropped"
    )
