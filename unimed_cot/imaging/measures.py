"""Measurements of one mask at full resolution, for ``truth``: centre, extent, slice span,
patient mm, which side of the midline, the host organ a lesion touches, mean intensities.

Every function works on a mask cropped to its bounding box (``crop``: where it lies in the full
grid), so a small lesion in a large volume costs what the lesion costs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# Half-width of the "midline" band (and the "no claim" front/back band) as a fraction of the
# body's extent.
MIDLINE_BAND = 0.05
# Lesion vs host attenuation is compared on the host voxels within this many voxels of the lesion.
HOST_RING_VOXELS = 3

Crop = tuple[slice, ...]


def bounding_boxes(grid: npt.NDArray[Any], values: list[int]) -> dict[int, Crop]:
    """Bounding box of each wanted value present in ``grid`` (one ``find_objects`` pass).

    The pass runs over the array in its memory order (a canonical volume is usually a flipped,
    Fortran-ordered view of the file's buffer, where ``find_objects`` is ~4x slower) and the
    boxes are mapped back to the view's axes.
    """
    from scipy import ndimage

    wanted = sorted({int(v) for v in values if int(v) > 0})
    if not wanted or grid.size == 0:
        return {}
    if int(grid.min()) < 0:  # find_objects reads labels as non-negative; crop nothing
        whole = tuple(slice(0, n) for n in grid.shape)
        return {v: whole for v in wanted if np.any(grid == v)}
    view, flipped, order = _memory_order(grid)
    objects = ndimage.find_objects(view, max_label=wanted[-1])
    boxes: dict[int, Crop] = {}
    for value in wanted:
        found = objects[value - 1]
        if found is None:
            continue
        box = [slice(0, 0)] * grid.ndim
        for position, axis in enumerate(order):
            part, size = found[position], grid.shape[axis]
            box[axis] = slice(size - part.stop, size - part.start) if axis in flipped else part
        boxes[value] = tuple(box)
    return boxes


def _memory_order(
    grid: npt.NDArray[Any],
) -> tuple[npt.NDArray[Any], set[int], list[int]]:
    """A view of ``grid`` with positive strides in decreasing order (C order for a contiguous
    buffer), the axes it flipped, and ``order[i]``: the axis of ``grid`` that is its axis i."""
    view = grid
    flipped = {axis for axis, stride in enumerate(grid.strides) if stride < 0}
    for axis in flipped:
        view = np.flip(view, axis)
    order = sorted(range(grid.ndim), key=lambda axis: -view.strides[axis])
    return view.transpose(order), flipped, order


def components(
    mask: npt.NDArray[np.bool_], crop: Crop
) -> Iterator[tuple[npt.NDArray[np.bool_], Crop]]:
    """Each connected component (full connectivity) of a cropped mask, cropped in its turn."""
    from scipy import ndimage

    labelled, _ = ndimage.label(mask, structure=np.ones((3,) * mask.ndim, dtype=bool))
    for index, part in enumerate(ndimage.find_objects(labelled), start=1):
        if part is None:
            continue
        where = tuple(
            slice(p.start + c.start, p.stop + c.start) for p, c in zip(part, crop, strict=True)
        )
        yield labelled[part] == index, where


@dataclass(frozen=True, slots=True)
class Footprint:
    """How many voxels of a mask lie at each index along each axis (of the full grid): enough
    for its size, centre, extent and sides, from two passes over the cropped mask."""

    counts: tuple[npt.NDArray[np.int64], ...]
    starts: tuple[int, ...]

    @classmethod
    def of(cls, mask: npt.NDArray[np.bool_], crop: Crop) -> Footprint:
        counts: tuple[npt.NDArray[np.int64], ...]
        if mask.ndim == 3:
            plane = mask.sum(axis=2, dtype=np.int64)  # one pass gives both in-plane axes
            counts = (plane.sum(axis=1), plane.sum(axis=0), mask.sum(axis=(0, 1), dtype=np.int64))
        else:
            counts = (mask.sum(axis=1, dtype=np.int64), mask.sum(axis=0, dtype=np.int64))
        return cls(tuple(np.asarray(c) for c in counts), tuple(c.start for c in crop))

    @property
    def voxels(self) -> int:
        return int(self.counts[0].sum())

    def centroid(self) -> tuple[float, ...]:
        """Mean index of the voxels along each axis."""
        total = float(self.voxels)
        return tuple(
            float(c @ (np.arange(c.size) + start)) / total
            for c, start in zip(self.counts, self.starts, strict=True)
        )

    def span(self, axis: int) -> tuple[int, int]:
        """First and last index holding a voxel along ``axis``."""
        present = np.flatnonzero(self.counts[axis])
        start = self.starts[axis]
        return int(present[0]) + start, int(present[-1]) + start

    def extent(self, axis: int) -> int:
        """Indices from the first to the last voxel along ``axis``."""
        first, last = self.span(axis)
        return last - first + 1

    def sides(self, body_x: tuple[int, int]) -> frozenset[str]:
        """The patient sides (axis 0 grows to the patient's left) its voxels occupy."""
        midline = (body_x[0] + body_x[1] - 1) / 2
        first, last = self.span(0)
        found = set()
        if last > midline:
            found.add("left")
        if first < midline:
            found.add("right")
        return frozenset(found)


def span(areas: npt.NDArray[np.integer], offset: int = 0) -> tuple[int, int, int]:
    """(first, largest-area, last) index of non-zero ``areas`` (first of equal maxima)."""
    present = np.flatnonzero(areas)
    return (
        int(present[0]) + offset,
        int(np.argmax(areas)) + offset,
        int(present[-1]) + offset,
    )


def patient_mm(affine: npt.NDArray[np.floating], index: tuple[float, ...]) -> tuple[float, ...]:
    """A voxel index of the canonical volume as patient (L, P, S) mm (RAS negated in x, y)."""
    ras = affine @ np.array([*index, 1.0])
    return (-float(ras[0]), -float(ras[1]), float(ras[2]))


def height_mm(affine: npt.NDArray[np.floating], centre: tuple[float, ...], z: int) -> float:
    """Superior position (mm) of slice ``z`` under a structure's centre."""
    return round(float(affine[2] @ np.array([centre[0], centre[1], float(z), 1.0])), 3)


def term(value: float, extent: tuple[int, int], *, low: str, high: str, middle: str = "") -> str:
    """Which side of the centre of ``extent`` (half-open, index units) a centroid lies on."""
    start, stop = extent
    centre = (start + stop - 1) / 2  # between the first and the last body voxel
    band = MIDLINE_BAND * (stop - start)
    if value < centre - band:
        return low
    if value > centre + band:
        return high
    return middle


def host(
    mask: npt.NDArray[np.bool_], crop: Crop, grid: npt.NDArray[Any], organs: Mapping[int, str]
) -> tuple[str, int | None]:
    """The organ a lesion overlaps or touches (1-voxel dilation) the most, and its value; ties
    go to the alphabetically first name."""
    from scipy import ndimage

    if not organs:
        return "", None
    window = _grown(crop, grid.shape, 1)
    dilated = ndimage.binary_dilation(
        _place(mask, crop, window), structure=np.ones((3,) * mask.ndim, dtype=bool)
    )
    values, counts = np.unique(np.asarray(grid[window])[dilated], return_counts=True)
    contacts = [
        (int(c), organs[int(v)], int(v))
        for v, c in zip(values.tolist(), counts.tolist(), strict=True)
        if int(v) in organs
    ]
    if not contacts:
        return "", None
    _, name, value = min(contacts, key=lambda contact: (-contact[0], contact[1]))
    return name, value


def means(
    mask: npt.NDArray[np.bool_],
    crop: Crop,
    intensity: npt.NDArray[Any],
    grid: npt.NDArray[Any],
    host_value: int | None,
) -> tuple[float | None, float | None]:
    """Mean intensity of a lesion, and of its host's voxels within a few voxels of it."""
    from scipy import ndimage

    lesion = round(float(np.asarray(intensity[crop], dtype=np.float64)[mask].mean()), 1)
    if host_value is None:
        return lesion, None
    window = _grown(crop, grid.shape, HOST_RING_VOXELS)
    placed = _place(mask, crop, window)
    ring = ndimage.binary_dilation(
        placed, structure=np.ones((3,) * mask.ndim, dtype=bool), iterations=HOST_RING_VOXELS
    )
    ring &= ~placed & (np.asarray(grid[window]) == host_value)
    if not ring.any():
        return lesion, None
    around = float(np.asarray(intensity[window], dtype=np.float64)[ring].mean())
    return lesion, round(around, 1)


def _grown(crop: Crop, shape: tuple[int, ...], grow: int) -> Crop:
    return tuple(
        slice(max(0, c.start - grow), min(n, c.stop + grow))
        for c, n in zip(crop, shape, strict=True)
    )


def _place(mask: npt.NDArray[np.bool_], crop: Crop, window: Crop) -> npt.NDArray[np.bool_]:
    """``mask`` (lying at ``crop``) inside a zero array covering ``window``."""
    out = np.zeros([w.stop - w.start for w in window], dtype=bool)
    inner = tuple(
        slice(c.start - w.start, c.stop - w.start) for c, w in zip(crop, window, strict=True)
    )
    out[inner] = mask
    return out
