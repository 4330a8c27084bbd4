"""Validate a teacher's raw reply against its sample: schema first, then grounding and answer.

A reply is never trusted: it must parse as ``schemas.Trace``, write no coordinates itself, cite
only regions the sample has, cite at least one evidence region when the question has any, and
end with the ground-truth answer. A failed check is a ``TraceRejected`` with a reason slug, which
the pipeline keeps as a counted ``records.Rejection`` (stage ``validate``).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum

from pydantic import ValidationError

from unimed_cot.boxes import BOX_END, BOX_START
from unimed_cot.records import Rejection
from unimed_cot.samples import Question, Sample
from unimed_cot.schemas import Trace

from .render import marker_ids

_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*(.*?)\s*```\s*$", re.DOTALL)
_NUM = r"-?\d+(?:\.\d+)?"
# A bracketed 4- or 6-tuple of numbers, or a "(x1,y1),(x2,y2)" pair: coordinates the teacher wrote.
_COORDINATES = re.compile(
    rf"[\[(]\s*{_NUM}(?:\s*,\s*{_NUM}){{3}}(?:(?:\s*,\s*{_NUM}){{2}})?\s*[\])]"
    rf"|\(\s*{_NUM}\s*,\s*{_NUM}\s*\)\s*,\s*\(\s*{_NUM}\s*,\s*{_NUM}\s*\)"
)
_LETTER_ANSWER = re.compile(r"^\(?([a-j])\)?[.):]?(?:\s+(.*))?$", re.DOTALL)
# "slice 40", "slices 3-7", "slice #12", "slices 3 to 7": slice numbers a 3D step mentions.
_SLICE_MENTION = re.compile(
    r"\bslices?\s+(?:#|no\.?\s*)?(\d+)(?:\s*(?:-|–|to|through|\.\.)\s*(\d+))?", re.IGNORECASE
)
# "the answer is B", "answer: B", "option B is correct": the conclusion stated up front.
_ANSWER_PHRASE = r"(?:(?:correct\s+)?answer\s*(?:is|:)\s*(?:option\s+)?|option\s+)"
_SCHEMA_TOO_LONG = {"string_too_long", "too_long"}
_SCHEMA_TOO_SHORT = {"string_too_short", "too_short"}


class RejectReason(StrEnum):
    """Why a teacher reply was not published."""

    INVALID_JSON = "invalid-json"
    SCHEMA = "schema"
    COORDINATES_IN_TEXT = "coordinates-in-text"
    UNKNOWN_REGION_ID = "unknown-region-id"
    MISSING_EVIDENCE = "missing-evidence"
    WRONG_ANSWER = "wrong-answer"
    EMPTY_STEPS = "empty-steps"
    TOO_LONG = "too-long"
    ANSWER_LEAKED = "answer-leaked"
    SLICE_OUT_OF_RANGE = "slice-out-of-range"


class TraceRejected(Exception):  # noqa: N818 - the name is the pipeline contract
    """A reply that failed validation.

    Attributes:
        reason: a ``RejectReason`` value (slug).
        detail: one human-readable line.
    """

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason.value
        self.detail = detail


def validate_reply(raw: str, sample: Sample) -> Trace:
    """Parse and check a raw reply; return the trace with its answer set to the ground truth.

    A reply's answer may be the letter alone, ``"B."``, ``"B. text"`` or the option text
    (case- and whitespace-insensitive); the returned trace carries the canonical answer.

    Raises:
        TraceRejected: with reason ``invalid-json``, ``schema``, ``empty-steps``, ``too-long``,
            ``coordinates-in-text``, ``unknown-region-id``, ``missing-evidence``,
            ``slice-out-of-range``, ``answer-leaked`` or ``wrong-answer``.
    """
    trace = _parse(raw)
    blank = [i + 1 for i, s in enumerate(trace.steps) if not s.text.strip()]
    if blank:
        raise TraceRejected(
            RejectReason.EMPTY_STEPS, f"step(s) {', '.join(map(str, blank))} have no text"
        )
    for text in [*(s.text for s in trace.steps), trace.answer]:
        if BOX_START in text or BOX_END in text or _COORDINATES.search(text):
            raise TraceRejected(
                RejectReason.COORDINATES_IN_TEXT,
                f"the reply writes coordinates itself instead of citing region ids: {text[:120]!r}",
            )
    known = {r.id for r in sample.regions}
    cited = [c for s in trace.steps for c in (*s.cites, *marker_ids(s.text))]
    unknown = sorted(set(cited) - known, key=_id_order)
    if unknown:
        have = ", ".join(sorted(known, key=_id_order)) or "no regions"
        raise TraceRejected(
            RejectReason.UNKNOWN_REGION_ID, f"cites {', '.join(unknown)}; the sample has {have}"
        )
    evidence = sample.question.evidence
    if evidence and not set(evidence) & set(cited):
        raise TraceRejected(
            RejectReason.MISSING_EVIDENCE,
            f"cites none of the evidence regions {', '.join(evidence)}",
        )
    if sample.dims == 3:
        _check_slices(trace, len(sample.pixels.images))
    if len(trace.steps) > 1 and leaks_answer(trace.steps[0].text, sample.question):
        raise TraceRejected(
            RejectReason.ANSWER_LEAKED,
            f"the first step states the answer before any reasoning: {trace.steps[0].text[:120]!r}",
        )
    if not answer_matches(trace.answer, sample.question):
        raise TraceRejected(
            RejectReason.WRONG_ANSWER,
            f"answer {trace.answer[:80]!r} is not the ground truth {sample.question.answer!r}",
        )
    return trace.model_copy(update={"answer": sample.question.answer})


def answer_matches(reply: str, question: Question) -> bool:
    """Whether a reply's answer states the ground truth (letter, ``"B. text"`` or text alone)."""
    given = _normalize(reply)
    if not question.options:
        return given == _normalize(question.answer)
    letter, _, text = question.answer.partition(". ")
    if given == _normalize(text):
        return True
    match = _LETTER_ANSWER.match(given)
    if match is None or match.group(1) != letter.casefold():
        return False
    rest = match.group(2)
    return rest is None or _normalize(rest) == _normalize(text)


