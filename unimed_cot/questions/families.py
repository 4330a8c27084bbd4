"""The six question families. Each takes the case context and its own ``Random`` and returns at
most one question (existence: one positive and one negative), or nothing when the annotations do
not support an unambiguous answer."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from unimed_cot.boxes import iou, render_box
from unimed_cot.records import Question, QuestionFamily, Region

from .context import QuestionContext, choice_question, key, with_article, yes_no_question
from .geometry import (
    RELATION_TEXT,
    comparable_sizes,
    describe_size,
    image_cell,
    image_cell_alternatives,
    image_cell_text,
    patient_position_alternatives,
    patient_position_text,
    patient_terms,
    relation,
)

SIZE_RATIO = 1.25  # "larger" only when one region is at least this much bigger
NESTED = 0.5  # a pair whose smaller box lies this much inside the larger one is not compared

Family = Callable[[QuestionContext, random.Random], list[Question]]


def structure_localization(ctx: QuestionContext, rng: random.Random) -> list[Question]:
    """Asks "Which structure is outlined by the box ...?"; answer: the region's label."""
    candidates = [r for r in ctx.regions if not r.is_lesion] or list(ctx.regions)
    rng.shuffle(candidates)
    for region in candidates:
        # Labels of regions with nearly the same box would be right as well: keep them out.
        lookalikes = {key(r.label) for r in ctx.regions if iou(r.box, region.box) > 0.5}
        distractors = [v for v in ctx.vocabulary if key(v) not in lookalikes]
        question = choice_question(
            family=QuestionFamily.STRUCTURE_LOCALIZATION,
            text=ctx.phrase("structure_localization", rng, box=render_box(region.box)),
            correct=region.label,
            distractors=distractors,
            rng=rng,
            evidence=[region.id],
            rationale=[f"{region.id} is the annotated {region.label}", *_facts_text(ctx, region)],
        )
        if question is not None:
            return [question]
    return []


def spatial_localization(ctx: QuestionContext, rng: random.Random) -> list[Question]:
    """Asks "Where is the X located?"; answer: patient terms (3D) or a part of the image (2D)."""
    candidates = ctx.unique_regions()
    rng.shuffle(candidates)
    for region in candidates:
        if ctx.dims == 3:
            terms = patient_terms(region) if ctx.pixels.orientation_known else {}
            if not terms:
                continue
            correct = patient_position_text(terms)
            distractors = patient_position_alternatives(terms)
            phrase_key = "spatial_localization_3d"
        else:
            cell = image_cell(ctx, region)
            if cell is None:
                continue
            correct, distractors = image_cell_text(cell), image_cell_alternatives(cell)
            phrase_key = "spatial_localization_2d"
        question = choice_question(
            family=QuestionFamily.SPATIAL_LOCALIZATION,
            text=ctx.phrase(phrase_key, rng, label=region.label),
            correct=correct,
            distractors=distractors,
            rng=rng,
            evidence=[region.id],
            rationale=[
                f"position of {region.id} ({region.label}): {correct[0].lower()}{correct[1:]}"
            ],
        )
        if question is not None:
            return [question]
    return []


def existence_verification(ctx: QuestionContext, rng: random.Random) -> list[Question]:
    """Asks "Is there a X in this scan?": Yes for a present lesion, No for an absent one."""
    questions = []
    lesions = [r for r in ctx.regions if r.is_lesion or ctx.is_lesion_label(r.label)]
    if lesions:
        label = rng.choice(sorted({r.label for r in lesions}))
        found = [r for r in lesions if key(r.label) == key(label)][:3]
        questions.append(
            yes_no_question(
                family=QuestionFamily.EXISTENCE_VERIFICATION,
                text=ctx.phrase("existence_verification", rng, a_label=with_article(label)),
                yes=True,
                evidence=[r.id for r in found],
                rationale=[f"{r.id} is an annotated {r.label}" for r in found],
            )
        )
    # "tumor" is not absent when a "liver tumor" is annotated: skip labels nested in present ones.
    present = [f" {key(r.label)} " for r in ctx.regions]
    absent = [
        v
        for v in ctx.vocabulary
        if ctx.is_lesion_label(v)
        and not any(f" {key(v)} " in p or p in f" {key(v)} " for p in present)
    ]
    if absent:
        label = rng.choice(absent)
        questions.append(
            yes_no_question(
                family=QuestionFamily.EXISTENCE_VERIFICATION,
                text=ctx.phrase("existence_verification", rng, a_label=with_article(label)),
                yes=False,
                evidence=[],
                rationale=[f"no {label} is seen anywhere in this {_noun(ctx)}"],
            )
        )
    return questions


def size_comparison(ctx: QuestionContext, rng: random.Random) -> list[Question]:
    """Asks "Which is larger, the A or the B?" of two structures that differ by >= 25 %."""
    pairs = []
    for a, b in itertools.combinations(ctx.unique_regions(), 2):
        sizes = comparable_sizes(a, b)
        if sizes is not None and min(sizes) > 0 and max(sizes) / min(sizes) >= SIZE_RATIO:
            pairs.append((a, b, sizes))
    if not pairs:
        return []
    a, b, (size_a, size_b) = rng.choice(pairs)
    if rng.random() < 0.5:
        a, b, size_a, size_b = b, a, size_b, size_a
    larger = a if size_a > size_b else b
    question = choice_question(
        family=QuestionFamily.SIZE_COMPARISON,
        text=ctx.phrase("size_comparison", rng, a=a.label, b=b.label),
        correct=larger.label,
        distractors=[(b if larger is a else a).label, "They are about the same size"],
        rng=rng,
        evidence=[a.id, b.id],
        rationale=[
            f"the {a.label} has {describe_size(a, ctx.dims)}",
            f"the {b.label} has {describe_size(b, ctx.dims)}",
            f"the {larger.label} is {max(size_a, size_b) / min(size_a, size_b):.1f} times larger",
        ],
    )
    return [question] if question is not None else []


