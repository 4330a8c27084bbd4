"""Grounded questions generated from annotations (DESIGN.md §4).

The reference system's six families, asked as single-choice questions (A-D; Yes/No for
existence) with distractors from the source's own label vocabulary:

1. structure localization  "Which structure is outlined by the box <|box_start|>[...]<|box_end|>?"
2. spatial localization    "Where is the liver located?" (patient terms in 3D, image terms in 2D)
3. existence verification  "Is there a liver tumor in this scan?" (a present and an absent lesion)
4. size comparison         "Which is larger, the liver or the spleen?" (ratio >= 1.25)
5. spatial relationship    "What is the position of the liver relative to the spleen?"
6. lesion analysis         "Which organ contains the liver tumor?"

A family is skipped for a case whose facts do not give one unambiguous answer. Everything is
seeded from a string (case id + build seed) through sha256, so the same case gives the same
questions in every process. Phrasings live in ``prompts/questions.yaml``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from unimed_cot.records import Dims, Question, SerializedImages

from .context import QuestionContext, seeded_random, with_article
from .families import FAMILIES
from .geometry import describe_size

__all__ = ["describe_size", "generate_questions", "seeded_random", "with_article"]


def generate_questions(
    pixels: SerializedImages,
    *,
    dims: Dims,
    modality: str,
    vocabulary: Sequence[str],
    seed: str,
    lesion_vocabulary: Collection[str] | None = None,
) -> list[Question]:
    """Questions about one serialized case, in family order (stable across runs).

    Args:
        pixels: the published images and the regions (with facts) of the case.
        dims: 2 for an image, 3 for a volume.
        modality: as the source states it (used in phrasing).
        vocabulary: every label name of the source; distractors are drawn from it.
        seed: a string identifying the case and the build seed.
        lesion_vocabulary: label names that denote lesions (e.g. ``Case.lesion_labels``); used to
            ask about an absent lesion and to keep lesions out of organ options. When None, labels
            that read like findings ("tumor", "nodule", "cyst", ...) are taken as lesions.

    Returns:
        Up to one question per family (existence: one present and one absent lesion), each
        with the ids of the regions its reasoning must cite and the facts it rests on.
    """
    ctx = QuestionContext.build(
        pixels,
        dims=dims,
        modality=modality,
        vocabulary=vocabulary,
        lesion_vocabulary=lesion_vocabulary,
        seed=seed,
    )
    if not ctx.regions and not ctx.vocabulary:
        return []
    questions: list[Question] = []
    for family, make in FAMILIES.items():
        questions.extend(make(ctx, ctx.rng(family.value)))
    return questions