def leaks_answer(text: str, question: Question) -> bool:
    """Whether ``text`` states the answer: the full answer, its option text (two or more words),
    or a phrase like "the answer is B"."""
    given = _normalize(text)
    answer = _normalize(question.answer)
    if answer in given and (question.options or len(answer.split()) > 1):
        return True
    if question.options:
        letter, _, option = question.answer.partition(". ")
        option_text = _normalize(option)
        if len(option_text.split()) > 1 and option_text in given:
            return True
        pattern = rf"{_ANSWER_PHRASE}\(?{re.escape(letter.casefold())}\b"
        return re.search(pattern, given) is not None
    return re.search(rf"{_ANSWER_PHRASE}{re.escape(answer)}\b", given) is not None


def to_rejection(err: TraceRejected, sample: Sample, raw: str) -> Rejection:
    """The counted rejection of a sample whose reply failed validation (raw reply kept)."""
    return Rejection(
        stage="validate",
        reason=err.reason,
        detail=err.detail,
        source=sample.source,
        case_id=sample.case_id,
        sample_id=sample.id,
        raw=raw,
    )


def _parse(raw: str) -> Trace:
    fenced = _FENCE.match(raw)  # many chat models wrap JSON in a Markdown fence
    text = fenced.group(1) if fenced else raw
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise TraceRejected(
            RejectReason.INVALID_JSON,
            f"{error.msg} at line {error.lineno} column {error.colno}",
        ) from None
    try:
        return Trace.model_validate(data)
    except ValidationError as error:
        kinds = {e["type"] for e in error.errors()}
        reason = RejectReason.SCHEMA
        if kinds & _SCHEMA_TOO_LONG:
            reason = RejectReason.TOO_LONG
        elif kinds <= _SCHEMA_TOO_SHORT:
            reason = RejectReason.EMPTY_STEPS
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}"
            for e in error.errors()[:3]
        ]
        more = f" (+{error.error_count() - 3} more)" if error.error_count() > 3 else ""
        raise TraceRejected(reason, "; ".join(problems) + more) from None


def _check_slices(trace: Trace, n_slices: int) -> None:
    for step in trace.steps:
        for match in _SLICE_MENTION.finditer(step.text):
            numbers = [int(g) for g in match.groups() if g is not None]
            if any(n >= n_slices for n in numbers):
                raise TraceRejected(
                    RejectReason.SLICE_OUT_OF_RANGE,
                    f"{match.group(0)!r} is outside the volume's slices 0..{n_slices - 1}",
                )


def _normalize(text: str) -> str:
    return " ".join(text.split()).casefold().rstrip(".").strip()


def _id_order(region_id: str) -> tuple[int, str]:
    digits = region_id[1:]
    return (int(digits), region_id) if digits.isdigit() else (0, region_id)
