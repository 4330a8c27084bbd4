"""What a case's annotations say at full resolution, before any slice is picked or resized.

Every fact a question rests on comes from here: which labels are present anywhere in the case,
how big each structure is (voxels or pixels of its mask times the native spacing), where its
centre lies in the patient (canonical LPS millimetres), which sides of the body it occupies, the
organ that hosts a lesion, a lesion's mean intensity (HU on CT) next to its host's. Published
regions only add what the model sees (boxes on the published pixels).

A structure is an *entity*: an organ is one entity per label (its components together), a lesion
one entity per connected component of its label at full resolution (26-connectivity in 3D, 8 in
2D). ``Measurement.entity_plane`` paints a slice with entity values (organs keep their label
value, lesion components get values above every label value), which the serializer samples like
a label map; each published region is then exactly one entity, and a lesion that no published
slice shows (between picked slices, or smaller than a published pixel) is still known present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from .measures import (
    Crop,
    Footprint,
    bounding_boxes,
    components,
    height_mm,
    host,
    means,
    patient_mm,
    span,
    term,
)
from .slicing import LabelStats


@dataclass(frozen=True, slots=True)
class Entity:
    """One measured structure (an organ, or one lesion component) at full resolution.

    Attributes:
        value: its value in the entity grid (an organ's label value; lesions get new ones).
        label: the label name.
        is_lesion: one component of a lesion label.
        voxels: voxels (3D) or pixels (2D) of its mask.
        size_mm: ml (3D) or mm² (2D) from the mask and the native spacing; None when unknown.
        centroid: mean array index, (x, y, z) of the canonical volume or (col, row) in 2D.
        position_mm: 3D, geometry known: the centroid in patient mm (L, P, S); else empty.
        fraction: 2D: the centroid as fractions (x / width, y / height) of the image; else empty.
        side: "left" / "right" / "midline" of the body's midline (3D, geometry known) or "".
        ap: "anterior" / "posterior" of the body's front-back centre, or "" (near it, unknown).
        sides: the patient sides its voxels occupy ({"left"}, {"right"} or both); empty when
            orientation is unknown.
        extent_mm: size of its bounding box in mm, (x, y[, z]); empty when spacing is unknown.
        span: 3D: (first, largest-area, last) slice index along S; None in 2D.
        span_mm: 3D, geometry known: superior position (mm) of its first and last slice.
        host: a lesion's host organ: the organ it touches most (1-voxel dilation), or "".
        mean: mean intensity (HU on CT) when measured; None otherwise.
        host_mean: mean intensity of the host's voxels around the lesion; None when unmeasured.
        truncated: 3D: it reaches the first or the last slice of the volume (cut by the scan).
    """

    value: int
    label: str
    is_lesion: bool
    voxels: int
    size_mm: float | None
    centroid: tuple[float, ...]
    position_mm: tuple[float, ...] = ()
    fraction: tuple[float, ...] = ()
    side: str = ""
    ap: str = ""
    sides: frozenset[str] = frozenset()
    extent_mm: tuple[float, ...] = ()
    span: tuple[int, int, int] | None = None
    span_mm: tuple[float, float] | None = None
    host: str = ""
    mean: float | None = None
    host_mean: float | None = None
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class _Part:
    """Where one lesion component lies, to paint it into entity slices."""

    value: int
    crop: Crop  # in the full grid
    mask: npt.NDArray[np.bool_]  # the component inside ``crop``


@dataclass(slots=True)
class Measurement:
    """Every entity of a case and how to paint them into slices of the entity grid."""

    entities: dict[int, Entity] = field(default_factory=dict)
    parts: list[_Part] = field(default_factory=list)

    @property
    def present(self) -> frozenset[str]:
        """Names of the labels with at least one voxel."""
        return frozenset(e.label for e in self.entities.values())

    def names(self) -> dict[int, str]:
        """Entity value -> label name (for ``regions.extract_regions``)."""
        return {value: e.label for value, e in self.entities.items()}

    def lesion_values(self) -> frozenset[int]:
        return frozenset(v for v, e in self.entities.items() if e.is_lesion)

    def spans(self) -> list[tuple[int, int, int]]:
        """(first, largest, last) slice of every entity (3D), for ROI slice picking."""
        return [e.span for e in self.entities.values() if e.span is not None]

    def sides_by_label(self) -> dict[str, frozenset[str]]:
        """Lesion label -> every patient side its components occupy (orientation known)."""
        sides: dict[str, set[str]] = {}
        for entity in self.entities.values():
            if entity.is_lesion and entity.sides:
                sides.setdefault(entity.label, set()).update(entity.sides)
        return {label: frozenset(s) for label, s in sides.items()}

    def entity_plane(self, labels_2d: npt.NDArray[Any], z: int | None = None) -> npt.NDArray[Any]:
        """A label slice (axes as in the full grid: (x, y) of slice ``z``, or the 2D image)
        with every lesion component painted with its entity value; organs keep theirs."""
        plane = np.array(labels_2d, dtype=np.int32)
        for part in self.parts:
            if z is None:
                window = plane[part.crop]
                window[part.mask] = part.value
                continue
            zs = part.crop[2]
            if zs.start <= z < zs.stop:
                window = plane[part.crop[0], part.crop[1]]
                window[part.mask[:, :, z - zs.start]] = part.value
        return plane


@dataclass(frozen=True, slots=True)
class VolumeFrame:
    """The canonical volume's geometry, as the measurement needs it."""

    affine: npt.NDArray[np.floating]  # voxel -> RAS mm
    known: bool  # False: no trustworthy spacing or orientation (facts claim neither)
    body_x: tuple[int, int] | None = None  # half-open index range of the body along L
    body_y: tuple[int, int] | None = None  # ... along P


def measure_volume(
    labels: npt.NDArray[np.generic],
    *,
    names: Mapping[int, str],
    lesion_names: frozenset[str],
    stats: LabelStats,
    frame: VolumeFrame,
    intensity: npt.NDArray[np.generic] | None = None,
) -> Measurement:
    """Measure every named, present label of a canonical (L, P, S) label volume.

    Args:
        labels: the label volume.
        names: label value -> name; other values are ignored.
        lesion_names: names whose components are separate lesions.
        stats: per-slice voxel counts of ``labels`` (``slicing.label_stats``).
        frame: affine, whether the geometry is known, and the body's in-plane extent.
        intensity: the intensity volume on the same grid (CT in HU), for mean intensities.
    """
    grid = np.asarray(labels)
    areas = dict(zip(stats.values, stats.areas, strict=True))
    measure = _VolumeMeasure(grid, frame)
    measured = Measurement()
    next_value = max([*names, *stats.values, 0]) + 1
    boxes = bounding_boxes(grid, [v for v in stats.values if v in names])
    organs = {v: n for v, n in names.items() if n not in lesion_names and v in boxes}
    for value in sorted(boxes):
        name, crop = names[value], boxes[value]
        mask = grid[crop] == value
        if name not in lesion_names:
            measured.entities[value] = measure.entity(value, name, mask, crop, span(areas[value]))
            continue
        for part, where in components(mask, crop):
            host_name, host_value = host(part, where, grid, organs)
            found = (
                means(part, where, intensity, grid, host_value) if intensity is not None else None
            )
            measured.entities[next_value] = measure.entity(
                next_value,
                name,
                part,
                where,
                span(part.sum(axis=(0, 1)), offset=where[2].start),
                lesion=(host_name, found),
            )
            measured.parts.append(_Part(next_value, where, part))
            next_value += 1
    return measured


def measure_image(
    labels: npt.NDArray[np.generic],
    *,
    names: Mapping[int, str],
    lesion_names: frozenset[str],
    spacing_mm: tuple[float, float] | None,
    intensity: npt.NDArray[np.generic] | None = None,
) -> Measurement:
    """Measure every named, present label of a 2D (H, W) label image at its own resolution.

    Args:
        labels: the label image.
        names: label value -> name.
        lesion_names: names whose components are separate lesions.
        spacing_mm: (row, col) pixel spacing, when known.
        intensity: the image in HU (2D CT that declares it), for mean intensities.
    """
    grid = np.asarray(labels)
    measured = Measurement()
    next_value = max([*names, 0]) + 1
    boxes = bounding_boxes(grid, [v for v in names if v > 0])
    organs = {v: n for v, n in names.items() if n not in lesion_names and v in boxes}
    for value in sorted(boxes):
        name, crop = names[value], boxes[value]
        mask = grid[crop] == value
        if name not in lesion_names:
            measured.entities[value] = _image_entity(
                value, name, mask, crop, grid.shape, spacing_mm
            )
            continue
        for part, where in components(mask, crop):
            host_name, host_value = host(part, where, grid, organs)
            found = (
                means(part, where, intensity, grid, host_value) if intensity is not None else None
            )
            entity = _image_entity(next_value, name, part, where, grid.shape, spacing_mm)
            measured.entities[next_value] = replace(
                entity,
                is_lesion=True,
                host=host_name,
                mean=None if found is None else found[0],
                host_mean=None if found is None else found[1],
            )
            measured.parts.append(_Part(next_value, where, part))
            next_value += 1
    return measured


@dataclass(frozen=True, slots=True)
class _VolumeMeasure:
    """Measures entities of one canonical volume (its frame, spacing and depth fixed)."""

    grid: npt.NDArray[Any]
    frame: VolumeFrame

    def entity(
        self,
        value: int,
        name: str,
        mask: npt.NDArray[np.bool_],
        crop: Crop,
        slices: tuple[int, int, int],
        lesion: tuple[str, tuple[float | None, float | None] | None] | None = None,
    ) -> Entity:
        """An organ (``lesion`` None) or a lesion component with (host, (mean, host mean))."""
        frame = self.frame
        footprint = Footprint.of(mask, crop)
        centre = footprint.centroid()
        voxels = footprint.voxels
        facts: dict[str, Any] = {"size_mm": None}  # no spacing, no size in mm
        if frame.known:
            spacing = np.linalg.norm(frame.affine[:3, :3], axis=0)
            voxel_ml = abs(float(np.linalg.det(frame.affine[:3, :3]))) / 1000.0
            facts["size_mm"] = round(voxels * voxel_ml, 4)
            facts["position_mm"] = tuple(round(v, 2) for v in patient_mm(frame.affine, centre))
            facts["extent_mm"] = tuple(
                round(footprint.extent(axis) * float(spacing[axis]), 3) for axis in range(3)
            )
            facts["span_mm"] = (
                height_mm(frame.affine, centre, slices[0]),
                height_mm(frame.affine, centre, slices[2]),
            )
            if frame.body_x is not None and frame.body_y is not None:
                facts["side"] = term(
                    centre[0], frame.body_x, low="right", high="left", middle="midline"
                )
                facts["ap"] = term(centre[1], frame.body_y, low="anterior", high="posterior")
                facts["sides"] = footprint.sides(frame.body_x)
        if lesion is not None:
            host_name, found = lesion
            facts["host"] = host_name
            if found is not None:
                facts["mean"], facts["host_mean"] = found
        depth = self.grid.shape[2]
        return Entity(
            value=value,
            label=name,
            is_lesion=lesion is not None,
            voxels=voxels,
            centroid=tuple(round(c, 3) for c in centre),
            span=slices,
            truncated=slices[0] == 0 or slices[2] == depth - 1,
            **facts,
        )


def _image_entity(
    value: int,
    name: str,
    mask: npt.NDArray[np.bool_],
    crop: Crop,
    shape: tuple[int, ...],
    spacing_mm: tuple[float, float] | None,
) -> Entity:
    """An organ of a 2D label image (a lesion component gets its host added by the caller)."""
    footprint = Footprint.of(mask, crop)
    voxels = footprint.voxels
    row, col = footprint.centroid()
    height, width = shape[:2]
    size_mm: float | None = None
    extent_mm: tuple[float, ...] = ()
    if spacing_mm is not None:
        size_mm = round(voxels * spacing_mm[0] * spacing_mm[1], 3)
        extent_mm = (
            round(footprint.extent(1) * spacing_mm[1], 3),
            round(footprint.extent(0) * spacing_mm[0], 3),
        )
    return Entity(
        value=value,
        label=name,
        is_lesion=False,
        voxels=voxels,
        size_mm=size_mm,
        centroid=(round(col, 3), round(row, 3)),
        fraction=(round((col + 0.5) / width, 5), round((row + 0.5) / height, 5)),
        extent_mm=extent_mm,
    )
