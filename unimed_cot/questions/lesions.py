"""Lesion analysis: questions about one lesion's measured content.

* host: "Which organ contains the lesion marked by ...?" (the organ its full-resolution mask
  touches most; options are organs, none related to the host, none whose box holds the lesion);
* size: "What is the approximate volume of ...?" with four values a factor ``LADDER`` apart, in
  ascending order (the lesion's own measure rounded to two digits among them; needs no
  vocabulary, so one-class datasets get it too);
* attenuation (CT): "Compared with the surrounding liver, how does ... appear?" from the mean HU
  of the lesion and of its host's voxels around it: hypo-/hyper-attenuating when they differ by
  at least ``ATTENUATION_HU``, iso-attenuating within ``ISO_HU``, never asked in between.
"""

from __future__ import annotations

import math
import random

from unimed_cot.boxes import render_box
from unimed_cot.records import QuestionFamily
from unimed_cot.samples import Region

from .context import QuestionContext, capitalize, key
from .drafts import MAX_OPTIONS, Draft, Unit, choice
from .observations import ref, size_text, slices_text
from .vocabulary import related

LADDER = 2.5  # ratio between neighbouring size options
ATTENUATION_HU = 15.0  # a lesion this much darker / brighter than its host is hypo- / hyper-
ISO_HU = 5.0  # ... and this close to it is iso-attenuating
ATTENUATION = {
    "hypo": "Hypoattenuating: darker than the surrounding {host}",
    "hyper": "Hyperattenuating: brighter than the surrounding {host}",
    "iso": "Isoattenuating: about as dense as the surrounding {host}",
}


def lesion_analysis(ctx: QuestionContext, rng: random.Random) -> list[Unit]:
    """Host, size and attenuation questions about each shown lesion (host ones first)."""
    lesions = [r for r in ctx.regions if r.is_lesion]
    rng.shuffle(lesions)
    unique = {r.id for r in ctx.unique_regions()}
    hosts: list[Unit] = []
    measures: list[Unit] = []
    for lesion in lesions:
        subject = (
            f"the {lesion.label}"
            if lesion.id in unique and rng.random() < 0.5
            else f"the lesion marked by {render_box(lesion.box)}"
        )
        for draft in (
            _host(ctx, rng, lesion),
            _size(ctx, rng, lesion, subject),
            _attenuation(ctx, rng, lesion, subject),
        ):
            if draft is not None:
                (hosts if draft.fact[0] == "host" else measures).append((draft,))
    return [*hosts, *measures]


def _host(ctx: QuestionContext, rng: random.Random, lesion: Region) -> Draft | None:
    host_name = lesion.host.strip()
    if not host_name or ctx.is_lesion_label(host_name) or key(host_name) == key(lesion.label):
        return None
    host = _host_region(ctx, lesion)
    # Structures whose box holds the lesion's centre could be read as its host too.
    around = {key(r.label) for r in ctx.regions if r is not host and _holds_centre(r, lesion)}
    distractors = [
        v
        for v in ctx.vocabulary
        if not ctx.is_lesion_label(v) and key(v) not in around and not related(v, host_name)
    ]
    unique = {r.id for r in ctx.unique_regions()}
    if lesion.id in unique and rng.random() < 0.5:
        text = ctx.phrase("lesion_analysis_label", rng, lesion=lesion.label)
    else:
        text = ctx.phrase("lesion_analysis_box", rng, box=render_box(lesion.box))
    host_ref = ref(host) if host is not None else f"the {host_name}"
    measured = [t for t in (slices_text(lesion), size_text(lesion, ctx.dims)) if t]
    detail = f" ({', '.join(measured)})" if measured else ""
    rationale = [
        f"{capitalize(ref(lesion))}{detail} lies within {host_ref}: at full resolution its "
        "border touches that organ more than any other."
    ]
    return choice(
        family=QuestionFamily.LESION_ANALYSIS,
        fact=("host", lesion.id),
        text=text,
        correct=host.label if host is not None else host_name,
        distractors=distractors,
        evidence=[lesion.id] + ([host.id] if host is not None else []),
        rationale=rationale,
        rng=rng,
        labels=True,
    )


def _size(ctx: QuestionContext, rng: random.Random, lesion: Region, subject: str) -> Draft | None:
    facts = lesion.facts
    if facts is None or facts.size_mm is None or facts.size_mm <= 0:
        return None
    unit = "ml" if ctx.dims == 3 else "mm²"
    value = _two_digits(facts.size_mm)
    ladder = tuple(
        tuple(f"About {_number(value * LADDER ** (i - p))} {unit}" for i in range(MAX_OPTIONS))
        for p in range(MAX_OPTIONS)
    )
    correct = f"About {_number(value)} {unit}"
    extent = ""
    if facts.extent_mm:
        extent = f", {' x '.join(f'{v:.0f}' for v in facts.extent_mm)} mm across"
    where = slices_text(lesion)
    return Draft(
        family=str(QuestionFamily.LESION_ANALYSIS),
        fact=("lesion-size", lesion.id),
        text=ctx.phrase(f"lesion_size_{ctx.dims}d", rng, subject=subject),
        correct=correct,
        evidence=(lesion.id,),
        rationale=(
            f"{capitalize(ref(lesion))}{f' spans {where} and' if where else ''} measures "
            f"{size_text(lesion, ctx.dims)} from its mask at full resolution{extent}.",
            f"The options are {LADDER:g} times apart, so only one is within rounding of it.",
        ),
        ladder=ladder,
    )


def _attenuation(
    ctx: QuestionContext, rng: random.Random, lesion: Region, subject: str
) -> Draft | None:
    facts = lesion.facts
    host = lesion.host.strip()
    if not ctx.modality.upper().startswith("CT") or facts is None or not host:
        return None
    if facts.mean is None or facts.host_mean is None:
        return None
    difference = facts.mean - facts.host_mean
    if abs(difference) >= ATTENUATION_HU:
        kind = "hypo" if difference < 0 else "hyper"
    elif abs(difference) <= ISO_HU:
        kind = "iso"
    else:
        return None
    options = {name: text.format(host=host) for name, text in ATTENUATION.items()}
    return choice(
        family=QuestionFamily.LESION_ANALYSIS,
        fact=("lesion-density", lesion.id),
        text=ctx.phrase("lesion_attenuation", rng, subject=subject, host=host),
        correct=options[kind],
        distractors=[text for name, text in options.items() if name != kind],
        evidence=[lesion.id],
        rationale=[
            f"The mean attenuation of {ref(lesion)} is {facts.mean:.0f} HU, against "
            f"{facts.host_mean:.0f} HU in the {host} around it ({difference:+.0f} HU)."
        ],
        rng=rng,
    )


def _two_digits(value: float) -> float:
    """``value`` rounded to two significant digits."""
    digits = 1 - math.floor(math.log10(abs(value)))
    return round(value, digits)


def _number(value: float) -> str:
    """A value with two significant digits, without exponent: 1500, 14, 2.3, 0.14, 0.0016."""
    rounded = _two_digits(value)
    digits = max(0, 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:.{digits}f}"


def _holds_centre(outer: Region, inner: Region) -> bool:
    half = len(inner.box) // 2
    return all(
        outer.box[i] <= (inner.box[i] + inner.box[i + half]) / 2 < outer.box[i + half]
        for i in range(half)
    )


def _host_region(ctx: QuestionContext, lesion: Region) -> Region | None:
    hosts = [r for r in ctx.regions if key(r.label) == key(lesion.host) and r is not lesion]
    holding = [r for r in hosts if _holds_centre(r, lesion)]
    return next(iter(holding or hosts), None)
