"""Where regions are and how big, from the facts measured at full resolution.

Positions: 3D regions carry their centroid in patient millimetres (``RegionFacts.position_mm``,
canonical LPS: x to the patient's left, y posterior, z superior); 2D regions their centroid as
fractions of the image (``RegionFacts.fraction``). Regions made by hand without those fall back
to the published centroid. Directions are read in the frame of ``frames.Axes``: the patient's
for volumes and for 2D images whose source declares its orientation, the image's otherwise.
Every stated relation is also checked against the regions' own side / front-back terms, so a
disagreement between the two makes the pair unusable instead of producing a wrong answer.
Superior/inferior is only ever stated between two structures (from their mm positions), never as
an absolute position: a volume's scanned extent is no anatomical reference.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from unimed_cot.samples import Region

from .context import QuestionContext, capitalize
from .frames import Axes

SEP_MM = 10.0  # minimal centroid separation (3D, spacing known) for a stated relation
SEP_FRACTION = 0.08  # the same as a fraction of the image extent (2D, or spacing unknown)
# A direction is offered as a (false) option only when A lies at most this share of the margin
# that way: a direction that nearly holds is neither the answer nor a distractor.
FALSE_SHARE = 0.25
GRID_BAND = 0.03  # 2D positions this close to a third-line are ambiguous

# Patient terms of RegionFacts, per axis, in their order along the axis (consistency checks).
TERM_AXES: dict[str, tuple[str, ...]] = {
    "side": ("right", "midline", "left"),
    "ap": ("anterior", "posterior"),
}
# A direction claimed for A relative to B, as (facts field, +1 when A's term must rank higher).
_DIRECTION_TERM: dict[str, tuple[str, int]] = {
    "left": ("side", 1),
    "right": ("side", -1),
    "posterior": ("ap", 1),
    "anterior": ("ap", -1),
}

_VERTICAL = ("Upper", "Middle", "Lower")
_HORIZONTAL = ("left", "middle", "right")


@dataclass(frozen=True, slots=True)
class Relation:
    """Where A lies relative to B along its clearest axis, and which directions are surely false.

    ``deltas`` are A minus B along each axis, in ``unit``.
    """

    direction: str
    false_directions: tuple[str, ...]
    separation: float
    unit: str  # "mm" or "of the image"
    deltas: tuple[float, ...] = ()

    def describe(self) -> str:
        if self.unit == "mm":
            return f"{self.separation:.0f} mm"
        return f"{100 * self.separation:.0f}% {self.unit}"


def relation(ctx: QuestionContext, a: Region, b: Region) -> Relation | None:
    """The relation of A to B, or None when no axis separates them clearly.

    The axis is the one with the largest centroid separation, which must exceed a margin; other
    directions enter the distractors only when A clearly does not lie that way.
    """
    axes, placed_a, placed_b = ctx.axes, positions(ctx, a), positions(ctx, b)
    if axes is None or placed_a is None or placed_b is None:
        return None
    (pa, unit), (pb, _) = placed_a, placed_b
    if len(pa) != len(axes.directions) or len(pb) != len(pa):
        return None
    margin = SEP_MM if unit == "mm" else SEP_FRACTION
    deltas = [x - y for x, y in zip(pa, pb, strict=True)]
    usable = [i for i in range(len(deltas)) if not _coverage_bound(ctx, a, b, i)]
    if not usable:
        return None
    axis = max(usable, key=lambda i: abs(deltas[i]))
    if abs(deltas[axis]) < margin:
        return None
    direction = axes.directions[axis][0] if deltas[axis] > 0 else axes.directions[axis][1]
    if _contradicts(a, b, direction):
        return None
    false: list[str] = []
    for index, ((larger, smaller), delta) in enumerate(zip(axes.directions, deltas, strict=True)):
        if index not in usable:
            continue  # neither true nor false: it depends on the scan's coverage
        if delta <= FALSE_SHARE * margin:
            false.append(larger)  # A does not lie (clearly) towards a larger coordinate
        if -delta <= FALSE_SHARE * margin:
            false.append(smaller)
    false = [d for d in false if d != direction]
    return Relation(direction, tuple(false), abs(deltas[axis]), unit, tuple(deltas))


def _coverage_bound(ctx: QuestionContext, a: Region, b: Region, axis: int) -> bool:
    """A volume's superior-inferior axis between two structures of which one is cut by the
    first or the last slice: their centres there move with the scan's coverage."""
    if ctx.dims != 3 or axis != 2:
        return False
    return any(r.facts is not None and r.facts.truncated for r in (a, b))


def positions(ctx: QuestionContext, region: Region) -> tuple[tuple[float, ...], str] | None:
    """The region's centre in mm (3D, known geometry) or as fractions of the image extent."""
    facts = region.facts
    if facts is None:
        return None
    if ctx.dims == 3 and len(facts.position_mm) == 3:
        return tuple(facts.position_mm), "mm"
    if ctx.dims == 2 and len(facts.fraction) == 2:
        return tuple(facts.fraction), "of the image"
    return _published_position(ctx, region)


