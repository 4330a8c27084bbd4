"""The "which of these findings?" question: only for exhaustive annotations, "none" right exactly
on verified negatives, never an option that is present, covered, hidden or a kind of one."""

from __future__ import annotations

from collections import Counter

import numpy as np

from unimed_cot.questions import generate_questions
from unimed_cot.questions.findings import NONE_OF_THESE
from unimed_cot.samples import CaseTruth, Region, RegionFacts, SerializedImages

FINDINGS = ["Cardiomegaly", "Pneumothorax", "Nodule/Mass", "Lung Opacity", "Rib fracture"]


def _pixels(*, present: set[str], covered: set[str], exhaustive: bool) -> SerializedImages:
    regions = [
        Region(
            f"R{i}",
            label,
            (20 + 40 * i, 30, 50 + 40 * i, 70),
            RegionFacts(area_px=1200, size_mm=None, centroid=(35.0 + 40 * i, 50.0)),
            is_lesion=True,
        )
        for i, label in enumerate(sorted(present), start=1)
    ]
    return SerializedImages(
        images=[np.zeros((224, 224), np.uint8)],
        slice_positions_mm=[],
        plane="",
        spacing_mm=[],
        window="",
        regions=regions,
        orientation_known=False,
        truth=CaseTruth(
            annotated=frozenset(FINDINGS),
            present=frozenset(present),
            covered=frozenset(covered),
            exhaustive=exhaustive,
        ),
        image_axes=("L", "I"),
    )


def _finding_questions(pixels: SerializedImages, seed: str) -> list[tuple[str, tuple[str, ...]]]:
    asked = generate_questions(
        pixels, dims=2, modality="X-ray", vocabulary=FINDINGS, lesion_vocabulary=FINDINGS, seed=seed
    )
    return [(q.answer.split(". ", 1)[1], q.options) for q in asked if NONE_OF_THESE in q.options]


def test_a_verified_negative_answers_none_with_absent_options_only() -> None:
    letters: Counter[str] = Counter()
    for n in range(60):
        pixels = _pixels(present=set(), covered={"Rib fracture"}, exhaustive=True)
        (found,) = _finding_questions(pixels, f"neg-{n}")
        answer, options = found
        assert answer == NONE_OF_THESE
        assert "Rib fracture" not in options and len(options) == 4
        letters["ABCD"[options.index(answer)]] += 1
    assert set(letters) == set("ABCD")  # "none" is not always in one place


def test_a_positive_names_a_shown_finding_and_denies_nothing_related() -> None:
    for n in range(40):
        pixels = _pixels(present={"Nodule/Mass"}, covered=set(), exhaustive=True)
        (found,) = _finding_questions(pixels, f"pos-{n}")
        answer, options = found
        assert answer == "Nodule/Mass"
        # "Lung Opacity" is a hypernym of Nodule/Mass in the vocabulary: never offered as absent.
        assert "Lung Opacity" not in options and NONE_OF_THESE in options


def test_nothing_is_asked_without_an_exhaustive_annotation() -> None:
    pixels = _pixels(present={"Nodule/Mass"}, covered=set(), exhaustive=False)
    assert _finding_questions(pixels, "box-only") == []
    negative = _pixels(present=set(), covered=set(), exhaustive=False)
    assert _finding_questions(negative, "box-only") == []
