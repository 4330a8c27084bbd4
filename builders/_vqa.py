"""What the VQA builders (``slake``, ``vqa_rad``, ``pathvqa``) share: their payload, reading a
released JSON question file, one question entry as a typed ``SourceQuestion``, and ``load``.

A question entry that lacks its text or answer, or whose answer type is not one the release
documents, makes its case a problem record (``bad-question``): dropping only that question would
publish a case whose question set differs from the benchmark's without saying so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unimed_cot.imaging import ImagingError, read_image_2d
from unimed_cot.questions.source import normalize_answer, normalize_text
from unimed_cot.reasons import Reason
from unimed_cot.records import AnnotatedBox, AnswerType, Case, SourceQuestion, SourceRecord

from ._common import BadBoxError, read_guarded


class BadQuestionError(ImagingError):
    """A source question entry without its text or answer, or of an undocumented type."""

    reason = Reason.BAD_QUESTION


@dataclass(frozen=True, slots=True)
class VqaPayload:
    """What ``load`` needs of a VQA case: its questions and its box annotations (SLAKE)."""

    questions: tuple[SourceQuestion, ...]
    boxes: tuple[AnnotatedBox, ...] = ()


def read_json_list(path: Path) -> list[Any] | str:
    """The JSON array of a released question file, or a one-line problem (not JSON, not an
    array) for the builder's layout error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"{path.name} is not readable JSON ({error})"
    if not isinstance(data, list):
        return f"{path.name} holds a JSON {type(data).__name__}, not the released array of entries"
    return data


def answer_type_of(
    value: object, *, closed: tuple[str, ...], opened: tuple[str, ...]
) -> AnswerType:
    """The source's answer type (``"CLOSED "`` with VQA-RAD's trailing space included).

    Raises:
        BadQuestionError: for a value the release does not use.
    """
    text = str(value).strip().casefold() if isinstance(value, str) else ""
    if text in closed:
        return AnswerType.CLOSED
    if text in opened:
        return AnswerType.OPEN
    raise BadQuestionError(f"answer type {value!r} is none of {[*closed, *opened]}")


def source_question(
    entry: Mapping[str, Any],
    *,
    index: object,
    text_key: str,
    answer: object,
    answer_type: AnswerType,
    question_type: object,
    language: str = "en",
    evidence_labels: tuple[str, ...] = (),
) -> SourceQuestion:
    """One released question entry as a ``SourceQuestion``.

    Raises:
        BadQuestionError: no integer id, no question text, or no answer.
    """
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise BadQuestionError(f"question id {index!r} is not a non-negative integer")
    text = entry.get(text_key)
    if not isinstance(text, str) or not normalize_text(text):
        raise BadQuestionError(f"question {index}: no question text in {text_key!r}")
    if (
        answer is None
        or isinstance(answer, list | dict)
        or (isinstance(answer, float) and not math.isfinite(answer))
    ):
        raise BadQuestionError(f"question {index}: answer {answer!r} is not a value")
    answer_text = normalize_answer(answer)
    if not answer_text:
        raise BadQuestionError(f"question {index}: empty answer")
    kind = normalize_text(str(question_type)) if question_type is not None else ""
    return SourceQuestion(
        index=index,
        text=normalize_text(text),
        answer=answer_text,
        answer_type=answer_type,
        question_type=kind or "vqa",
        language=language,
        evidence_labels=evidence_labels,
    )


def load_vqa_case(record: SourceRecord, *, box_tolerance_px: float = 1.0) -> Case:
    """Read a VQA case's image and attach its questions and boxes.

    A box that overruns the image by more than ``box_tolerance_px`` rejects the case
    (``bad-box``); a smaller overrun (a float box drawn to the last pixel edge) is clipped.
    """
    payload = record.payload_as(VqaPayload)
    image = read_guarded(read_image_2d, record.image)
    boxes: list[AnnotatedBox] = []
    for annotation in payload.boxes:
        x1, y1, x2, y2 = annotation.box
        if x2 > image.width + box_tolerance_px or y2 > image.height + box_tolerance_px:
            raise BadBoxError(
                f"{record.case_id}: box {list(annotation.box)} ({annotation.label}) lies "
                f"outside the {image.width}x{image.height} image"
            )
        clipped = (x1, y1, min(x2, float(image.width)), min(y2, float(image.height)))
        boxes.append(AnnotatedBox(label=annotation.label, box=clipped))
    labels = {i + 1: name for i, name in enumerate(sorted({b.label for b in boxes}))}
    return Case(
        record=record,
        image=image,
        labels=labels,
        boxes=tuple(boxes),
        source_questions=payload.questions,
    )
