"""Label masks -> evidence regions (boxes + measured facts) in published pixel coordinates.

Works on the *published* label grid: (H, W) for a 2D image, (K, H, W) for the K serialized
slices of a volume, so that boxes are exactly what the model sees.

* Connected components use ``scipy.ndimage.label`` with full connectivity (8 in 2D, 26 over the
  K x H x W slice stack). Components smaller than ``min_component_px`` are dropped and counted:
  at the published resolution they are specks a model cannot see, usually resampling debris.
* With ``truth`` (the serializer's path) the grid holds entity values (``imaging.truth``): each
  value is ONE region, the union of its kept components: an organ, or one lesion as it is
  connected at full resolution. Its facts (size, position, sides, host, intensities) are the
  entity's, measured before slices were picked; only the box, ``area_px``, ``centroid`` and
  ``largest_slice`` are counted on the published grid.
* Without ``truth`` (a grid made by hand) an organ (a label not in ``lesion_labels``) gives one
  region and a lesion one region per published component, measured on the published grid with
  the published spacing: each published voxel stands for row x col x the mean slice gap.
* Order (and so the ids R1, R2, ...) is deterministic: organs by label name, then lesions by label
  name and size, largest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from unimed_cot.boxes import box_from_mask_2d, box_from_mask_3d
from unimed_cot.samples import Region, RegionFacts

from .truth import Entity


@dataclass(frozen=True, slots=True)
class RegionExtraction:
    """Regions in listing order and the number of components dropped as too small."""

    regions: tuple[Region, ...]
    dropped_components: int


@dataclass(slots=True)
class _Candidate:
    label: str
    value: int
    mask: npt.NDArray[np.bool_]  # cropped to ``bbox``: labels are small next to the grid
    is_lesion: bool
    area: int
    bbox: tuple[slice, ...]  # where ``mask`` lies in the grid


def extract_regions(
    label_grid: npt.NDArray[np.integer],
    *,
    labels: Mapping[int, str],
    lesion_labels: frozenset[str] | set[str] = frozenset(),
    min_component_px: int = 4,
    spacing_mm: Sequence[float] = (),
    slice_positions_mm: Sequence[float] = (),
    truth: Mapping[int, Entity] | None = None,
) -> RegionExtraction:
    """Derive regions from a published label grid.

    Args:
        label_grid: (H, W) label image or (K, H, W) stack of serialized label slices; with
            ``truth``, a grid of entity values.
        labels: label value -> name; values absent from this mapping are ignored.
        lesion_labels: names of labels that are lesions (one region per component); unused
            with ``truth``, whose entities say it.
        min_component_px: components with fewer pixels (voxels) are dropped and counted.
        spacing_mm: published spacing (row, col[, between slices]); empty when unknown.
        slice_positions_mm: position of each published slice (3D); when given, the z extent
            runs from the first to the last slice of a region plus one slice gap (exact for
            unevenly picked slices).
        truth: the case's entities by value (``imaging.truth``); their facts replace the
            published estimates.

    Returns:
        The regions with ids R1, R2, ... and the count of dropped components.
    """
    from scipy import ndimage

    grid = np.asarray(label_grid)
    if grid.ndim not in (2, 3):
        raise ValueError(f"label grid must be (H, W) or (K, H, W), got shape {grid.shape}")
    structure = np.ones((3,) * grid.ndim, dtype=bool)
    candidates: list[_Candidate] = []
    dropped = 0
    # Each label's components are found inside its bounding box (one find_objects pass).
    for value, crop in sorted(_label_boxes(grid, labels).items()):
        name = labels[value]
        is_lesion = truth[value].is_lesion if truth is not None else name in lesion_labels
        components, count = ndimage.label(grid[crop] == value, structure=structure)
        sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
        kept = [index + 1 for index in range(count) if sizes[index] >= min_component_px]
        dropped += count - len(kept)
        if not kept:
            continue
        if is_lesion and truth is None:
            objects = ndimage.find_objects(components)
            for index in kept:
                part = objects[index - 1]
                assert part is not None  # every counted component has a bounding box
                mask = components[part] == index
                area = int(sizes[index - 1])
                candidates.append(_Candidate(name, value, mask, True, area, _shift(part, crop)))
        else:
            mask = np.isin(components, kept)
            candidates.append(_Candidate(name, value, mask, is_lesion, int(mask.sum()), crop))

    if truth is None:
        # Stable sort: equal-size components keep scipy's raster order.
        candidates.sort(
            key=lambda c: (c.is_lesion, c.label, c.value, -c.area if c.is_lesion else 0)
        )
    else:  # lesions by their full-resolution size, then by entity value (deterministic)
        candidates.sort(key=lambda c: (c.is_lesion, c.label, -_truth_size(truth[c.value]), c.value))
    organ_values = {v: n for v, n in labels.items() if n not in lesion_labels and int(v) != 0}
    regions = []
    for number, candidate in enumerate(candidates, start=1):
        published = _facts(candidate, spacing_mm=spacing_mm, positions=slice_positions_mm)
        if truth is not None:
            entity = truth[candidate.value]
            facts, host = _truth_facts(published, entity), entity.host
        else:
            facts = published
            host = _host(candidate, grid, organ_values, structure) if candidate.is_lesion else ""
        regions.append(
            Region(
                id=f"R{number}",
                label=candidate.label,
                box=_grid_box(candidate),
                facts=facts,
                is_lesion=candidate.is_lesion,
                host=host,
            )
        )
    return RegionExtraction(regions=tuple(regions), dropped_components=dropped)


def _truth_size(entity: Entity) -> float:
    return entity.size_mm if entity.size_mm is not None else float(entity.voxels)


def _truth_facts(published: RegionFacts, entity: Entity) -> RegionFacts:
    """The published counts with everything a question asserts taken from the entity."""
    return replace(
        published,
        size_mm=entity.size_mm,
        side=entity.side,
        ap=entity.ap,
        extent_mm=entity.extent_mm or published.extent_mm,
        voxels=entity.voxels,
        position_mm=entity.position_mm,
        fraction=entity.fraction,
        span_mm=entity.span_mm,
        mean=entity.mean,
        host_mean=entity.host_mean,
        truncated=entity.truncated,
    )


def _label_boxes(
    grid: npt.NDArray[np.integer], labels: Mapping[int, str]
) -> dict[int, tuple[slice, ...]]:
    """Bounding box of every named, non-zero label value present in ``grid``."""
    from scipy import ndimage

    wanted = {int(v) for v in labels if int(v) > 0}
    if not wanted or grid.size == 0:
        return {}
    if int(grid.min()) < 0:  # find_objects reads labels as non-negative; crop nothing
        present = {int(v) for v in np.unique(grid)} & wanted
        return {v: tuple(slice(0, n) for n in grid.shape) for v in present}
    objects = ndimage.find_objects(grid, max_label=max(wanted))
    return {v: tuple(objects[v - 1]) for v in wanted if objects[v - 1] is not None}


def _shift(part: tuple[slice, ...], by: tuple[slice, ...]) -> tuple[slice, ...]:
    """Slices ``part`` of a crop taken at ``by``, in the coordinates of the whole grid."""
    return tuple(slice(p.start + b.start, p.stop + b.start) for p, b in zip(part, by, strict=True))


def _grid_box(candidate: _Candidate) -> tuple[int, ...]:
    """The candidate's half-open box in grid pixels: (x1, y1, x2, y2) or (x1, y1, z1, ...)."""
    mask = candidate.mask
    box = box_from_mask_2d(mask) if mask.ndim == 2 else box_from_mask_3d(mask)
    assert box is not None  # kept components are never empty
    if mask.ndim == 2:
        row, col = (part.start for part in candidate.bbox)
        x1, y1, x2, y2 = box
        return (x1 + col, y1 + row, x2 + col, y2 + row)
    depth, row, col = (part.start for part in candidate.bbox)
    x1, y1, z1, x2, y2, z2 = box
    return (x1 + col, y1 + row, z1 + depth, x2 + col, y2 + row, z2 + depth)


