"""The per-case stages: load -> normalize -> serialize -> questions -> teacher -> validate -> row.

Each stage is a small function over records. A failure inside a case becomes a ``Rejection`` with
the stage and a reason slug; it never stops the build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from unimed_cot import __version__
from unimed_cot.builders import Builder
from unimed_cot.imaging import normalize_case, serialize_case
from unimed_cot.questions import generate_questions
from unimed_cot.records import Case, Question, Rejection, Sample, SerializedImages, SourceRecord
from unimed_cot.teacher import (
    Answer,
    BatchTeacher,
    Teacher,
    TeacherStats,
    answer_requests,
    build_request,
    render_reasoning,
    sends_images,
)

from .config import BuildConfig
from .rows import encode_png, to_row


@dataclass(slots=True)
class CaseResult:
    """What one case produced: published rows and counted rejections.

    ``retry_later`` is set when the teacher could not be reached for some question: the case is
    then not staged, so a rerun asks again (answered requests come from the cache).
    """

    case_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    teacher_stats: TeacherStats = field(default_factory=TeacherStats)
    retry_later: bool = False
    usage: list[dict[str, Any]] = field(default_factory=list)  # per answer, LLM teachers only


def reason_slug(error: BaseException) -> str:
    """A reason slug from an exception class: ``LabelMismatchError`` -> ``label-mismatch``."""
    name = type(error).__name__.removesuffix("Error") or "error"
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def process_record(
    record: SourceRecord, *, builder: Builder, teacher: Teacher, config: BuildConfig
) -> CaseResult:
    """Run every stage for one listed case. Never raises for a bad case."""
    result = CaseResult(case_id=record.case_id)
    stage = "load"
    try:
        case = builder.load(record)
        stage = "normalize"
        case = normalize_case(case)
        stage = "serialize"
        pixels = serialize_case(case, config.serialize)
        stage = "questions"
        samples = make_samples(case, pixels, license=builder.license, seed=config.seed)
    except (ValueError, OSError, KeyError, IndexError, RuntimeError) as error:
        result.rejections.append(
            Rejection(
                stage=stage,
                reason=reason_slug(error),
                detail=str(error).splitlines()[0] if str(error) else type(error).__name__,
                source=record.source,
                case_id=record.case_id,
            )
        )
        return result
    if not samples:
        result.rejections.append(
            Rejection(
                stage="questions",
                reason="no-question",
                detail="the annotations support no question (no labelled region found)",
                source=record.source,
                case_id=record.case_id,
            )
        )
        return result
    encoded: dict[str, list[bytes]] = {}  # by window: questions may see other CT windows
    for sample in samples:
        if sample.pixels.window not in encoded:
            encoded[sample.pixels.window] = [encode_png(i) for i in sample.pixels.images]
    version = f"{__version__}+{config.identity_hash()[:12]}"
    # All of a case's questions go to the teacher at once: an LLM teacher answers them
    # concurrently; the template teacher one by one.
    with_images = sends_images(teacher)
    with_llm = isinstance(teacher, BatchTeacher)
    requests = [build_request(sample, with_images=with_images) for sample in samples]
    for answer in answer_requests(teacher, requests):
        result.teacher_stats += answer.stats
        result.retry_later |= answer.retry_later
        images = encoded[answer.request.sample.pixels.window]
        row = answer_row(answer, images=images, teacher=teacher, version=version, config=config)
        if row is not None:
            result.rows.append(row)
        if with_llm:
            result.usage.append(usage_line(answer, accepted=row is not None))
        if answer.rejection is not None:
            result.rejections.append(answer.rejection)
    return result


def usage_line(answer: Answer, *, accepted: bool) -> dict[str, Any]:
    """One line of the usage ledger: what the answer to one question cost, and its fate."""
    stats = answer.stats
    return {
        "id": answer.request.sample.id,
        "accepted": accepted,
        "requests_sent": stats.requests_sent,
        "cache_hits": stats.cache_hits,
        "retries": stats.retries,
        "repairs": stats.repairs,
        "prompt_tokens": stats.produced.prompt_tokens,
        "completion_tokens": stats.produced.completion_tokens,
        "cost_usd": round(stats.produced.cost_usd, 8),
    }


def make_samples(case: Case, pixels: SerializedImages, *, license: str, seed: int) -> list[Sample]:
    """One ``Sample`` per generated question of a serialized case."""
    record = case.record
    questions = generate_questions(
        pixels,
        dims=record.dims,
        modality=record.modality,
        vocabulary=sorted(set(case.labels.values())),
        lesion_vocabulary=case.lesion_labels,
        seed=f"{record.source}/{record.case_id}/{seed}",
    )
    return [
        Sample(
            source=record.source,
            case_id=record.case_id,
            question_index=index,
            dims=record.dims,
            modality=record.modality,
            group_key=record.group_key,
            license=license,
            pixels=question_pixels(pixels, question),
            question=question,
            official_split=record.official_split,
        )
        for index, question in enumerate(questions)
    ]


def question_pixels(pixels: SerializedImages, question: Question) -> SerializedImages:
    """The case's pixels as one question sees them: under the CT window that shows the
    structures of its evidence (``imaging.views``), or the case's own."""
    if pixels.views is None:
        return pixels
    labels = {r.label for r in pixels.regions if r.id in question.evidence}
    window, images = pixels.views.for_labels(labels)
    return replace(pixels, images=images, window=window, views=None)


def answer_row(
    answer: Answer, *, images: list[bytes], teacher: Teacher, version: str, config: BuildConfig
) -> dict[str, Any] | None:
    """The published row of an accepted answer (None for a rejected one)."""
    if answer.trace is None:
        return None
    sample = answer.request.sample
    return to_row(
        sample,
        images=images,
        reasoning=render_reasoning(answer.trace, sample),
        teacher=teacher.name,
        prompt_sha=teacher.prompt_sha,
        pipeline_version=version,
        salt=config.salt,
    )