def _published_position(
    ctx: QuestionContext, region: Region
) -> tuple[tuple[float, ...], str] | None:
    """Centroid from the published pixels (regions made without full-resolution facts)."""
    size = ctx.image_size
    facts = region.facts
    if size is None or facts is None or len(facts.centroid) != ctx.dims:
        return None
    width, height = size
    x, y = facts.centroid[0], facts.centroid[1]
    if ctx.dims == 2:
        return (x / width, y / height), "of the image"
    z = facts.centroid[2]
    spacing = ctx.pixels.spacing_mm
    slice_mm = ctx.pixels.slice_positions_mm
    if len(spacing) >= 2 and min(spacing[:2]) > 0:
        if len(slice_mm) == ctx.n_slices and ctx.n_slices > 1:
            # Slice positions may be uneven; the index still gives the direction.
            z_mm = float(np.interp(z, np.arange(ctx.n_slices), np.asarray(slice_mm)))
            z_mm = z_mm if slice_mm[-1] >= slice_mm[0] else -z_mm
            return (x * spacing[1], y * spacing[0], z_mm), "mm"
        if len(spacing) == 3 and spacing[2] > 0:
            return (x * spacing[1], y * spacing[0], z * spacing[2]), "mm"
    return (x / width, y / height, z / max(ctx.n_slices, 1)), "of the image"


def _contradicts(a: Region, b: Region, direction: str) -> bool:
    """True when the regions' own patient terms say the opposite of ``direction``."""
    if direction not in _DIRECTION_TERM or a.facts is None or b.facts is None:
        return False
    field, sign = _DIRECTION_TERM[direction]
    order = TERM_AXES[field]
    term_a, term_b = getattr(a.facts, field), getattr(b.facts, field)
    if term_a not in order or term_b not in order:
        return False
    return sign * (order.index(term_a) - order.index(term_b)) < 0


# --- absolute positions -------------------------------------------------------------------


def patient_terms(region: Region) -> dict[str, str]:
    """The region's non-empty patient terms by facts field (side, ap)."""
    if region.facts is None:
        return {}
    terms = {f: str(getattr(region.facts, f)).strip().lower() for f in TERM_AXES}
    return {f: t for f, t in terms.items() if t in TERM_AXES[f]}


def patient_position_text(terms: dict[str, str]) -> str:
    """``{"side": "right", "ap": "anterior"}`` -> ``"Patient's right, anterior"``."""
    words = []
    for field in TERM_AXES:
        term = terms.get(field)
        if term:
            words.append(f"patient's {term}" if term in ("left", "right") else term)
    return capitalize(", ".join(words))


def patient_position_alternatives(terms: dict[str, str]) -> list[str]:
    """Every other combination of terms on the same axes (each false for this region)."""
    fields = [f for f in TERM_AXES if f in terms]
    combos = (
        dict(zip(fields, combo, strict=True))
        for combo in itertools.product(*(TERM_AXES[f] for f in fields))
    )
    return [patient_position_text(c) for c in combos if c != {f: terms[f] for f in fields}]


def image_cell(ctx: QuestionContext, region: Region) -> tuple[int, int] | None:
    """(row, column) of the region's centre on a 3x3 grid of the image, None near a grid line."""
    placed = positions(ctx, region)
    if placed is None or placed[1] != "of the image" or len(placed[0]) < 2:
        return None
    x, y = placed[0][0], placed[0][1]
    cell = []
    for fraction in (y, x):
        if any(abs(fraction - line) < GRID_BAND for line in (1 / 3, 2 / 3)):
            return None
        cell.append(min(2, max(0, int(fraction * 3))))
    return cell[0], cell[1]


def image_cell_text(cell: tuple[int, int]) -> str:
    row, col = cell
    if cell == (1, 1):
        return "Center of the image"
    return f"{_VERTICAL[row]} {_HORIZONTAL[col]} of the image"


def image_cell_alternatives(cell: tuple[int, int]) -> list[str]:
    """Other grid cells, the clearly distant ones (not adjacent) first."""
    others = [c for c in itertools.product(range(3), range(3)) if c != cell]
    others.sort(key=lambda c: -max(abs(c[0] - cell[0]), abs(c[1] - cell[1])))
    far = [c for c in others if max(abs(c[0] - cell[0]), abs(c[1] - cell[1])) >= 2]
    return [image_cell_text(c) for c in (far if len(far) >= 3 else others)]


def frame_axes(axes: Axes | None) -> str:
    return "" if axes is None else axes.frame


# --- sizes --------------------------------------------------------------------------------


def comparable_sizes(a: Region, b: Region) -> tuple[float, float] | None:
    """Sizes of A and B in one unit: physical when both are known, else mask voxels / pixels.

    A region without a mask count (a bare box) has no size: a box's area is not a size.
    """
    if a.facts is None or b.facts is None:
        return None
    if a.facts.size_mm is not None and b.facts.size_mm is not None:
        return a.facts.size_mm, b.facts.size_mm
    if a.facts.voxels is not None and b.facts.voxels is not None:
        return float(a.facts.voxels), float(b.facts.voxels)
    return None


def describe_size(region: Region, dims: int) -> str:
    """The size of a region in words: ``"a volume of 1523 ml"``, ``"an area of 812 pixels"``."""
    facts = region.facts
    if facts is None:
        return "an unknown size"
    if facts.size_mm is not None:
        amount = format_quantity(facts.size_mm)
        return f"a volume of {amount} ml" if dims == 3 else f"an area of {amount} mm²"
    if facts.voxels is None:
        return "an unknown size"
    unit = "voxels" if dims == 3 else "pixels"
    return f"{'a volume' if dims == 3 else 'an area'} of {facts.voxels} {unit}"


def format_quantity(value: float) -> str:
    """A measured quantity with the digits that matter: 1523, 14.2, 0.14, 0.0016."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}"
    return f"{value:.2g}"
