"""Serialize a normalized case into published pixels: one 2D image or K axial slices.

3D (a canonical LPS volume, optionally resampled to ``target_spacing_mm`` first): K slices are
picked by the configured strategy (``slicing``: uniformly over the body's extent along S, or
guaranteeing every annotated region's span; nearest slice, no interpolation along z; never a
repeated slice, so a short volume gives fewer slices), each shown as ``vol[:, :, k].T`` (rows =
posterior-ward, anterior at the top; cols = patient left-ward, patient left on the image right:
the radiological view), windowed (CT: the preset of the structures the label map covers most,
``window.choose_ct_window``; a question about other structures gets its own preset through
``SerializedImages.views``), padded to a square physical field of view and resized to
``slice_size`` square.

Truth first: the label map is measured at full resolution before any slice is picked
(``truth.measure_volume``: presence, sizes, positions, sides, hosts, intensities). Slices are
then picked so that every structure's first, largest and last slice are shown when K allows
(``strategy="roi"``, the default); label slices, painted with entity values, follow the image
path with nearest-neighbour sampling, and each published region is one measured structure. A
structure no published slice shows stays in the case's truth (``SerializedImages.truth``) as
present but hidden: it is never called absent.

2D: ``serialize_image``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from unimed_cot.records import CANONICAL_AXCODES, Case, Image2D, Intensity, UInt8Array, Volume
from unimed_cot.samples import CaseTruth, SerializedImages

from .errors import ImagingError, LabelMismatchError
from .regions import RegionExtraction, extract_regions
from .resample import resample_pair
from .resize import (
    pad_to_square_fov,
    qwen_fixed_size,
    resize_intensity,
    resize_labels,
    square_fov_shape,
)
from .serialize_image import serialize_image
from .slicing import (
    LabelStats,
    body_above,
    body_extent,
    label_stats,
    named_volumes_ml,
    pick_roi,
    pick_uniform,
)
from .truth import Measurement, VolumeFrame, measure_volume
from .views import CtWindowViews
from .window import (
    CT_AIR_HU,
    CT_BODY_HU,
    WindowPreset,
    choose_ct_preset,
    choose_ct_window,
    foreground_mask,
    is_ct,
    percentile_bounds,
    to_unit,
    unit_to_uint8,
)

SliceStrategy = Literal["uniform", "roi"]


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
        strategy: how volume slices are picked (``slicing`` module): "roi" (the default) keeps
            every annotated structure's first, largest and last slice, measured at full
            resolution, and spreads the rest over the body; "uniform" spaces K slices evenly over
            the body's extent.
        target_spacing_mm: resample volumes to this (x, y, z) spacing before slicing (anti-aliased
            linear for intensities, nearest for labels); None keeps the native grid.
    """

    n_slices: int = 32
    slice_size: int = 252
    plane: str = "axial"
    max_side_2d: int = 448
    min_side_2d: int = 56
    min_component_px: int = 4
    strategy: SliceStrategy = "roi"
    target_spacing_mm: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.strategy not in ("uniform", "roi"):
            raise ValueError(f"strategy must be 'uniform' or 'roi', got {self.strategy!r}")
        if self.target_spacing_mm is not None:
            spacing = tuple(float(v) for v in self.target_spacing_mm)  # JSON gives a list
            if len(spacing) != 3 or not all(np.isfinite(v) and v > 0 for v in spacing):
                raise ValueError(f"target_spacing_mm must be 3 positive mm, got {spacing}")
            object.__setattr__(self, "target_spacing_mm", spacing)
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
    return serialize_image(
        case,
        case.image,
        max_side=config.max_side_2d,
        min_side=config.min_side_2d,
        min_component_px=config.min_component_px,
    )


