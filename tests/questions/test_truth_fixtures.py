"""Every answer against cases whose truth is known by construction: a one-slice lesion between
the sampled slices, a thin mask in a big box, equal sizes, left/right pairs in 2D and 3D, pooled
synonym class lists, a one-class dataset and labels covered by another annotation."""

from __future__ import annotations

import itertools
from dataclasses import replace

from truth_cases import (
    SAME,
    abdomen,
    abdomen_slice,
    answer_of,
    answers_are_true,
    questions_of,
    thin_and_round,
)

from unimed_cot.imaging import SerializeConfig
from unimed_cot.questions.vocabulary import related, same_or_kind, within

UNIFORM_8 = SerializeConfig(n_slices=8, strategy="uniform")
ROI_16 = SerializeConfig(n_slices=16)


def test_a_lesion_between_sampled_slices_is_never_called_absent() -> None:
    case, truth = abdomen()
    questions = questions_of(case, UNIFORM_8)  # k = 30 is not among the 8 uniform slices
    assert questions and answers_are_true(questions, truth) == []
    about_cyst = [q for q in questions if "kidney cyst" in q.text]
    assert not [q for q in about_cyst if answer_of(q) == "No" and q.fact[0] == "exists"]
    absent = {q.fact[1] for q in questions if q.fact[0] == "exists" and answer_of(q) == "No"}
    assert absent == {"lung nodule"}  # annotated and truly absent


def test_roi_slices_show_it_and_its_side_is_the_patients() -> None:
    case, truth = abdomen()
    questions = questions_of(case, ROI_16, per_case=16)  # room for every candidate
    assert answers_are_true(questions, truth) == []
    # One fact, the cyst's side, is asked either as "where" or as a side-qualified existence.
    side_fact = [q for q in questions if q.fact == ("side", "kidney cyst")]
    sided = [q for q in side_fact if q.family == "existence_verification"]
    assert sided and len(side_fact) > len(sided)
    for q in sided:
        assert answer_of(q) == ("Yes" if "patient's left" in q.text else "No")
    where = [q for q in questions if q.family == "spatial_localization" and "cyst" in q.text]
    assert where and {answer_of(q) for q in where} == {"Patient's left, posterior"}


def test_left_and_right_kidneys_in_3d_are_in_the_patients_frame() -> None:
    case, truth = abdomen()
    questions = questions_of(case, ROI_16, seeds=40)
    kidneys = [q for q in questions if set(q.fact[1:]) == {"left kidney", "right kidney"}]
    relations = [q for q in kidneys if q.family == "spatial_relationship"]
    assert relations
    for q in relations:
        right_first = q.text.index("right kidney") < q.text.index("left kidney")
        expected = (
            "To the patient's right of the left kidney"
            if right_first
            else "To the patient's left of the right kidney"
        )
        assert answer_of(q) == expected
    assert answers_are_true(questions, truth) == []


def test_2d_without_declared_orientation_speaks_of_the_image() -> None:
    case, truth = abdomen_slice()
    questions = questions_of(case, SerializeConfig(), seeds=40)
    assert answers_are_true(questions, truth) == []
    relations = [q for q in questions if q.family == "spatial_relationship"]
    assert relations
    for q in relations:
        assert all(o.endswith("in the image") for o in q.options)
        assert not any("patient" in o or "anterior" in o for o in q.options)
    pair = [q for q in relations if set(q.fact[1:]) == {"left kidney", "right kidney"}]
    assert pair
    for q in pair:
        right_first = q.text.index("right kidney") < q.text.index("left kidney")
        # The patient's right kidney is on the image's left (radiological display).
        assert answer_of(q) == (
            "Left of the left kidney in the image"
            if right_first
            else "Right of the right kidney in the image"
        )