def _facts(
    candidate: _Candidate, *, spacing_mm: Sequence[float], positions: Sequence[float] = ()
) -> RegionFacts:
    """Facts counted on the published grid (sizes from the published spacing)."""
    coords = tuple(
        axis + part.start
        for axis, part in zip(np.nonzero(candidate.mask), candidate.bbox, strict=True)
    )
    # Centroids in the half-open box convention: pixel i spans [i, i+1), its centre is i + 0.5.
    means = [float(axis.mean()) + 0.5 for axis in coords]
    centroid = tuple(round(v, 2) for v in reversed(means))  # (x, y) or (x, y, z)
    size: float | None = None
    if len(spacing_mm) >= candidate.mask.ndim:
        area_mm = candidate.area * float(np.prod(spacing_mm[: candidate.mask.ndim]))
        size = area_mm / 1000.0 if candidate.mask.ndim == 3 else area_mm
    extent: tuple[float, ...] = ()
    largest: int | None = None
    if candidate.mask.ndim == 3:
        per_slice = candidate.mask.sum(axis=(1, 2))
        # First of equal maxima: deterministic.
        largest = int(np.argmax(per_slice)) + candidate.bbox[0].start
    if len(spacing_mm) >= candidate.mask.ndim:
        extent = _extent_mm(coords, spacing_mm, positions)
    return RegionFacts(
        area_px=candidate.area,
        size_mm=None if size is None else round(size, 3),
        centroid=centroid,
        extent_mm=extent,
        largest_slice=largest,
    )


