"""The per-case stages: load -> normalize -> serialize -> questions -> teacher -> validate -> row.

Each stage is a small function over records. Bad input inside a case (a ``reasons.RecordError``
or an OS error reading its files) becomes a ``Rejection`` with the stage and its reason; it never
stops the build. Any other exception is a bug and stops it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from unimed_cot import __version__
from unimed_cot.builders import Builder
from unimed_cot.cases import CaseFailedError, render_case
from unimed_cot.imaging.png import encode_png
from unimed_cot.questions import QuestionConfig, generate_questions
from unimed_cot.questions.source import source_questions
from unimed_cot.reasons import Reason, Stage
from unimed_cot.records import Case, Rejection, SourceRecord
from unimed_cot.samples import Question, Sample, SerializedImages
from unimed_cot.store.rows import RowRecord
from unimed_cot.teacher import (
    Answer,
    BatchTeacher,
    Teacher,
    TeacherRequest,
    TeacherStats,
    answer_requests,
    build_request,
    render_reasoning,
    sends_images,
)

from .config import BuildConfig
from .rows import to_row


@dataclass(slots=True)
class CaseResult:
    """What one case produced: published rows and counted rejections.

    ``retry_later`` is set when the teacher could not be reached for some question: the case is
    then not staged, so a rerun asks again (answered requests come from the cache).
    """

    case_id: str
    rows: list[RowRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    teacher_stats: TeacherStats = field(default_factory=TeacherStats)
    retry_later: bool = False
    usage: list[dict[str, Any]] = field(default_factory=list)  # per answer, LLM teachers only


@dataclass(slots=True)
class PreparedCase:
    """A case after its CPU stages (load -> normalize -> serialize -> questions): the teacher
    requests of its questions and the PNG bytes of its images, waiting for the answers.

    Picklable: it travels from a worker process (or a Ray task) to the teacher's scheduler.
    """

    record: SourceRecord
    requests: list[TeacherRequest] = field(default_factory=list)
    encoded: dict[str, list[bytes]] = field(default_factory=dict)  # PNG bytes by CT window
    version: str = ""
    rejections: list[Rejection] = field(default_factory=list)  # rejected before the teacher


def prepare_case(
    record: SourceRecord, *, builder: Builder, config: BuildConfig, with_images: bool
) -> PreparedCase:
    """The CPU stages of one case: its requests, or none and the rejection when it was
    rejected before the teacher (bad input, no question). Never raises for a bad case."""
    result = PreparedCase(record=record)
    languages = (config.questions or QuestionConfig()).languages
    if record.language and record.language not in languages:
        result.rejections.append(
            Rejection(
                stage=Stage.LIST,
                reason=Reason.LANGUAGE_NOT_KEPT,
                detail=f"its questions are in {record.language!r}; the build keeps "
                f"{', '.join(languages)} (--language)",
                source=record.source,
                case_id=record.case_id,
            )
        )
        return result
    try:
        rendered = render_case(builder, record, config.serialize)
    except CaseFailedError as failure:
        result.rejections.append(
            Rejection(
                stage=failure.stage,
                reason=failure.reason,
                detail=failure.detail,
                source=record.source,
                case_id=record.case_id,
            )
        )
        return result
    license_id = builder.terms_of(record).license
    samples = make_samples(
        rendered.case,
        rendered.pixels,
        license=license_id,
        seed=config.seed,
        questions=config.questions,
    )
    if not samples:
        kept_languages = ", ".join(languages)
        detail = (
            f"none of the source's questions is in the kept languages ({kept_languages})"
            if rendered.case.source_questions
            else "the annotations support no question (no labelled region found)"
        )
        result.rejections.append(
            Rejection(
                stage=Stage.QUESTIONS,
                reason=Reason.NO_QUESTION,
                detail=detail,
                source=record.source,
                case_id=record.case_id,
            )
        )
        return result
    encoded: dict[str, list[bytes]] = {}
    for sample in samples:
        if sample.pixels.window not in encoded:
            encoded[sample.pixels.window] = [encode_png(i) for i in sample.pixels.images]
    return PreparedCase(
        record=record,
        requests=[
            build_request(
                sample,
                with_images=with_images,
                png_images=encoded[sample.pixels.window] if with_images else None,
            )
            for sample in samples
        ],
        encoded=encoded,
        version=f"{__version__}+{config.identity_hash()[:12]}",
    )


def finish_case(
    prepared: PreparedCase,
    answers: Sequence[Answer],
    *,
    teacher: Teacher,
    config: BuildConfig,
) -> CaseResult:
    """A prepared case's answers (one per request, in order) -> its rows and rejections."""
    result = CaseResult(case_id=prepared.record.case_id, rejections=list(prepared.rejections))
    with_llm = isinstance(teacher, BatchTeacher)
    for answer in answers:
        result.teacher_stats += answer.stats
        result.retry_later |= answer.retry_later
        images = prepared.encoded[answer.request.sample.pixels.window]
        row = answer_row(
            answer, images=images, teacher=teacher, version=prepared.version, config=config
        )
        if row is not None:
            result.rows.append(row)
        if with_llm:
            result.usage.append(usage_line(answer, accepted=row is not None))
        if answer.rejection is not None:
            result.rejections.append(answer.rejection)
    return result


def process_record(
    record: SourceRecord, *, builder: Builder, teacher: Teacher, config: BuildConfig
) -> CaseResult:
    """Run every stage for one listed case, its questions answered together (the template
    teacher; an LLM teacher goes through the build's scheduler instead). Never raises for a
    bad case."""
    prepared = prepare_case(
        record, builder=builder, config=config, with_images=sends_images(teacher)
    )
    answers = answer_requests(teacher, prepared.requests) if prepared.requests else []
    return finish_case(prepared, answers, teacher=teacher, config=config)


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


def make_samples(
    case: Case,
    pixels: SerializedImages,
    *,
    license: str,
    seed: int,
    questions: QuestionConfig | None = None,
) -> list[Sample]:
    """One ``Sample`` per question of a serialized case: the source's own questions where it
    ships them (``Case.source_questions``, indexed by the source's question ids), else the
    questions generated from its annotations."""
    record = case.record
    if case.source_questions:
        kept = source_questions(
            case.source_questions,
            pixels.regions,
            languages=(questions or QuestionConfig()).languages,
        )
    else:
        kept = list(
            enumerate(
                generate_questions(
                    pixels,
                    dims=record.dims,
                    modality=record.modality,
                    vocabulary=sorted(set(case.labels.values())),
                    lesion_vocabulary=case.lesion_labels,
                    seed=f"{record.source}/{record.case_id}/{seed}",
                    config=questions,
                )
            )
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
        for index, question in kept
    ]


def question_pixels(pixels: SerializedImages, question: Question) -> SerializedImages:
    """The case's pixels as one question sees them: under the CT window that shows the
    structures of its evidence (``imaging.views``), or the case's own. An ungrounded question
    (a source's own, with no annotation behind it) sees no regions, so no box is cited for it."""
    if not question.grounded:
        pixels = replace(pixels, regions=[])
    if pixels.views is None:
        return pixels
    labels = {r.label for r in pixels.regions if r.id in question.evidence}
    window, images = pixels.views.for_labels(labels)
    return replace(pixels, images=images, window=window, views=None)


def answer_row(
    answer: Answer, *, images: list[bytes], teacher: Teacher, version: str, config: BuildConfig
) -> RowRecord | None:
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
