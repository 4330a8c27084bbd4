"""Questions a source ships (VQA-RAD, SLAKE, PathVQA): kept as released, not generated.

* The question text and the answer stay the source's; the question type is the source's own.
* A **closed** answer becomes a choice: ``Yes``/``No`` for a yes/no answer (options always in
  that order, so a letter means the same in every row), or the two alternatives of an
  "A or B?" question when the answer is one of them. A closed answer that fits neither (a
  released closed answer that names something the question does not offer) is kept as a
  free-text answer, with its type still ``closed``.
* An **open** answer stays a free-text answer with type ``open``.
* A question is **grounded** only where the builder found an annotation of the case (a box or a
  mask region) that shows what the question asks about (``SourceQuestion.evidence_labels``);
  its evidence is then those regions, and the reasoning must cite one. Every other question is
  published with ``grounded`` false and no evidence: its answer is the source's, and no box in
  its reasoning claims otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from unimed_cot.records import AnswerType, SourceQuestion
from unimed_cot.samples import Question, Region

YES, NO = "Yes", "No"
# "Is it an MRI or a CT?": the last " or " of a closed question splits its two alternatives.
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_MAX_OPTION_WORDS = 4
_UNGROUNDED = (
    "No annotation of the source marks a region for this question, so it is answered from "
    "the image as a whole."
)


def normalize_text(text: str) -> str:
    """Whitespace collapsed (VQA-RAD has a literal tab inside one question)."""
    return " ".join(text.split())


def normalize_answer(answer: object) -> str:
    """The released answer as text: integers (VQA-RAD) as digits, ``yes``/``YES`` as ``Yes``."""
    if isinstance(answer, bool):
        return YES if answer else NO
    if isinstance(answer, int | float):
        return f"{answer:g}"
    text = normalize_text(str(answer))
    if text.casefold() in ("yes", "no"):
        return YES if text.casefold() == "yes" else NO
    return text


def source_questions(
    questions: Sequence[SourceQuestion],
    regions: Sequence[Region],
    *,
    languages: Collection[str],
) -> list[tuple[int, Question]]:
    """``(question index, Question)`` for every kept question of a case, in the source's order.

    Args:
        questions: the case's questions as the builder read them.
        regions: the published regions of the case (box and mask regions).
        languages: the question languages to keep (e.g. ``{"en"}``).
    """
    kept: list[tuple[int, Question]] = []
    for asked in questions:
        if asked.language not in languages:
            continue
        wanted = {label.casefold() for label in asked.evidence_labels}
        evidence = tuple(r.id for r in regions if r.label.casefold() in wanted)
        options, answer = _choices(asked)
        rationale = tuple(
            f"The {r.label} is outlined by the source's own annotation [{r.id}]."
            for r in regions
            if r.id in evidence
        ) or (_UNGROUNDED,)
        kept.append(
            (
                asked.index,
                Question(
                    family=asked.question_type,
                    text=asked.text,
                    options=options,
                    answer=answer,
                    evidence=evidence,
                    rationale=rationale,
                    fact=("source", asked.question_type),
                    answer_type=asked.answer_type,
                    grounded=bool(evidence),
                ),
            )
        )
    return kept


def _choices(asked: SourceQuestion) -> tuple[tuple[str, ...], str]:
    """Options and the answer in the row's form (``"B. option"`` for a choice)."""
    if asked.answer_type != AnswerType.CLOSED:
        return (), asked.answer
    if asked.answer in (YES, NO):
        options: tuple[str, ...] = (YES, NO)
        return options, f"{'AB'[options.index(asked.answer)]}. {asked.answer}"
    pair = _alternatives(asked.text, asked.answer)
    if pair is None:
        return (), asked.answer
    answer = _bare(asked.answer)
    index = 0 if pair[0].casefold() == answer.casefold() else 1
    other = pair[1 - index]
    if answer[:1].isupper():  # the released answer's casing for both options
        other = other[:1].upper() + other[1:]
    options = (answer, other) if index == 0 else (other, answer)
    return options, f"{'AB'[index]}. {answer}"


def _alternatives(text: str, answer: str) -> tuple[str, str] | None:
    """The two alternatives of "... X or Y?" when ``answer`` is one of them, else None.

    The words after the last "or" are the second alternative; the first takes as many words
    before it as the answer has (when the answer is the first) or as the second has.
    """
    parts = _OR.split(text.rstrip(" ?.").replace(",", " "))
    if len(parts) < 2:
        return None
    before, after = " ".join(parts[:-1]).split(), _bare(parts[-1]).split()
    if not before or not after or len(after) > _MAX_OPTION_WORDS:
        return None
    target = _bare(answer)
    second = " ".join(after)
    size = len(after) if target.casefold() == second.casefold() else len(target.split())
    first = _bare(" ".join(before[-size:]))
    if first.casefold() == second.casefold():
        return None
    if target.casefold() not in (first.casefold(), second.casefold()):
        return None
    return (first, second)


def _bare(text: str) -> str:
    return _ARTICLE.sub("", text.strip()).strip()