def pick_slices(n_body: int, first: int, k: int) -> list[int]:
    """K slice indices at the centres of K equal bins over ``first .. first + n_body - 1``.

    Requires ``k <= n_body``; the indices are then strictly increasing (no slice repeats).
    """
    return pick_uniform(n_body, first, k)


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
    # A source without geometry (M3D-Seg: no spacing, no consistent orientation) flags its
    # records; its rows then claim no spacing, plane, positions, sizes or patient sides.
    known = case.record.geometry_known
    if config.target_spacing_mm is not None and known:
        image, label_map, line = resample_pair(image, label_map, config.target_spacing_mm)
        case.history.append(line)
    elif config.target_spacing_mm is not None:
        case.history.append("not resampled: the source's spacing is unknown")
    # No whole-volume float copy: slices are converted one at a time below.
    volume = np.asarray(image.array)
    # Intensities already normalized by the source (not HU) take a percentile window.
    ct = is_ct(case.record.modality) and case.record.intensity != Intensity.NORMALIZED
    if ct:  # HU threshold, slice by slice: no body mask the size of the volume
        foreground = None
        first, last, projection = body_above(volume, CT_BODY_HU)
    else:  # a percentile threshold over the whole volume; its voxels also set the window
        foreground = foreground_mask(volume, ct=False)
        first, last = body_extent(foreground)
        projection = np.asarray(foreground[:, :, first : last + 1].any(axis=2))
    stats = label_stats(label_map.array) if label_map is not None else None
    measured = Measurement()
    if label_map is not None and stats is not None:
        body_x, body_y = _body_ranges(projection)
        measured = measure_volume(
            label_map.array,
            names=case.labels,
            lesion_names=case.lesion_labels,
            stats=stats,
            frame=VolumeFrame(affine=label_map.affine, known=known, body_x=body_x, body_y=body_y),
            intensity=volume if ct else None,
        )
    picked, strategy_note = _pick(config, first, last, measured)
    k = len(picked)

    chosen = _window(case, volume, foreground, ct, label_map, stats)
    window, low, high, background = chosen.window, chosen.low, chosen.high, chosen.background
    col_mm, row_mm, slice_mm = image.spacing  # axis 0 (L) -> image columns, axis 1 (P) -> rows
    size = config.slice_size

    def render(low: float, high: float) -> list[UInt8Array]:
        """The picked slices windowed to [low, high], padded and resized."""
        fill = float(to_unit(np.array([background]), low, high)[0])
        rendered = []
        for index in picked:
            unit = to_unit(volume[:, :, index].T, low, high)
            padded, _ = pad_to_square_fov(unit, row_mm=row_mm, col_mm=col_mm, value=fill)
            rendered.append(unit_to_uint8(np.asarray(resize_intensity(padded, size, size))))
        return rendered

    images = render(low, high)
    padded_shape = square_fov_shape(volume.shape[1], volume.shape[0], row_mm=row_mm, col_mm=col_mm)
    label_slices = []
    if label_map is not None:
        for index in picked:
            entities = measured.entity_plane(label_map.array[:, :, index], index).T
            padded, _ = pad_to_square_fov(entities, row_mm=row_mm, col_mm=col_mm, value=0)
            label_slices.append(resize_labels(padded, size, size))

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
        f"serialized {k} {'axial' if known else 'last-axis'} slices over body slices "
        f"{first}..{last} of {image.shape[2]}"
        f"{note}{strategy_note}"
    )
    history.append(f"window {window}")
    if chosen.reason:
        history.append(f"window choice: {chosen.reason}")
    history.append(
        f"padded slices to a square field of view {padded_shape[0]}x{padded_shape[1]} and "
        f"resized to {size}x{size} ({spacing[0]:.3f} x {spacing[1]:.3f} "
        f"{'mm/px' if known else 'voxels/px, spacing unknown'})"
    )

    regions = RegionExtraction(regions=(), dropped_components=0)
    if label_map is not None and stats is not None:
        regions = extract_regions(
            np.stack(label_slices),
            labels=measured.names(),
            min_component_px=config.min_component_px,
            spacing_mm=spacing if known else (),
            slice_positions_mm=positions if known else (),
            truth=measured.entities,
        )
        history.append(_regions_line(regions, config))
    shown = {r.label for r in regions.regions}
    return SerializedImages(
        images=images,
        slice_positions_mm=positions if known else [float("nan")] * k,  # unknown, not mm
        plane="axial" if known else "",
        spacing_mm=spacing if known else [],
        window=window,
        regions=list(regions.regions),
        orientation_known=known,
        views=(
            CtWindowViews(
                default=chosen.preset,
                default_images=images,
                volumes_ml=chosen.volumes_ml,
                lesions=frozenset(case.lesion_labels),
                render=lambda preset: render(preset.low, preset.high),
            )
            if chosen.preset is not None and chosen.volumes_ml
            else None
        ),
        truth=CaseTruth(
            annotated=frozenset(case.labels.values()),
            present=measured.present,
            covered=case.covered_labels,
            hidden=measured.present - shown,
            sides=measured.sides_by_label() if known else {},
            vocabulary=case.vocabulary,
        ),
    )


