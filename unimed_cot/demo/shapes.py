"""Procedural anatomy for the phantom source: grids in millimetres, ellipsoids, seeded anatomy.

Everything here is drawn in a *patient* frame, never in file voxel order: a ``Grid`` holds the
millimetre coordinate of every index along each array axis, and the anatomy tables give centres
and semi-axes in patient terms. For CT/MR volumes the grid axes are ``(x_L, y_P, z_S)`` (towards
patient Left, Posterior, Superior, i.e. nibabel axcodes LPS); ``phantom.py`` reorients the result
to each file's own voxel order and affine. Lesions are placed with a Euclidean distance transform
so that a whole lesion, plus one voxel, lies inside its host organ.

Intensities follow ``sources/3d-sources.md`` §14: HU for CT (air -1000, fat -100, soft tissue
30-60, contrast-enhanced aorta ~180, bone ~700, aerated lung ~-850); arbitrary T1-like values for
MR (0-1200).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

# Fixed label tables (value -> name). Values are part of the on-disk format: never renumber.
CT_LABELS: dict[int, str] = {
    1: "liver",
    2: "spleen",
    3: "left kidney",
    4: "right kidney",
    5: "aorta",
    6: "vertebra",
    7: "left lung",
    8: "right lung",
    9: "liver tumor",
    10: "kidney cyst",
    11: "lung nodule",
}
MR_LABELS: dict[int, str] = {
    1: "brain",
    2: "left lateral ventricle",
    3: "right lateral ventricle",
    4: "brain tumor",
}
XRAY_LABELS: dict[int, str] = {1: "right lung", 2: "left lung", 3: "heart", 4: "lung nodule"}
CT_SLICE_LABELS: dict[int, str] = {
    5: "liver",
    6: "spleen",
    7: "left kidney",
    8: "right kidney",
    9: "vertebra",
    10: "liver tumor",
}

# name -> (nominal intensity, possible hosts, radius range in mm)
CT_LESIONS: dict[str, tuple[float, tuple[str, ...], tuple[float, float]]] = {
    "liver tumor": (20.0, ("liver",), (8.0, 18.0)),
    "kidney cyst": (5.0, ("left kidney", "right kidney"), (6.0, 12.0)),
    "lung nodule": (-50.0, ("left lung", "right lung"), (5.0, 10.0)),
}
LESION_NAMES: tuple[str, ...] = ("liver tumor", "kidney cyst", "lung nodule", "brain tumor")


def label_value(table: dict[int, str], name: str) -> int:
    """The value of ``name`` in a label table.

    Raises:
        KeyError: ``name`` is not in the table.
    """
    for value, label in table.items():
        if label == name:
            return value
    raise KeyError(f"{name!r} is not in the label table")


@dataclass(frozen=True, slots=True)
class Grid:
    """Millimetre coordinate of each index along each array axis (axis-aligned, any ndim)."""

    axes: tuple[FloatArray, ...]

    @classmethod
    def centered(cls, shape: Sequence[int], spacing: Sequence[float]) -> Grid:
        """A grid whose origin (0 mm) is the centre of the array."""
        return cls(
            tuple(
                (np.arange(n, dtype=np.float64) - (n - 1) / 2.0) * float(s)
                for n, s in zip(shape, spacing, strict=True)
            )
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(axis) for axis in self.axes)

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(float(axis[1] - axis[0]) if len(axis) > 1 else 1.0 for axis in self.axes)

    def ellipsoid(self, center: Sequence[float], semi: Sequence[float]) -> BoolArray:
        """Voxels inside an axis-aligned ellipsoid; an infinite semi-axis makes a cylinder.

        Only the bounding box is evaluated, which keeps a 96x96x64 volume at a few ms per shape.
        """
        mask = np.zeros(self.shape, dtype=bool)
        slices: list[slice] = []
        terms: list[FloatArray] = []
        for axis, c, r in zip(self.axes, center, semi, strict=True):
            inside = np.flatnonzero(np.abs(axis - c) <= r)
            if inside.size == 0:
                return mask
            slices.append(slice(int(inside[0]), int(inside[-1]) + 1))
            terms.append(np.zeros(inside.size) if np.isinf(r) else ((axis[inside] - c) / r) ** 2)
        total = np.zeros([t.size for t in terms])
        for dim, term in enumerate(terms):
            shape = [1] * len(terms)
            shape[dim] = term.size
            total = total + term.reshape(shape)
        mask[tuple(slices)] = total <= 1.0
        return mask

    def point(self, index: Sequence[int]) -> tuple[float, ...]:
        return tuple(float(axis[i]) for axis, i in zip(self.axes, index, strict=True))


@dataclass(frozen=True, slots=True)
class Blob:
    """One painted structure: label value (0 = unlabelled tissue), intensity, ellipsoid."""

    label: int
    value: float
    center: tuple[float, ...]
    semi: tuple[float, ...]


def paint(
    grid: Grid, blobs: Sequence[Blob], *, background: float
) -> tuple[npt.NDArray[np.uint8], FloatArray]:
    """Paint blobs in order (later ones win) into a label map and an intensity map."""
    labels = np.zeros(grid.shape, dtype=np.uint8)
    values = np.full(grid.shape, background, dtype=np.float64)
    for blob in blobs:
        mask = grid.ellipsoid(blob.center, blob.semi)
        values[mask] = blob.value
        labels[mask] = blob.label
    return labels, values


def place_lesion(
    grid: Grid,
    host: BoolArray,
    rng: np.random.Generator,
    *,
    radius_range: tuple[float, float],
    allowed: BoolArray | None = None,
) -> tuple[BoolArray, tuple[int, ...], float] | None:
    """A ball inside ``host`` with a margin of one voxel, or None when the host is too small.

    The centre is drawn among host voxels whose distance to the host border exceeds the radius
    plus the largest voxel size, so that the lesion dilated by one voxel still lies in the host.
    """
    if not host.any():
        return None
    margin = max(grid.spacing)
    depth = _depth(host, grid.spacing)
    if allowed is not None:
        depth = np.where(allowed, depth, 0.0)
    radius = min(float(rng.uniform(*radius_range)), float(depth.max()) - margin)
    if radius < radius_range[0] * 0.6:
        return None
    candidates = np.flatnonzero(depth.ravel() > radius + margin)
    if candidates.size == 0:
        return None
    flat = int(candidates[rng.integers(candidates.size)])
    index = tuple(int(i) for i in np.unravel_index(flat, grid.shape))
    ball = grid.ellipsoid(grid.point(index), (radius,) * len(grid.shape))
    return ball & host, index, radius


def _depth(mask: BoolArray, spacing: Sequence[float]) -> FloatArray:
    """Distance (mm) from each voxel of ``mask`` to the nearest voxel outside it or the FOV edge.

    The transform runs on the mask's bounding box only (the costly step of generation otherwise).
    Axes of length one (a single plane) are not padded, so the plane edge is not a border.
    """
    depth = np.zeros(mask.shape)
    nonzero = np.nonzero(mask)
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in nonzero)
    pad = [(1, 1) if n > 1 else (0, 0) for n in mask.shape]
    crop = np.pad(mask[box], pad)
    inner = tuple(slice(p[0], p[0] + (s.stop - s.start)) for p, s in zip(pad, box, strict=True))
    depth[box] = ndimage.distance_transform_edt(crop, sampling=spacing)[inner]
    return depth


def _jitter(
    rng: np.random.Generator,
    center: Sequence[float],
    semi: Sequence[float],
    *,
    shift: float,
    scale: float,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    moved = tuple(c + float(rng.uniform(-shift, shift)) for c in center)
    factor = float(rng.uniform(1.0 - scale, 1.0 + scale))
    return moved, tuple(s * factor for s in semi)


def ct_anatomy(grid: Grid, rng: np.random.Generator) -> tuple[npt.NDArray[np.uint8], FloatArray]:
    """Chest/abdomen CT in HU on an (x_L, y_P, z_S) grid; labels from ``CT_LABELS``.

    ``rng`` draws the patient's anatomy (positions and sizes), so two scans of one patient share
    it. Structures painted later win, e.g. the liver dome displaces the right lung base.
    """
    inf = float("inf")
    body_scale = float(rng.uniform(0.92, 1.06))
    body = (150.0 * body_scale, 110.0 * body_scale, inf)
    table: list[tuple[str, float, tuple[float, float, float], tuple[float, float, float]]] = [
        ("", -100.0, (0.0, 0.0, 0.0), body),  # subcutaneous fat
        ("", 40.0, (0.0, 0.0, 0.0), (body[0] - 15, body[1] - 15, inf)),  # muscle wall
        ("", -70.0, (0.0, 0.0, 0.0), (body[0] - 25, body[1] - 25, inf)),  # visceral fat, bowel
        ("right lung", -850.0, (-75.0, 5.0, 110.0), (50.0, 75.0, 95.0)),
        ("left lung", -850.0, (75.0, 5.0, 110.0), (46.0, 75.0, 95.0)),
        ("", 40.0, (20.0, -25.0, 105.0), (55.0, 45.0, 45.0)),  # heart, unlabelled here
        ("liver", 60.0, (-60.0, -5.0, 15.0), (70.0, 75.0, 65.0)),
        ("spleen", 45.0, (85.0, 35.0, 35.0), (25.0, 35.0, 40.0)),
        ("right kidney", 30.0, (-60.0, 50.0, -35.0), (24.0, 26.0, 50.0)),
        ("left kidney", 30.0, (60.0, 50.0, -25.0), (24.0, 26.0, 50.0)),
        ("aorta", 180.0, (10.0, 25.0, 0.0), (11.0, 11.0, inf)),
        ("vertebra", 700.0, (0.0, 65.0, 0.0), (20.0, 18.0, inf)),
    ]
    blobs = []
    for name, value, center, semi in table:
        moved, scaled = tuple(center), tuple(semi)
        if name and name not in ("aorta", "vertebra"):  # midline landmarks stay on the midline
            moved, scaled = _jitter(rng, center, semi, shift=8.0, scale=0.1)
        blobs.append(Blob(label_value(CT_LABELS, name) if name else 0, value, moved, scaled))
    labels, values = paint(grid, blobs, background=-1000.0)
    # Partial volume at organ borders; lesions are painted afterwards and keep their values.
    return labels, ndimage.gaussian_filter(values, 0.6)


def add_ct_lesion(
    grid: Grid,
    labels: npt.NDArray[np.uint8],
    values: FloatArray,
    rng: np.random.Generator,
    name: str,
) -> tuple[str, tuple[int, ...], float] | None:
    """Put one lesion of kind ``name`` into a random host; returns (host, centre index, radius)."""
    value, hosts, radius_range = CT_LESIONS[name]
    present = [h for h in hosts if (labels == label_value(CT_LABELS, h)).any()]
    if not present:
        return None
    host = present[int(rng.integers(len(present)))]
    placed = place_lesion(
        grid, labels == label_value(CT_LABELS, host), rng, radius_range=radius_range
    )
    if placed is None:
        return None
    ball, index, radius = placed
    labels[ball] = label_value(CT_LABELS, name)
    values[ball] = value
    return host, index, radius


def mr_anatomy(grid: Grid, rng: np.random.Generator) -> tuple[npt.NDArray[np.uint8], FloatArray]:
    """T1-like brain MR on an (x_L, y_P, z_S) grid; labels from ``MR_LABELS``."""
    head = tuple(float(v) for v in rng.uniform(-5.0, 5.0, size=3))
    size = float(rng.uniform(0.92, 1.06))
    semi = (72.0 * size, 92.0 * size, 82.0 * size)

    def shell(mm: float) -> tuple[float, float, float]:
        return (semi[0] - mm, semi[1] - mm, semi[2] - mm)

    ventricle = (7.0 * size, 26.0 * size, 13.0 * size)
    offset = float(rng.uniform(14.0, 18.0))  # lateral enough to be "left"/"right"
    brain = label_value(MR_LABELS, "brain")
    left = label_value(MR_LABELS, "left lateral ventricle")
    right = label_value(MR_LABELS, "right lateral ventricle")
    blobs = [
        Blob(0, 900.0, head, semi),  # scalp fat: bright on T1
        Blob(0, 110.0, head, shell(6.0)),  # skull
        Blob(0, 260.0, head, shell(11.0)),  # CSF
        Blob(brain, 640.0, head, shell(14.0)),  # grey matter
        Blob(brain, 830.0, head, tuple(0.7 * s for s in shell(14.0))),  # white matter
        # Patient left is +x on this grid.
        Blob(left, 220.0, (head[0] + offset, head[1] - 5.0, head[2] + 12.0), ventricle),
        Blob(right, 220.0, (head[0] - offset, head[1] - 5.0, head[2] + 12.0), ventricle),
    ]
    labels, values = paint(grid, blobs, background=0.0)
    return labels, ndimage.gaussian_filter(values, 0.5)


def add_mr_tumor(
    grid: Grid, labels: npt.NDArray[np.uint8], values: FloatArray, rng: np.random.Generator
) -> tuple[str, tuple[int, ...], float] | None:
    """An enhancing brain tumour (dark core, bright rim) in one randomly chosen hemisphere."""
    x = grid.axes[0].reshape(-1, *([1] * (len(grid.shape) - 1)))
    left = bool(rng.integers(2))
    hemisphere = np.broadcast_to((x > 20.0) if left else (x < -20.0), grid.shape)
    brain = labels == label_value(MR_LABELS, "brain")
    placed = place_lesion(grid, brain, rng, radius_range=(10.0, 18.0), allowed=hemisphere)
    if placed is None:
        return None
    ball, index, radius = placed
    core = grid.ellipsoid(grid.point(index), (radius * 0.7,) * len(grid.shape))
    labels[ball] = label_value(MR_LABELS, "brain tumor")
    values[ball] = 1150.0
    values[ball & core] = 420.0
    return "brain", index, radius


def xray_anatomy(grid: Grid, rng: np.random.Generator) -> tuple[npt.NDArray[np.uint8], FloatArray]:
    """A PA chest radiograph on a (row = inferior, col = image right) grid, 0-255 brightness.

    PA view: the patient faces the viewer, so the patient's RIGHT lung is on the image LEFT.
    """
    height = grid.axes[0][-1] - grid.axes[0][0]
    width = grid.axes[1][-1] - grid.axes[1][0]
    hw, hh = width / 2.0, height / 2.0

    def blob(label: int, value: float, cx: float, cy: float, sx: float, sy: float) -> Blob:
        center, semi = _jitter(
            rng, (cy * hh, cx * hw), (sy * hh, sx * hw), shift=0.03 * hw, scale=0.06
        )
        return Blob(label, value, center, semi)

    blobs = [
        blob(0, 125.0, 0.0, 0.15, 0.86, 1.05),  # thorax soft tissue
        blob(0, 185.0, 0.0, 0.1, 0.07, 1.2),  # spine, seen through the mediastinum
        blob(1, 45.0, -0.4, -0.05, 0.27, 0.6),  # right lung (image left)
        blob(2, 45.0, 0.38, -0.02, 0.25, 0.57),  # left lung (image right)
        blob(3, 170.0, 0.1, 0.3, 0.27, 0.24),  # heart, shifted to the patient's left
    ]
    labels, values = paint(grid, blobs, background=12.0)
    values[~grid.ellipsoid(blobs[0].center, blobs[0].semi)] = 12.0  # direct exposure: dark
    rows, cols = np.meshgrid(grid.axes[0], grid.axes[1], indexing="ij")
    lungs = (labels == 1) | (labels == 2)
    for k in range(6):  # posterior ribs: bright arcs over the lungs
        arc = np.abs(rows - (-0.55 + 0.2 * k) * hh - 0.12 * hh * (np.abs(cols) / hw) ** 2)
        values[lungs & (arc < 0.018 * hh)] += 35.0
    return labels, values


def ct_slice_values(labels3d: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Map CT volume label values to the 2D CT slice table (structures absent there become 0)."""
    out = np.zeros_like(labels3d)
    for value, name in CT_LABELS.items():
        if name in CT_SLICE_LABELS.values():
            out[labels3d == value] = label_value(CT_SLICE_LABELS, name)
    return out
