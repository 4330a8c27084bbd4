"""Where regions are and how big, in words: patient terms for volumes, image terms for 2D images.

Published slices follow the canonical frame of ``records.CANONICAL_AXCODES`` (LPS) shown the
radiological way: on an axial slice patient left is on the image RIGHT and anterior at the TOP,
and the slice index grows superiorly. ``PATIENT_AXES`` writes that down per plane; for coronal and
sagittal stacks it assumes the same display habit (superior at the top; coronal slices ordered
anterior -> posterior; sagittal slices right -> left with anterior on the image left). Every stated
relation is also checked against the regions' own side / ap / si terms, so a disagreement between
the two makes the pair unusable instead of producing a wrong answer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from unimed_cot.records import Region

from .context import QuestionContext, capitalize

SEP_MM = 10.0  # minimal centroid separation (3D, spacing known) for a stated relation
SEP_FRACTION = 0.08  # the same as a fraction of the image extent (2D, or spacing unknown)
GRID_BAND = 0.03  # 2D positions this close to a third-line are ambiguous

# Per plane, per published axis (x, y, z): the direction of A relative to B when A's coordinate
# is larger, and when it is smaller.
PATIENT_AXES: dict[str, tuple[tuple[str, str], ...]] = {
    "axial": (("left", "right"), ("posterior", "anterior"), ("superior", "inferior")),
    "coronal": (("left", "right"), ("inferior", "superior"), ("posterior", "anterior")),
    "sagittal": (("posterior", "anterior"), ("inferior", "superior"), ("left", "right")),
}
IMAGE_AXES: tuple[tuple[str, str], ...] = (("image-right", "image-left"), ("below", "above"))

RELATION_TEXT: dict[str, str] = {
    "left": "Left of the {b}",
    "right": "Right of the {b}",
    "anterior": "Anterior to the {b}",
    "posterior": "Posterior to the {b}",
    "superior": "Superior to the {b}",
    "inferior": "Inferior to the {b}",
    "image-left": "Left of the {b}",
    "image-right": "Right of the {b}",
    "above": "Above the {b}",
    "below": "Below the {b}",
}

# Patient terms of RegionFacts, per axis, in their order along the axis (for consistency checks).
TERM_AXES: dict[str, tuple[str, ...]] = {
    "side": ("right", "midline", "left"),
    "ap": ("anterior", "posterior"),
    "si": ("inferior", "superior"),
}
# A direction claimed for A relative to B, as (facts field, +1 when A's term must rank higher).
_DIRECTION_TERM: dict[str, tuple[str, int]] = {
    "left": ("side", 1),
    "right": ("side", -1),
    "posterior": ("ap", 1),
    "anterior": ("ap", -1),
    "superior": ("si", 1),
    "inferior": ("si", -1),
}

_VERTICAL = ("Upper", "Middle", "Lower")
_HORIZONTAL = ("left", "middle", "right")


@dataclass(frozen=True, slots=True)
class Relation:
    """Where A lies relative to B along its clearest axis, and which directions are surely false."""

    direction: str
    false_directions: tuple[str, ...]
    separation: float
    unit: str  # "mm" or "of the image"

    def describe(self) -> str:
        if self.unit == "mm":
            return f"{self.separation:.0f} mm"
        return f"{100 * self.separation:.0f}% {self.unit}"


def relation(ctx: QuestionContext, a: Region, b: Region) -> Relation | None:
    """The relation of A to B, or None when no axis separates them clearly.

    The axis is the one with the largest centroid separation, which must exceed a margin; other
    directions enter the distractors only when they are clearly false.
    """
    axes, placed_a, placed_b = _axes(ctx), _positions(ctx, a), _positions(ctx, b)
    if axes is None or placed_a is None or placed_b is None:
        return None
    (pa, unit), (pb, _) = placed_a, placed_b
    margin = SEP_MM if unit == "mm" else SEP_FRACTION
    deltas = [x - y for x, y in zip(pa, pb, strict=True)]
    axis = int(np.argmax(np.abs(deltas)))
    if abs(deltas[axis]) < margin:
        return None
    direction = axes[axis][0] if deltas[axis] > 0 else axes[axis][1]
    if _contradicts(a, b, direction):
        return None
    false: list[str] = []
    for (larger, smaller), delta in zip(axes, deltas, strict=True):
        if abs(delta) >= margin:
            false.append(smaller if delta > 0 else larger)
        elif abs(delta) < margin / 2:
            false.extend((larger, smaller))
    return Relation(direction, tuple(false), abs(deltas[axis]), unit)


def _axes(ctx: QuestionContext) -> tuple[tuple[str, str], ...] | None:
    if ctx.dims == 2:
        return IMAGE_AXES
    if not ctx.pixels.orientation_known:
        return None
    return PATIENT_AXES.get(ctx.pixels.plane)


def _positions(ctx: QuestionContext, region: Region) -> tuple[tuple[float, ...], str] | None:
    """Centroid in mm (3D with known spacing) or as fractions of the image extent."""
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
    positions = ctx.pixels.slice_positions_mm
    if len(spacing) >= 2 and min(spacing[:2]) > 0:
        if len(positions) == ctx.n_slices and ctx.n_slices > 1:
            # Slice positions may be uneven; the index still gives the direction.
            z_mm = float(np.interp(z, np.arange(ctx.n_slices), np.asarray(positions)))
            first, last = positions[0], positions[-1]
            z_mm = z_mm if last >= first else -z_mm
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
    """The region's non-empty patient terms by facts field (side, ap, si)."""
    if region.facts is None:
        return {}
    terms = {f: getattr(region.facts, f).strip().lower() for f in TERM_AXES}
    return {f: t for f, t in terms.items() if t}


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
    choices = [
        TERM_AXES[f] if terms[f] in TERM_AXES[f] else (*TERM_AXES[f], terms[f]) for f in fields
    ]
    combos = (dict(zip(fields, combo, strict=True)) for combo in itertools.product(*choices))
    return [patient_position_text(c) for c in combos if c != {f: terms[f] for f in fields}]


def image_cell(ctx: QuestionContext, region: Region) -> tuple[int, int] | None:
    """(row, column) of the region's centroid on a 3x3 grid of the image, None near a grid line."""
    size = ctx.image_size
    if size is None or region.facts is None or len(region.facts.centroid) < 2:
        return None
    cell = []
    for value, extent in zip(region.facts.centroid[1::-1], size[::-1], strict=True):
        fraction = value / extent
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


# --- sizes --------------------------------------------------------------------------------


def comparable_sizes(a: Region, b: Region) -> tuple[float, float] | None:
    """Sizes of A and B in one unit: physical when both are known, else pixels / voxels."""
    if a.facts is None or b.facts is None:
        return None
    if a.facts.size_mm is not None and b.facts.size_mm is not None:
        return a.facts.size_mm, b.facts.size_mm
    return float(a.facts.area_px), float(b.facts.area_px)


def describe_size(region: Region, dims: int) -> str:
    """The size of a region in words: ``"a volume of 1523.4 ml"``, ``"an area of 812 pixels"``."""
    facts = region.facts
    if facts is None:
        return "an unknown size"
    if facts.size_mm is not None:
        return (
            f"a volume of {facts.size_mm:.1f} ml"
            if dims == 3
            else f"an area of {facts.size_mm:.1f} mm²"
        )
    return (
        f"a volume of {facts.area_px} voxels" if dims == 3 else f"an area of {facts.area_px} pixels"
    )
