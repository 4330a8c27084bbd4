"""Measured observations in words, the facts a question's reasoning walks through.

Each sentence cites its regions as ``[Rn]`` (the marker a teacher writes, replaced by the exact
box when the trace is rendered), names slices by their published index, states sizes from the
full-resolution masks and names the frame of every side word. The template teacher turns them
into trace steps; an LLM teacher gets the same sentences as its measured facts.
"""

from __future__ import annotations

import math

from unimed_cot.samples import Region

from .context import QuestionContext, capitalize
from .frames import relation_sentence, side_phrase
from .geometry import format_quantity, image_cell, image_cell_text, positions, relation
from .vocabulary import related


def ref(region: Region) -> str:
    """``"the liver [R1]"``."""
    return f"the {region.label} [{region.id}]"


def slices_text(region: Region) -> str:
    """3D: ``"slices 9-14"`` or ``"slice 9"`` (published indices); 2D: ``""``."""
    if len(region.box) != 6:
        return ""
    first, last = region.box[2], region.box[5] - 1
    return f"slice {first}" if first == last else f"slices {first}-{last}"


def size_text(region: Region, dims: int) -> str:
    """``"1523 ml"``, ``"812 mm²"``, ``"812 pixels"``; ``""`` when unknown."""
    facts = region.facts
    if facts is None:
        return ""
    if facts.size_mm is not None:
        return f"{format_quantity(facts.size_mm)} {'ml' if dims == 3 else 'mm²'}"
    if facts.voxels is not None:
        return f"{facts.voxels} {'voxels' if dims == 3 else 'pixels'}"
    return ""


def where_text(ctx: QuestionContext, region: Region) -> str:
    """``"on the patient's right, anterior"`` (3D) or ``"in the upper left of the image"``."""
    facts = region.facts
    if facts is None:
        return ""
    if ctx.dims == 3:
        if not ctx.pixels.orientation_known or not facts.side:
            return ""
        text = side_phrase(facts.side)
        return f"{text}, {facts.ap}" if facts.ap else text
    cell = image_cell(ctx, region)
    return "" if cell is None else f"in the {image_cell_text(cell).lower()}"


def observe(ctx: QuestionContext, region: Region) -> str:
    """One sentence of what is measured about a region: slices, size, position."""
    parts = []
    slices = slices_text(region)
    if slices:
        parts.append(f"appears on {slices}")
    size = size_text(region, ctx.dims)
    if size:
        parts.append(f"measures {size}")
    where = where_text(ctx, region)
    if where:
        parts.append(f"lies {where}")
    if not parts:
        return f"{capitalize(ref(region))} is annotated."
    if len(parts) > 1:
        parts[-1] = f"and {parts[-1]}"
    joiner = ", " if len(parts) > 2 else " "
    return f"{capitalize(ref(region))} {joiner.join(parts)}."


def neighbour(ctx: QuestionContext, region: Region, *, exclude: set[str]) -> str:
    """Where the region lies relative to its nearest other region with a clear relation."""
    here = positions(ctx, region)
    if here is None:
        return ""
    found: list[tuple[float, Region]] = []
    for other in ctx.regions:
        if other.id == region.id or other.id in exclude or other.label == region.label:
            continue
        if _contains(region, other) or related(region.label, other.label):
            continue  # a lesion and its host, or one structure and a part of it
        there = positions(ctx, other)
        if there is None or there[1] != here[1] or len(there[0]) != len(here[0]):
            continue
        found.append((math.dist(here[0], there[0]), other))
    for _, other in sorted(found, key=lambda pair: (pair[0], pair[1].id)):
        between = relation(ctx, region, other)
        if between is not None:
            return capitalize(relation_sentence(ref(region), between.direction, ref(other))) + "."
    return ""


def _contains(a: Region, b: Region) -> bool:
    return a.host.strip().casefold() == b.label.strip().casefold() or (
        b.host.strip().casefold() == a.label.strip().casefold()
    )
