"""Validation: every rejection reason on a crafted reply, and the answer forms that are accepted."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from unimed_cot.samples import Sample
from unimed_cot.teacher import TraceRejected, to_rejection, validate_reply


def reply(*steps: tuple[str, list[str]], answer: str = "B. Right of the spleen") -> str:
    return json.dumps({"steps": [{"text": t, "cites": c} for t, c in steps], "answer": answer})


GOOD = reply(("The liver [R1] is on the patient's right.", ["R1"]), ("The spleen is left.", ["R2"]))


def test_good_reply_passes(sample_3d: Sample) -> None:
    trace = validate_reply(GOOD, sample_3d)
    assert trace.answer == "B. Right of the spleen"
    assert validate_reply(f"```json\n{GOOD}\n```", sample_3d) == trace  # Markdown fence tolerated


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json at all", "invalid-json"),
        ('{"steps": [{"text": "x"}], "answer": "B"', "invalid-json"),
        ("[1, 2, 3]", "schema"),
        (json.dumps({"steps": [], "answer": "B"}), "empty-steps"),
        (reply(("   ", ["R1"]), ("Liver [R1].", ["R1"])), "empty-steps"),
        (reply(("x" * 700, ["R1"])), "too-long"),
        (reply(("The answer is B.", []), ("Liver [R1].", ["R1"])), "answer-leaked"),
        (reply(("It is right of the spleen.", []), ("Liver [R1].", ["R1"])), "answer-leaked"),
        (reply(("The liver [R1] is on slice 12.", ["R1"])), "slice-out-of-range"),
        (reply(("The liver [R1] spans slices 3 to 9.", ["R1"])), "slice-out-of-range"),
        (
            json.dumps(
                {"steps": [{"text": "x", "cites": ["R1"], "bbox": [1, 2, 3, 4]}], "answer": "B"}
            ),
            "schema",
        ),
        (reply(("Liver [R1].", ["R0"])), "schema"),  # R0 is not a region id at all
        (reply(("The liver [R7] is right.", ["R1"])), "unknown-region-id"),
        (reply(("The liver is right.", ["R1", "R5"])), "unknown-region-id"),
        (reply(("The liver [R3] contains a tumor.", ["R3"])), "missing-evidence"),
        (reply(("The liver is on the right.", [])), "missing-evidence"),
        (reply(("Liver [R1].", ["R1"]), answer="A. Left of the spleen"), "wrong-answer"),
        (reply(("Liver [R1].", ["R1"]), answer="A"), "wrong-answer"),
        (reply(("Liver [R1].", ["R1"]), answer="B. Left of the spleen"), "wrong-answer"),
        (reply(("Liver [R1].", ["R1"]), answer="Anterior to the spleen"), "wrong-answer"),
        (reply(("Liver <|box_start|>[2,10,1,24,40,7]<|box_end|>.", ["R1"])), "coordinates-in-text"),
        (reply(("Liver at [2, 10, 24, 40] [R1].", ["R1"])), "coordinates-in-text"),
        (reply(("Liver at (2,10,1,24,40,7) [R1].", ["R1"])), "coordinates-in-text"),
        (reply(("Liver at (20,100),(240,400) [R1].", ["R1"])), "coordinates-in-text"),
    ],
)
def test_each_rejection_reason(sample_3d: Sample, raw: str, reason: str) -> None:
    with pytest.raises(TraceRejected) as caught:
        validate_reply(raw, sample_3d)
    assert caught.value.reason == reason
    assert caught.value.detail and "\n" not in caught.value.detail


@pytest.mark.parametrize(
    "answer",
    [
        "B",
        "b",
        "B.",
        "B. Right of the spleen",
        "  b.   right OF the spleen ",
        "Right of the spleen",
        "(B)",
        "B)",
    ],
)
def test_accepted_answer_forms(sample_3d: Sample, answer: str) -> None:
    trace = validate_reply(reply(("Liver [R1].", ["R1"]), answer=answer), sample_3d)
    assert trace.answer == "B. Right of the spleen"  # canonical ground truth


def test_numbers_that_are_not_boxes_pass(sample_3d: Sample) -> None:
    raw = reply(
        ("The liver [R1] measures 1500.0 ml over 6 slices, ratio 4.7 (two organs).", ["R1"])
    )
    validate_reply(raw, sample_3d)


def test_free_form_answer(sample_3d: Sample) -> None:
    question = replace(sample_3d.question, options=(), answer="The liver", evidence=())
    sample = replace(sample_3d, question=question)
    assert validate_reply(reply(("Seen.", []), answer="the  liver."), sample).answer == "The liver"
    with pytest.raises(TraceRejected, match="wrong-answer"):
        validate_reply(reply(("Seen.", []), answer="The spleen"), sample)


def test_to_rejection(sample_3d: Sample) -> None:
    raw = reply(("The liver [R7].", ["R1"]))
    with pytest.raises(TraceRejected) as caught:
        validate_reply(raw, sample_3d)
    rejection = to_rejection(caught.value, sample_3d, raw)
    assert (rejection.stage, rejection.reason) == ("validate", "unknown-region-id")
    assert rejection.sample_id == "toy/case3d/0" and rejection.case_id == "case3d"
    assert rejection.source == "toy" and rejection.raw == raw and "R7" in rejection.detail
