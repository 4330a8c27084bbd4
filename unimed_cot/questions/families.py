"""Five of the six question families (lesion analysis is ``lesions.py``). Each takes the case
context and its own ``Random`` and returns candidate *units* (one draft, or a Yes/No pair), most
preferred first; ``selection`` picks among them. A family returns nothing for a case whose facts
do not give one unambiguous answer."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from unimed_cot.boxes import iou, render_box
from unimed_cot.records import QuestionFamily
from unimed_cot.samples import Region

from .context import QuestionContext, capitalize, key, with_article
from .drafts import Draft, Unit, choice, yes_no
from .findings import finding_choice
from .frames import relation_option, relation_sentence
from .geometry import (
    comparable_sizes,
    image_cell,
    image_cell_alternatives,
    image_cell_text,
    patient_position_alternatives,
    patient_position_text,
    patient_terms,
    relation,
)
from .observations import neighbour, observe, ref, size_text
from .vocabulary import is_finding, related, same_or_kind, within

SIZE_RATIO = 1.25  # "larger" only when one region is at least this much bigger
SAME_SIZE_TOLERANCE = 1.10  # "about the same size" when neither is more than this much bigger
SAME_SIZE = "They are about the same size"
NESTED = 0.5  # a pair whose smaller box lies this much inside the larger one is not compared
MAX_EVIDENCE = 3  # regions cited by one existence question

Family = Callable[[QuestionContext, random.Random], list[Unit]]


def structure_localization(ctx: QuestionContext, rng: random.Random) -> list[Unit]:
    """ "Which structure is outlined by the box ...?"; answer: the region's label.

    Distractors never include a name that could also be right: an alias or kind of the answer,
    a structure it lies within ("liver" for a liver tumor's box), a part of the same kind
    ("enhancing tumor" for the whole tumour's box, which encloses it), or the label of a region
    whose box nearly coincides with it.
    """
    candidates = list(ctx.regions)
    rng.shuffle(candidates)
    units: list[Unit] = []
    for region in candidates:
        lookalikes = {key(r.label) for r in ctx.regions if iou(r.box, region.box) > 0.5}
        # Never a whole it lies in; never a part of the same kind lying in it (a tumour
        # sub-region in the whole tumour's box is the same lesion). A finding in an organ's box
        # is another structure and stays a fair distractor.
        finding = is_finding(region.label)
        distractors = [
            v
            for v in ctx.vocabulary
            if key(v) not in lookalikes
            and not within(region.label, v)
            and not (within(v, region.label) and is_finding(v) == finding)
        ]
        draft = choice(
            family=QuestionFamily.STRUCTURE_LOCALIZATION,
            fact=("structure", region.id),
            text=ctx.phrase("structure_localization", rng, box=render_box(region.box)),
            correct=region.label,
            distractors=distractors,
            evidence=[region.id],
            rationale=_observations(ctx, region),
            rng=rng,
            labels=True,
        )
        if draft is not None:
            units.append((draft,))
    return units


def spatial_localization(ctx: QuestionContext, rng: random.Random) -> list[Unit]:
    """ "Where is the X located?": patient terms (3D, side and front/back of the body's centre)
    or a third of the image (2D, in the image's frame)."""
    candidates = ctx.unique_regions()
    rng.shuffle(candidates)
    units: list[Unit] = []
    for region in candidates:
        if ctx.dims == 3:
            terms = patient_terms(region) if ctx.pixels.orientation_known else {}
            if "side" not in terms:
                continue
            correct = patient_position_text(terms)
            distractors = patient_position_alternatives(terms)
            phrase_key, fact = "spatial_localization_3d", ("side", key(region.label))
        else:
            cell = image_cell(ctx, region)
            if cell is None:
                continue
            correct, distractors = image_cell_text(cell), image_cell_alternatives(cell)
            phrase_key, fact = "spatial_localization_2d", ("where", key(region.label))
        draft = choice(
            family=QuestionFamily.SPATIAL_LOCALIZATION,
            fact=fact,
            text=ctx.phrase(phrase_key, rng, label=region.label),
            correct=correct,
            distractors=distractors,
            evidence=[region.id],
            rationale=[observe(ctx, region)],
            rng=rng,
        )
        if draft is not None:
            units.append((draft,))
    return units


def existence_verification(ctx: QuestionContext, rng: random.Random) -> list[Unit]:
    """ "Is there a X in this scan?", asked in Yes/No pairs.

    Yes: a structure the published pixels show (findings first, then the findings' side
    "on the patient's left", then organs). No: a structure the case's annotation delineates but
    that has no voxel anywhere at full resolution and is no alias or kind of anything present or
    covered; or a finding's other side, when every voxel of it lies on one side. Pairing makes
    Yes and No equally frequent by construction; a case with only one kind asks none.
    """
    truth = ctx.truth
    shown: dict[str, list[Region]] = {}
    for region in ctx.regions:
        shown.setdefault(region.label, []).append(region)
    findings = sorted(label for label in shown if _is_finding(ctx, label))
    organs = sorted(label for label in shown if not _is_finding(ctx, label))
    known = [*truth.present, *truth.covered]
    absent = sorted(
        label
        for label in truth.annotated
        if label not in truth.present and not any(same_or_kind(label, p) for p in known)
    )
    covered = list(truth.covered)
    yes: list[list[Draft]] = [[], [], []]
    no: list[list[Draft]] = [[], [], []]
    for label in [*findings, *organs]:
        yes[0 if label in findings else 2].append(_present(ctx, rng, label, shown[label]))
    for label in findings:
        sides = truth.sides.get(label, frozenset())
        if len(sides) != 1 or any(same_or_kind(label, c) for c in covered):
            continue
        (side,) = sides
        other = "right" if side == "left" else "left"
        yes[1].append(_sided(ctx, rng, label, side, True, shown[label], side))
        no[1].append(_sided(ctx, rng, label, other, False, shown[label], side))
    for label in absent:
        no[0 if _is_finding(ctx, label) else 2].append(_absent(ctx, rng, label))
    for drafts in (*yes, *no):
        rng.shuffle(drafts)
    pairs = _pairs([d for ds in yes for d in ds], [d for ds in no for d in ds], rng)
    # Exhaustively annotated cases (``findings``) ask "which finding?" first, positives too.
    return [*finding_choice(ctx, rng), *pairs]


def size_comparison(ctx: QuestionContext, rng: random.Random) -> list[Unit]:
    """ "Which is larger, the A or the B?" with "They are about the same size" among the options:
    correct when neither size exceeds the other by more than ``SAME_SIZE_TOLERANCE``; pairs
    between that and ``SIZE_RATIO`` are never asked."""
    same: list[Unit] = []
    different: list[Unit] = []
    for a, b in itertools.combinations(ctx.unique_regions(), 2):
        sizes = comparable_sizes(a, b)
        if sizes is None or min(sizes) <= 0 or _part_of(a, b) or related(a.label, b.label):
            continue
        ratio = max(sizes) / min(sizes)
        if SAME_SIZE_TOLERANCE < ratio < SIZE_RATIO:
            continue
        if rng.random() < 0.5:
            a, b, sizes = b, a, (sizes[1], sizes[0])
        larger, smaller = (a, b) if sizes[0] > sizes[1] else (b, a)
        is_same = ratio <= SAME_SIZE_TOLERANCE
        rationale = [
            f"{capitalize(ref(a))} measures {size_text(a, ctx.dims)} and {ref(b)} "
            f"{size_text(b, ctx.dims)}, from their masks at full resolution.",
            (
                f"Their ratio is {ratio:.2f}, within the {_percent(SAME_SIZE_TOLERANCE)} "
                "tolerance for about the same size."
                if is_same
                else f"{capitalize(ref(larger))} is {ratio:.1f} times the size of "
                f"{ref(smaller)}, beyond the {SIZE_RATIO:g} ratio needed to call one larger."
            ),
        ]
        draft = choice(
            family=QuestionFamily.SIZE_COMPARISON,
            fact=("size", *sorted((key(a.label), key(b.label)))),
            text=ctx.phrase("size_comparison", rng, a=a.label, b=b.label),
            correct=SAME_SIZE if is_same else larger.label,
            distractors=[a.label, b.label] if is_same else [smaller.label, SAME_SIZE],
            evidence=[a.id, b.id],
            rationale=rationale,
            rng=rng,
        )
        if draft is not None:
            (same if is_same else different).append((draft,))
    rng.shuffle(same)
    rng.shuffle(different)
    return _interleave(same, different, phase=rng.randrange(3))


def spatial_relationship(ctx: QuestionContext, rng: random.Random) -> list[Unit]:
    """ "Where is A relative to B?" along the axis that separates them most, in the frame of the
    case (the patient's, or the image's for a 2D image of undeclared orientation)."""
    if ctx.axes is None:
        return []
    pairs = []
    for a, b in itertools.permutations(ctx.unique_regions(), 2):
        if _part_of(a, b) or _nested(a, b) or related(a.label, b.label):
            continue
        found = relation(ctx, a, b)
        if found is not None:
            pairs.append((a, b, found))
    rng.shuffle(pairs)
    phrase_key = f"spatial_relationship_{ctx.axes.frame}"
    units: list[Unit] = []
    for a, b, found in pairs:
        sentence = relation_sentence(ref(a), found.direction, ref(b))
        draft = choice(
            family=QuestionFamily.SPATIAL_RELATIONSHIP,
            fact=("relation", *sorted((key(a.label), key(b.label)))),
            text=ctx.phrase(phrase_key, rng, a=a.label, b=b.label),
            correct=relation_option(found.direction, b.label),
            distractors=[relation_option(d, b.label) for d in found.false_directions],
            evidence=[a.id, b.id],
            rationale=[
                f"{capitalize(sentence)}: their centres are {found.describe()} apart along "
                "that axis, more than along any other."
            ],
            rng=rng,
        )
        if draft is not None:
            units.append((draft,))
    return units


# --- helpers ------------------------------------------------------------------------------


def _is_finding(ctx: QuestionContext, label: str) -> bool:
    return ctx.is_lesion_label(label) or any(r.is_lesion for r in ctx.regions if r.label == label)


def _observations(ctx: QuestionContext, region: Region) -> list[str]:
    lines = [observe(ctx, region)]
    near = neighbour(ctx, region, exclude=set())
    if near:
        lines.append(near)
    return lines


def _present(ctx: QuestionContext, rng: random.Random, label: str, found: list[Region]) -> Draft:
    cited = found[:MAX_EVIDENCE]
    return yes_no(
        family=QuestionFamily.EXISTENCE_VERIFICATION,
        fact=("exists", key(label)),
        text=ctx.phrase("existence_verification", rng, a_label=with_article(label)),
        yes=True,
        evidence=[r.id for r in cited],
        rationale=[observe(ctx, r) for r in cited],
    )


def _sided(
    ctx: QuestionContext,
    rng: random.Random,
    label: str,
    asked: str,
    yes: bool,
    found: list[Region],
    side: str,
) -> Draft:
    cited = found[:MAX_EVIDENCE]
    refs = ", ".join(f"[{r.id}]" for r in cited)
    every = "The" if len(found) == 1 else "Every"
    return yes_no(
        family=QuestionFamily.EXISTENCE_VERIFICATION,
        fact=("side", key(label)),
        text=ctx.phrase("existence_side", rng, a_label=with_article(label), side=asked),
        yes=yes,
        evidence=[r.id for r in cited],
        rationale=[
            f"{every} {label} of this {ctx.noun} {refs} lies on the patient's {side} side of the "
            f"body's midline, with no voxel on the other side at full resolution."
        ],
    )


def _absent(ctx: QuestionContext, rng: random.Random, label: str) -> Draft:
    return yes_no(
        family=QuestionFamily.EXISTENCE_VERIFICATION,
        fact=("exists", key(label)),
        text=ctx.phrase("existence_verification", rng, a_label=with_article(label)),
        yes=False,
        evidence=[],
        rationale=[
            f"The annotation of this {ctx.noun} delineates {label} but marks no voxel of it "
            "anywhere, at full resolution."
            if ctx.dims == 3
            else f"The annotation of this image delineates {label} but marks no pixel of it."
        ],
    )


def _pairs(yes: list[Draft], no: list[Draft], rng: random.Random) -> list[Unit]:
    """Yes/No pairs in preference order, never two drafts on one fact."""
    units: list[Unit] = []
    used: set[tuple[str, ...]] = set()
    remaining = list(no)
    for positive in yes:
        if positive.fact in used:
            continue
        partner = next((n for n in remaining if n.fact not in used | {positive.fact}), None)
        if partner is None:
            continue
        remaining.remove(partner)
        used |= {positive.fact, partner.fact}
        units.append((positive, partner) if rng.random() < 0.5 else (partner, positive))
    return units


def _interleave(same: list[Unit], different: list[Unit], *, phase: int) -> list[Unit]:
    """One "about the same size" question in every three while both kinds last, at a seeded
    place in the first three (so it comes first in a third of the cases, as its share)."""
    out: list[Unit] = []
    position = phase
    while same or different:
        if (position % 3 == 0 and same) or not different:
            out.append(same.pop(0))
        else:
            out.append(different.pop(0))
        position += 1
    return out


def _percent(ratio: float) -> str:
    return f"{round((ratio - 1) * 100)} %"


def _part_of(a: Region, b: Region) -> bool:
    """A lesion and its host: "relative to" or "larger" makes no sense for a part of a whole."""
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