def test_2d_with_declared_orientation_speaks_of_the_patient() -> None:
    case, truth = abdomen_slice(declared=("L", "P"))
    questions = questions_of(case, SerializeConfig(), seeds=40)
    assert answers_are_true(questions, truth) == []
    relations = [q for q in questions if q.family == "spatial_relationship"]
    assert relations
    for q in relations:
        assert not any("in the image" in o for o in q.options)
    pair = [q for q in relations if set(q.fact[1:]) == {"left kidney", "right kidney"}]
    assert pair
    for q in pair:
        right_first = q.text.index("right kidney") < q.text.index("left kidney")
        assert answer_of(q) == (
            "To the patient's right of the left kidney"
            if right_first
            else "To the patient's left of the right kidney"
        )


def test_sizes_come_from_masks_not_boxes() -> None:
    questions = questions_of(thin_and_round(), SerializeConfig(), seeds=30)
    sizes = [q for q in questions if q.family == "size_comparison"]
    assert sizes
    for q in sizes:
        assert "stomach" not in q.text  # a box without a mask has no size
        assert answer_of(q) == "spleen"  # 5024 mask px against the pancreas's 300


def test_equal_sizes_are_about_the_same() -> None:
    case, truth = abdomen(equal_kidneys=True)
    questions = questions_of(case, ROI_16, seeds=40)
    pair = [
        q
        for q in questions
        if q.family == "size_comparison" and set(q.fact[1:]) == {"left kidney", "right kidney"}
    ]
    assert pair and {answer_of(q) for q in pair} == {SAME}
    assert answers_are_true(questions, truth) == []


def test_pooled_synonyms_never_share_an_option_set() -> None:
    case, _ = abdomen()
    labels = {1: "liver", 2: "left kidney", 3: "right kidney", 4: "gallbladder", 5: "stomach"}
    case = replace(
        case,
        labels=labels,
        lesion_labels=frozenset(),
        # M3D-Seg pools AMOS, BTCV and WORD spellings of the same structures.
        vocabulary=("gall bladder", "kidney", "kidney left", "kidneys", "bladder",
                    "urinary bladder", "postcava", "inferior vena cava", "liver left lobe"),
    )  # fmt: skip
    questions = questions_of(case, ROI_16, seeds=40)
    checked = 0
    for q in questions:
        if not q.options or q.options == ("Yes", "No"):
            continue
        if q.family in ("structure_localization", "lesion_analysis"):
            answer = answer_of(q)
            for a, b in itertools.combinations(q.options, 2):
                assert not same_or_kind(a, b), q.options
            for option in q.options:
                assert option == answer or not within(answer, option), q.options
            assert "gall bladder" not in q.options and "kidney left" not in q.options
            checked += 1
    assert checked >= 20


def test_a_one_class_dataset_still_asks_and_never_calls_the_vocabulary_absent() -> None:
    case, _ = abdomen()
    spleen = (case.label_map.array == 2).astype("uint8")  # type: ignore[union-attr]
    alone = replace(
        case,
        labels={1: "spleen"},
        label_map=replace(case.label_map, array=spleen),  # type: ignore[arg-type]
        lesion_labels=frozenset(),
    )
    lonely = questions_of(alone, ROI_16, seeds=5)
    assert lonely and {q.family for q in lonely} == {"spatial_localization"}
    assert {answer_of(q) for q in lonely} == {"Patient's left, posterior"}
    pooled = replace(alone, vocabulary=("liver", "kidney tumor", "pancreas", "aorta"))
    questions = questions_of(pooled, ROI_16, seeds=10)
    families = {q.family for q in questions}
    assert "structure_localization" in families  # distractors from the source's vocabulary
    for q in questions:
        if q.family == "structure_localization":
            others = [o for o in q.options if o != "spleen"]
            assert answer_of(q) == "spleen" and not any(related(o, "spleen") for o in others)
        assert not (q.fact[:1] == ("exists",) and answer_of(q) == "No")  # never claimed absent


def test_covered_labels_are_never_called_absent() -> None:
    case, _ = abdomen()
    covered = replace(case, covered_labels=frozenset({"lung nodule"}))
    questions = questions_of(covered, ROI_16, seeds=20)
    assert not [q for q in questions if "lung nodule" in q.text]
    assert [q for q in questions_of(case, ROI_16, seeds=20) if "lung nodule" in q.text]
