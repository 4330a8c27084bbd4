"""Answer letters of generated choice questions are balanced over A-D, deterministically."""

from __future__ import annotations

from collections import Counter

import numpy as np

from unimed_cot.questions import generate_questions
from unimed_cot.questions.context import FamilyRandom, choice_question, seeded_random
from unimed_cot.records import Region, RegionFacts, SerializedImages

VOCAB = ["liver", "spleen", "right kidney", "left kidney", "pancreas", "stomach", "liver tumor"]


def _region(
    rid: str, label: str, box: tuple[int, ...], ml: float, terms: tuple[str, ...]
) -> Region:
    centroid = tuple((box[i] + box[i + 3]) / 2 for i in range(3))
    area = int(np.prod([box[i + 3] - box[i] for i in range(3)]))
    lesion = label == "liver tumor"
    facts = RegionFacts(area, ml, centroid, *terms)
    return Region(rid, label, box, facts, is_lesion=lesion, host="liver" if lesion else "")


def _pixels() -> SerializedImages:
    regions = [
        _region(
            "R1", "liver", (20, 60, 8, 120, 180, 24), 1523.4, ("right", "anterior", "superior")
        ),
        _region("R2", "spleen", (170, 90, 10, 230, 170, 20), 210.0, ("left", "posterior", "")),
        _region("R3", "right kidney", (40, 150, 2, 80, 200, 9), 150.0, ("right", "posterior", "")),
        _region("R4", "liver tumor", (50, 90, 12, 70, 110, 16), 6.1, ("right", "anterior", "")),
    ]
    return SerializedImages(
        images=[np.zeros((252, 252), np.uint8) for _ in range(32)],
        slice_positions_mm=[5.0 * i for i in range(32)],
        plane="axial",
        spacing_mm=[1.5, 1.5, 5.0],
        window="CT abdomen W400 L50",
        regions=regions,
        orientation_known=True,
    )


def _letters(n_cases: int) -> tuple[Counter[str], list[list[str]]]:
    pixels = _pixels()
    overall: Counter[str] = Counter()
    per_case = []
    for number in range(n_cases):
        questions = generate_questions(
            pixels, dims=3, modality="CT", vocabulary=VOCAB, seed=f"case-{number:04d}"
        )
        letters = [q.answer_letter for q in questions if len(q.options) == 4]
        overall.update(letters)
        per_case.append(letters)
    return overall, per_case


def test_letters_are_balanced_over_hundreds_of_questions() -> None:
    overall, per_case = _letters(120)
    total = sum(overall.values())
    assert total >= 300
    assert set(overall) == {"A", "B", "C", "D"}
    # Independent draws would leave a spread of about +-2 sigma (~ +-17 here); the rotation
    # keeps every letter within a few percent of a quarter.
    for letter in "ABCD":
        assert abs(overall[letter] - total / 4) <= 0.04 * total, overall
    # Within one case the 4-option families take distinct letters.
    assert all(len(set(letters)) == len(letters) for letters in per_case)


def test_letters_are_deterministic() -> None:
    assert _letters(20) == _letters(20)


def test_rotation_slots_are_uniform_for_three_options() -> None:
    # A 3-option question lands on A, B and C equally often over cases (offset over lcm 12).
    counts: Counter[str] = Counter()
    for number in range(600):
        offset = seeded_random(f"c{number}", "answer slots").randrange(12)
        rng = FamilyRandom(number, offset)
        question = choice_question(
            family="size_comparison",
            text="Which is larger?",
            correct="liver",
            distractors=["spleen", "They are about the same size"],
            rng=rng,
            evidence=[],
            rationale=[],
        )
        assert question is not None and len(question.options) == 3
        counts[question.answer_letter] += 1
    assert set(counts) == {"A", "B", "C"}
    assert all(abs(counts[letter] - 200) <= 45 for letter in "ABC"), counts