def _pick(
    config: SerializeConfig, first: int, last: int, measured: Measurement
) -> tuple[list[int], str]:
    """The slice indices of the configured strategy, and a note for the history line."""
    spans = measured.spans()
    if config.strategy == "uniform" or not spans:
        n_body = last - first + 1
        return pick_uniform(n_body, first, min(config.n_slices, n_body)), ""
    picked, required = pick_roi(first, last, config.n_slices, spans)
    lost = " - too many to keep all" if required > config.n_slices else ""
    return picked, f"; roi: {len(spans)} region span(s) need {required} slice(s){lost}"


def _body_ranges(
    projection: npt.NDArray[np.bool_],
) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """Half-open index ranges of the body along L and P (from its projection along S)."""
    xs = np.flatnonzero(np.asarray(projection).any(axis=1))
    ys = np.flatnonzero(np.asarray(projection).any(axis=0))
    if xs.size == 0 or ys.size == 0:
        return None, None
    return (int(xs[0]), int(xs[-1]) + 1), (int(ys[0]), int(ys[-1]) + 1)


@dataclass(frozen=True, slots=True)
class _Window:
    window: str  # the published string
    low: float
    high: float
    background: float  # the value outside the body / field of view
    reason: str  # why this CT preset ("" otherwise)
    preset: WindowPreset | None = None  # CT only
    volumes_ml: dict[str, float] = field(default_factory=dict)  # CT with a label map


def _window(
    case: Case,
    volume: npt.NDArray[np.generic],
    foreground: npt.NDArray[np.bool_] | None,
    ct: bool,
    label_map: Volume | None,
    stats: LabelStats | None,
) -> _Window:
    """The case's window: a CT preset from its structures, else the p1-p99 percentiles."""
    if not ct:
        low, high = percentile_bounds(volume, foreground)
        window = f"{case.record.modality} percentile p1-p99"
        return _Window(window, low, high, float(volume.min()), "")
    volumes: dict[str, float] = {}
    if label_map is not None and stats is not None and stats.values:
        voxel_ml = abs(float(np.linalg.det(label_map.affine[:3, :3]))) / 1000.0
        volumes = named_volumes_ml(stats, case.labels, voxel_ml)
        preset, reason = choose_ct_window(volumes, case.lesion_labels)
    else:
        preset = choose_ct_preset(case.labels.values())
        reason = "from the label names (no label map)"
    reason = f"{preset.name}: {reason}"
    return _Window(preset.describe(), preset.low, preset.high, CT_AIR_HU, reason, preset, volumes)


def _regions_line(regions: RegionExtraction, config: SerializeConfig) -> str:
    return (
        f"regions: {len(regions.regions)} kept, {regions.dropped_components} component(s) "
        f"smaller than {config.min_component_px} px dropped"
    )
