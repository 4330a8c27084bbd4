"""Answer priors are balanced by construction: letters per option count, Yes/No per case, and
"about the same size" right exactly when the sizes are within the stated tolerance."""

from __future__ import annotations

from collections import Counter

import numpy as np

from unimed_cot.questions import generate_questions
from unimed_cot.questions.drafts import Dealer, Draft
from unimed_cot.questions.families import SAME_SIZE, SAME_SIZE_TOLERANCE, SIZE_RATIO
from unimed_cot.samples import CaseTruth, Question, Region, RegionFacts, SerializedImages

VOCAB = ["liver", "spleen", "right kidney", "left kidney", "pancreas", "stomach", "liver tumor"]


def _region(
    rid: str, label: str, box: tuple[int, ...], ml: float, terms: tuple[str, str]
) -> Region:
    centroid = tuple((box[i] + box[i + 3]) / 2 for i in range(3))
    area = int(np.prod([box[i + 3] - box[i] for i in range(3)]))
    lesion = label == "liver tumor"
    facts = RegionFacts(area, ml, centroid, side=terms[0], ap=terms[1], voxels=area)
    return Region(rid, label, box, facts, is_lesion=lesion, host="liver" if lesion else "")


def _pixels(kidney_ml: float = 150.0) -> SerializedImages:
    regions = [
        _region("R1", "liver", (20, 60, 8, 120, 180, 24), 1523.4, ("right", "anterior")),
        _region("R2", "spleen", (170, 90, 10, 230, 170, 20), 210.0, ("left", "posterior")),
        _region("R3", "right kidney", (40, 150, 2, 80, 200, 9), kidney_ml, ("right", "posterior")),
        _region("R4", "left kidney", (180, 150, 2, 220, 200, 9), 152.0, ("left", "posterior")),
        _region("R5", "liver tumor", (50, 90, 12, 70, 110, 16), 6.1, ("right", "anterior")),
    ]
    return SerializedImages(
        images=[np.zeros((252, 252), np.uint8) for _ in range(32)],
        slice_positions_mm=[5.0 * i for i in range(32)],
        plane="axial",
        spacing_mm=[1.5, 1.5, 5.0],
        window="CT abdomen W400 L50",
        regions=regions,
        orientation_known=True,
        truth=CaseTruth(
            annotated=frozenset(VOCAB) | {"kidney cyst"},
            present=frozenset(VOCAB) - {"pancreas", "stomach"},
            sides={"liver tumor": frozenset({"right"})},
        ),
    )


def _questions(n_cases: int) -> list[list[Question]]:
    pixels = _pixels()
    return [
        generate_questions(
            pixels,
            dims=3,
            modality="CT",
            vocabulary=[*VOCAB, "kidney cyst"],
            seed=f"case-{number:04d}",
            lesion_vocabulary={"liver tumor", "kidney cyst"},
        )
        for number in range(n_cases)
    ]


def test_letters_are_uniform_for_every_option_count() -> None:
    letters: dict[int, Counter[str]] = {}
    for questions in _questions(150):
        for q in questions:
            if q.options != ("Yes", "No"):
                letters.setdefault(len(q.options), Counter())[q.answer_letter] += 1
    assert {3, 4} <= set(letters)
    for n, counts in letters.items():
        total = sum(counts.values())
        assert total >= 100, (n, counts)
        assert set(counts) == set("ABCD"[:n])
        # Within a case the letters of n-option questions rotate; across cases only the seeded
        # offset varies, so each letter's count stays within sampling noise (3 sigma of a
        # uniform draw per case; no letter is favoured by construction).
        sigma = (total * (1 / n) * (1 - 1 / n)) ** 0.5
        for letter in "ABCD"[:n]:
            assert abs(counts[letter] - total / n) <= 3 * sigma, (n, counts)


def test_yes_and_no_are_equally_frequent_in_every_case() -> None:
    for questions in _questions(40):
        answers = [q.answer.partition(". ")[2] for q in questions if q.options == ("Yes", "No")]
        assert answers and answers.count("Yes") == answers.count("No"), answers
        assert all(q.answer in ("A. Yes", "B. No") for q in questions if q.options[0] == "Yes")


def test_no_fact_is_asked_twice_and_every_family_is_asked() -> None:
    for questions in _questions(30):
        facts = [q.fact for q in questions]
        assert len(set(facts)) == len(facts)
        assert len({q.family for q in questions}) == 6
        assert len(questions) >= 5  # one per shown structure at least


def test_letters_rotate_within_a_case() -> None:
    dealer = Dealer("one case")
    drafts = [
        Draft(family="f", fact=(str(i),), text="?", correct="right", distractors=("a", "b", "c"))
        for i in range(8)
    ]
    letters = [dealer.deal(d).answer_letter for d in drafts]
    assert sorted(letters[:4]) == list("ABCD") and letters[4:] == letters[:4]


def test_about_the_same_size_is_right_exactly_within_the_tolerance() -> None:
    # The kidneys: 150 vs 152 ml (same), 180 vs 152 (1.18: ambiguous band), 200 vs 152 (1.32).
    for kidney_ml, expected in ((150.0, SAME_SIZE), (180.0, None), (200.0, "right kidney")):
        seen = set()
        for number in range(40):
            questions = generate_questions(
                _pixels(kidney_ml), dims=3, modality="CT", vocabulary=VOCAB, seed=f"s{number}"
            )
            for q in questions:
                if q.family == "size_comparison" and set(q.fact[1:]) == {
                    "left kidney",
                    "right kidney",
                }:
                    seen.add(q.answer.partition(". ")[2])
                    assert SAME_SIZE in q.options
        assert seen == (set() if expected is None else {expected}), kidney_ml
    assert SAME_SIZE_TOLERANCE < SIZE_RATIO


def test_letters_are_deterministic() -> None:
    assert _questions(10) == _questions(10)
