"""Grounded questions generated from annotations (DESIGN.md §4).

The reference system's six families, asked as single-choice questions (A-D; Yes/No for
existence) with distractors from the source's own label vocabulary:

1. structure localization  "Which structure is outlined by the box <|box_start|>[...]<|box_end|>?"
2. spatial localization    "Where is the liver located?" (patient terms in 3D, image terms in 2D)
3. existence verification  "Is there a liver tumor in this scan?" (in Yes/No pairs)
4. size comparison         "Which is larger, the liver or the spleen?" (or about the same size)
5. spatial relationship    "What is the position of the liver relative to the spleen?"
6. lesion analysis         "Which organ contains the liver tumor?", its volume, its attenuation

Truth comes from the case's annotations at full resolution (``SerializedImages.truth``, region
facts); side words always name their frame (``frames``); options never hold two names of one
structure (``vocabulary``); Yes/No and answer letters are balanced by construction (``drafts``,
``selection``). A family is skipped for a case whose facts do not give one unambiguous answer.
Everything is seeded from a string (case id + build seed) through sha256, so the same case gives
the same questions in every process. Phrasings live in ``prompts/questions.yaml``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from unimed_cot.records import Dims, QuestionFamily
from unimed_cot.samples import Question, SerializedImages

from .context import QuestionContext, seeded_random, with_article
from .drafts import Unit
from .families import (
    Family,
    existence_verification,
    size_comparison,
    spatial_localization,
    spatial_relationship,
    structure_localization,
)
from .geometry import describe_size
from .lesions import lesion_analysis
from .selection import QuestionConfig, deal, first_round_size, select

__all__ = [
    "FAMILIES",
    "QuestionConfig",
    "describe_size",
    "generate_questions",
    "seeded_random",
    "with_article",
]

FAMILIES: dict[QuestionFamily, Family] = {
    QuestionFamily.STRUCTURE_LOCALIZATION: structure_localization,
    QuestionFamily.SPATIAL_LOCALIZATION: spatial_localization,
    QuestionFamily.EXISTENCE_VERIFICATION: existence_verification,
    QuestionFamily.SIZE_COMPARISON: size_comparison,
    QuestionFamily.SPATIAL_RELATIONSHIP: spatial_relationship,
    QuestionFamily.LESION_ANALYSIS: lesion_analysis,
}


def generate_questions(
    pixels: SerializedImages,
    *,
    dims: Dims,
    modality: str,
    vocabulary: Sequence[str],
    seed: str,
    lesion_vocabulary: Collection[str] | None = None,
    config: QuestionConfig | None = None,
) -> list[Question]:
    """Questions about one serialized case, grouped in family order (stable across runs).

    Args:
        pixels: the published images, the regions (with facts) and the truth of the case.
        dims: 2 for an image, 3 for a volume.
        modality: as the source states it (used in phrasing).
        vocabulary: the case's label names (absence can be claimed only for these, and only
            when the case's truth knows them absent); distractors also come from
            ``pixels.truth.vocabulary``.
        seed: a string identifying the case and the build seed.
        lesion_vocabulary: label names that denote lesions (e.g. ``Case.lesion_labels``). When
            None, labels that read like findings (``vocabulary.is_finding``) are taken as lesions.
        config: how many questions (``QuestionConfig``; default: scaled to the annotations).

    Returns:
        The chosen questions, each with the ids of the regions its reasoning must cite and the
        measured facts it rests on.
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
    units: dict[str, list[Unit]] = {
        family.value: make(ctx, ctx.rng(family.value)) for family, make in FAMILIES.items()
    }
    budget = (config or QuestionConfig()).budget(len(ctx.regions), first_round_size(units))
    return deal(select(units, budget=budget, seed=seed), seed=seed)