def _extent_mm(
    coords: tuple[npt.NDArray[np.intp], ...],
    spacing_mm: Sequence[float],
    positions: Sequence[float] = (),
) -> tuple[float, ...]:
    """Box extent in mm, ordered (x, y[, z]): pixel count along each axis times its spacing.

    ``spacing_mm`` is (row, col[, between slices]) while ``coords`` are (row, col) or
    (slice, row, col).
    """
    spans = [int(axis.max()) - int(axis.min()) + 1 for axis in coords]
    if len(coords) == 2:
        rows, cols = spans
        return (round(cols * spacing_mm[1], 3), round(rows * spacing_mm[0], 3))
    slices, rows, cols = spans
    depth = slices * spacing_mm[2]
    if len(positions) > int(coords[0].max()):
        first, last = int(coords[0].min()), int(coords[0].max())
        depth = abs(positions[last] - positions[first]) + spacing_mm[2]
    return (round(cols * spacing_mm[1], 3), round(rows * spacing_mm[0], 3), round(depth, 3))


def _host(
    candidate: _Candidate,
    grid: npt.NDArray[np.integer],
    organ_values: Mapping[int, str],
    structure: npt.NDArray[np.bool_],
) -> str:
    """The organ that overlaps or touches (1-px dilation) the lesion the most, else ""."""
    from scipy import ndimage

    if not organ_values:
        return ""
    # Work in the lesion's bounding box grown by the 1-px dilation reach: lesions are small.
    window = tuple(
        slice(max(0, part.start - 1), min(size, part.stop + 1))
        for part, size in zip(candidate.bbox, grid.shape, strict=True)
    )
    grown = np.zeros([part.stop - part.start for part in window], dtype=bool)
    grown[
        tuple(
            slice(b.start - w.start, b.stop - w.start)
            for b, w in zip(candidate.bbox, window, strict=True)
        )
    ] = candidate.mask
    dilated = ndimage.binary_dilation(grown, structure=structure)
    values, counts = np.unique(grid[window][dilated], return_counts=True)
    contacts = [
        (count, organ_values[value])
        for value, count in zip(values.tolist(), counts.tolist(), strict=True)
        if value in organ_values
    ]
    if not contacts:
        return ""
    # Most contact wins; ties go to the alphabetically first name (deterministic).
    return min(contacts, key=lambda contact: (-contact[0], contact[1]))[1]
