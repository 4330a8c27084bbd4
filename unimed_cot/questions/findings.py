"""Which finding does the image show? Asked only where the annotation is exhaustive.

A source whose readers looked for every finding of a closed list on the whole image (VinDr-CXR's
local labels: ``CaseTruth.exhaustive``) proves absence for every listed finding none of them
boxed, and an image they all read as "No finding" is a verified negative. Such a case gets one
single-choice question over its findings: one shown finding (or ``NONE_OF_THESE`` on a negative)
among findings that are annotated absent, with ``NONE_OF_THESE`` as an option in both cases, so
the answer "none" is neither always right nor never offered. Absent means: listed, not present,
and no alias or kind of anything present or covered (a finding only one reader boxed is covered:
neither present nor absent, never an option). Nothing here is asked of a box-only source whose
boxes are not exhaustive (DeepLesion marks bookmarked lesions only).
"""

from __future__ import annotations

import random

from unimed_cot.records import QuestionFamily
from unimed_cot.samples import Region

from .context import QuestionContext, key
from .drafts import MAX_OPTIONS, Unit, choice
from .observations import observe
from .vocabulary import pairwise_distinct, same_or_kind

NONE_OF_THESE = "None of these findings"


def finding_choice(ctx: QuestionContext, rng: random.Random) -> list[Unit]:
    """One "Which of these findings ...?" question for an exhaustively annotated case."""
    truth = ctx.truth
    if not truth.exhaustive or ctx.dims != 2:
        return []
    known = [*truth.present, *truth.covered, *truth.hidden]
    absent = sorted(
        label
        for label in truth.annotated
        if label not in truth.present and not any(same_or_kind(label, p) for p in known)
    )
    shown: dict[str, list[Region]] = {}
    for region in ctx.regions:
        if ctx.is_lesion_label(region.label) or region.is_lesion:
            shown.setdefault(region.label, []).append(region)
    if truth.present and not shown:
        return []  # present findings that no region shows: nothing to cite, nothing to deny
    rng.shuffle(absent)
    absent = pairwise_distinct(absent)  # never two options where one is a kind of the other
    others = absent[: MAX_OPTIONS - 2]
    if len(others) < MAX_OPTIONS - 2:
        return []
    if shown:
        label = rng.choice(sorted(shown))
        cited = shown[label][:3]
        correct, distractors = label, [*others, NONE_OF_THESE]
        rationale = [observe(ctx, r) for r in cited]
        evidence = [r.id for r in cited]
    else:
        correct, distractors = NONE_OF_THESE, absent[: MAX_OPTIONS - 1]
        rationale, evidence = [], []
    rationale.append(
        f"The readers looked for every listed finding on the whole image and marked none of "
        f"{', '.join(others if shown else distractors)}."
    )
    draft = choice(
        family=QuestionFamily.EXISTENCE_VERIFICATION,
        fact=("findings", *sorted(key(o) for o in (correct, *distractors))),
        text=ctx.phrase("finding_choice_2d", rng),
        correct=correct,
        distractors=distractors,
        evidence=evidence,
        rationale=rationale,
        rng=rng,
        labels=True,
    )
    return [] if draft is None else [(draft,)]