def spatial_relationship(ctx: QuestionContext, rng: random.Random) -> list[Question]:
    """Asks "Where is A relative to B?" along the axis that separates them most."""
    pairs = []
    for a, b in itertools.permutations(ctx.unique_regions(), 2):
        if _related(a, b) or _nested(a, b):
            continue
        found = relation(ctx, a, b)
        if found is not None:
            pairs.append((a, b, found))
    if not pairs:
        return []
    a, b, found = rng.choice(pairs)
    side = "3d" if ctx.dims == 3 else "2d"
    correct = RELATION_TEXT[found.direction].format(b=b.label)
    where = "in patient terms" if ctx.dims == 3 else "as displayed in the image"
    question = choice_question(
        family=QuestionFamily.SPATIAL_RELATIONSHIP,
        text=ctx.phrase(f"spatial_relationship_{side}", rng, a=a.label, b=b.label),
        correct=correct,
        distractors=[RELATION_TEXT[d].format(b=b.label) for d in found.false_directions],
        rng=rng,
        evidence=[a.id, b.id],
        rationale=[
            f"{a.id} ({a.label}) lies {correct[0].lower()}{correct[1:]} ({b.id}) {where}",
            f"their centres are {found.describe()} apart along that axis",
        ],
    )
    return [question] if question is not None else []


def lesion_analysis(ctx: QuestionContext, rng: random.Random) -> list[Question]:
    """Asks "In which structure is the lesion ... located?"; answer: its host organ."""
    lesions = [r for r in ctx.regions if r.is_lesion and r.host.strip()]
    rng.shuffle(lesions)
    unique = {r.id for r in ctx.unique_regions()}
    for lesion in lesions:
        if ctx.is_lesion_label(lesion.host) or key(lesion.host) == key(lesion.label):
            continue
        host = _host_region(ctx, lesion)
        # Structures whose box holds the lesion's centre could be read as its host too.
        around = {key(r.label) for r in ctx.regions if r is not host and _holds_centre(r, lesion)}
        distractors = [
            v
            for v in ctx.vocabulary
            if not ctx.is_lesion_label(v) and key(v) != key(lesion.host) and key(v) not in around
        ]
        if lesion.id in unique and rng.random() < 0.5:
            text = ctx.phrase("lesion_analysis_label", rng, lesion=lesion.label)
        else:
            text = ctx.phrase("lesion_analysis_box", rng, box=render_box(lesion.box))
        host_ref = f"{host.id} ({host.label})" if host is not None else f"the {lesion.host}"
        question = choice_question(
            family=QuestionFamily.LESION_ANALYSIS,
            text=text,
            correct=host.label if host is not None else lesion.host.strip(),
            distractors=distractors,
            rng=rng,
            evidence=[lesion.id] + ([host.id] if host is not None else []),
            rationale=[f"{lesion.id} ({lesion.label}) lies within {host_ref}"],
        )
        if question is not None:
            return [question]
    return []


FAMILIES: dict[QuestionFamily, Family] = {
    QuestionFamily.STRUCTURE_LOCALIZATION: structure_localization,
    QuestionFamily.SPATIAL_LOCALIZATION: spatial_localization,
    QuestionFamily.EXISTENCE_VERIFICATION: existence_verification,
    QuestionFamily.SIZE_COMPARISON: size_comparison,
    QuestionFamily.SPATIAL_RELATIONSHIP: spatial_relationship,
    QuestionFamily.LESION_ANALYSIS: lesion_analysis,
}


# --- helpers ------------------------------------------------------------------------------


def _noun(ctx: QuestionContext) -> str:
    return "image" if ctx.dims == 2 else "scan"


def _facts_text(ctx: QuestionContext, region: Region) -> list[str]:
    if region.facts is None:
        return []
    facts = [f"the {region.label} has {describe_size(region, ctx.dims)}"]
    side = patient_terms(region).get("side", "")
    if side in ("left", "right"):
        facts.append(f"{region.id} lies on the patient's {side}")
    elif side == "midline":
        facts.append(f"{region.id} lies in the midline")
    return facts


def _related(a: Region, b: Region) -> bool:
    """A lesion and its host: "relative to" makes no sense for a part of a whole."""
    return key(a.host) == key(b.label) or key(b.host) == key(a.label)


def _nested(a: Region, b: Region) -> bool:
    half = len(a.box) // 2
    inter = 1.0
    vol_a = vol_b = 1.0
    for i in range(half):
        inter *= max(0, min(a.box[i + half], b.box[i + half]) - max(a.box[i], b.box[i]))
        vol_a *= a.box[i + half] - a.box[i]
        vol_b *= b.box[i + half] - b.box[i]
    small = min(vol_a, vol_b)
    return small > 0 and inter / small > NESTED


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
