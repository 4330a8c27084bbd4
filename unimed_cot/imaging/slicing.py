"""Which slices of a canonical volume are published: body extent, label statistics, strategies.

Strategies (``SerializeConfig.strategy``):

* ``uniform``: K slices at the centres of K equal bins over the body's extent along S (the air
  above and below the patient is skipped).
* ``roi``: every annotated region's slice span is represented by at least its first, its
  largest-area and its last slice (an organ is one region; a lesion label gives one region per
  3D connected component, as in ``regions.extract_regions``); the remaining slices are spread
  uniformly over the other body slices. A 2-slice lesion in a 300-slice scan is therefore never
  skipped, which ``uniform`` with K=32 does not promise.

Both return strictly increasing indices (a slice never repeats), so a short volume gives fewer
than K slices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ImagingError

# A slice belongs to the body when at least this fraction of it is foreground (ignores specks).
BODY_SLICE_FRACTION = 0.001


@dataclass(frozen=True, slots=True)
class LabelStats:
    """Voxel counts of every label value on every slice (axis 2) of a canonical label map.

    Attributes:
        values: label values present (non-zero), ascending.
        areas: (len(values), Z) voxel counts per slice.
    """

    values: tuple[int, ...]
    areas: npt.NDArray[np.int64]

    def voxels(self) -> dict[int, int]:
        """Total voxel count by label value."""
        totals = self.areas.sum(axis=1)
        return {v: int(totals[i]) for i, v in enumerate(self.values)}


def body_extent(foreground: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """First and last slice (axis 2) holding body voxels.

    Raises:
        ImagingError: no slice holds enough foreground (a blank volume).
    """
    per_slice = foreground.sum(axis=(0, 1))
    needed = max(1, int(BODY_SLICE_FRACTION * foreground.shape[0] * foreground.shape[1]))
    body = np.flatnonzero(per_slice >= needed)
    if body.size == 0:
        raise ImagingError("no body voxels found: the volume looks blank")
    return int(body[0]), int(body[-1])


def body_above(
    volume: npt.NDArray[np.generic], threshold: float
) -> tuple[int, int, npt.NDArray[np.bool_]]:
    """``body_extent`` of ``volume > threshold`` and the in-plane projection of its body slices.

    One pass, slice by slice, so no mask the size of the volume is made. Slices with some
    foreground but too little to count as body are revisited at the end when they lie between
    the first and the last body slice (rare: a gap inside the body).

    Returns:
        ``(first, last, projection)``: the body slices and where any of them holds foreground.

    Raises:
        ImagingError: no slice holds enough foreground (a blank volume).
    """
    values: npt.NDArray[Any] = np.asarray(volume)
    nx, ny, nz = values.shape
    needed = max(1, int(BODY_SLICE_FRACTION * nx * ny))
    projection = np.zeros((nx, ny), dtype=bool)
    body: list[int] = []
    sparse: list[int] = []  # some foreground, below the body fraction
    for z in range(nz):
        above = values[:, :, z] > threshold
        count = np.count_nonzero(above)
        if count >= needed:
            body.append(z)
            projection |= above
        elif count:
            sparse.append(z)
    if not body:
        raise ImagingError("no body voxels found: the volume looks blank")
    first, last = body[0], body[-1]
    for z in sparse:
        if first < z < last:
            projection |= values[:, :, z] > threshold
    return first, last, projection


def label_stats(labels: npt.NDArray[np.generic]) -> LabelStats:
    """Per-slice voxel counts of every non-zero label value, in one pass over the volume."""
    values = np.asarray(labels)
    depth = values.shape[2]
    if values.dtype == np.uint8:  # no min/max passes: 256 bins always fit
        size = 256
    elif values.size and values.min() >= 0 and values.max() < 1 << 16:
        size = int(values.max()) + 1
    else:
        size = 0
    if size:
        counts = np.zeros((depth, size), dtype=np.int64)
        for z in range(depth):
            counts[z] = _slice_histogram(values[:, :, z], size)
        present = tuple(int(v) for v in np.flatnonzero(counts.sum(axis=0)) if v != 0)
        return LabelStats(values=present, areas=counts[:, list(present)].T.copy())
    present = tuple(int(v) for v in np.unique(values) if v != 0)
    areas = np.stack([(values == v).sum(axis=(0, 1)) for v in present]) if present else None
    return LabelStats(
        values=present,
        areas=np.zeros((0, depth), np.int64) if areas is None else areas.astype(np.int64),
    )


def _slice_histogram(plane: npt.NDArray[Any], size: int) -> npt.NDArray[np.int64]:
    """Voxel count of each value ``0 .. size - 1`` on one slice."""
    # OpenCV's 8-bit histogram is ~1.5x faster than bincount, which first casts the slice to
    # intp; its float32 counts are exact below 2**24 pixels per slice.
    if plane.dtype == np.uint8 and plane.size < 1 << 24:
        import cv2

        image = np.ascontiguousarray(plane.T)  # a view for Fortran-ordered (nibabel) volumes
        hist = cv2.calcHist([image], [0], None, [size], [0, size])
        return hist.reshape(-1).astype(np.int64)
    # One bincount per slice: its input cast to intp is one slice (a few MB), not the volume.
    return np.bincount(plane.ravel(order="K"), minlength=size)


def region_spans(
    labels: npt.NDArray[np.generic], stats: LabelStats, lesion_values: Iterable[int]
) -> list[tuple[int, int, int]]:
    """(first, largest-area, last) slice of every region: organs whole, lesions per component."""
    from scipy import ndimage

    lesions = set(lesion_values)
    spans: list[tuple[int, int, int]] = []
    for row, value in enumerate(stats.values):
        if value not in lesions:
            spans.append(_span(stats.areas[row]))
            continue
        present = np.flatnonzero(stats.areas[row])
        box = _bounding_box(labels, value, int(present[0]), int(present[-1]) + 1)
        crop = np.asarray(labels[box]) == value
        components, _ = ndimage.label(crop, structure=np.ones((3, 3, 3), dtype=bool))
        for index, part in enumerate(ndimage.find_objects(components), start=1):
            if part is None:
                continue
            areas = (components[part] == index).sum(axis=(0, 1))
            first, largest, last = _span(areas)
            offset = box[2].start + part[2].start
            spans.append((first + offset, largest + offset, last + offset))
    return spans


def pick_uniform(n_body: int, first: int, k: int) -> list[int]:
    """K slice indices at the centres of K equal bins over ``first .. first + n_body - 1``.

    Requires ``k <= n_body``; the indices are then strictly increasing (no slice repeats).
    """
    return [first + int(np.floor((i + 0.5) * n_body / k)) for i in range(k)]


def pick_roi(
    first: int, last: int, k: int, spans: Iterable[tuple[int, int, int]]
) -> tuple[list[int], int]:
    """K strictly increasing slices that include every span's first, largest and last slice.

    The required slices come first; the rest are picked uniformly (bin centres) among the other
    body slices ``first..last``. When more than K slices are required, K of them are taken at
    evenly spaced ranks (the guarantee then cannot hold; the caller records it).

    Returns:
        The indices and the number of required slices.
    """
    required = sorted({z for span in spans for z in span})
    if len(required) >= k:
        ranks = pick_uniform(len(required), 0, k)
        return [required[r] for r in ranks], len(required)
    taken = set(required)
    pool = [z for z in range(first, last + 1) if z not in taken]
    extra = min(k - len(required), len(pool))
    fill = [pool[r] for r in pick_uniform(len(pool), 0, extra)] if extra else []
    return sorted([*required, *fill]), len(required)


def named_volumes_ml(
    stats: LabelStats, labels: Mapping[int, str], voxel_ml: float
) -> dict[str, float]:
    """Volume in ml of every present, named label (labels sharing a name are summed)."""
    volumes: dict[str, float] = {}
    for value, count in stats.voxels().items():
        name = labels.get(value)
        if name is not None:
            volumes[name] = volumes.get(name, 0.0) + count * voxel_ml
    return volumes


def _span(areas: npt.NDArray[np.integer]) -> tuple[int, int, int]:
    present = np.flatnonzero(areas)
    return int(present[0]), int(np.argmax(areas)), int(present[-1])


def _bounding_box(
    labels: npt.NDArray[np.generic], value: int, z_start: int, z_stop: int
) -> tuple[slice, slice, slice]:
    """In-plane bounding box of ``value`` within slices ``z_start:z_stop`` (small for lesions)."""
    slab = np.asarray(labels[:, :, z_start:z_stop]) == value
    xs = np.flatnonzero(slab.any(axis=(1, 2)))
    ys = np.flatnonzero(slab.any(axis=(0, 2)))
    return (
        slice(int(xs[0]), int(xs[-1]) + 1),
        slice(int(ys[0]), int(ys[-1]) + 1),
        slice(z_start, z_stop),
    )
