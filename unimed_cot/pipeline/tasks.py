"""What runs per case wherever an executor runs it (inline, a worker process, a Ray task or
actor): the CPU stages, staging, and the per-process builder and teacher."""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass, field

from unimed_cot.builders import Builder, get_builder
from unimed_cot.errors import UsageError
from unimed_cot.records import SourceRecord
from unimed_cot.store import Workspace
from unimed_cot.teacher import (
    CACHE_FILE,
    Answer,
    OpenAITeacher,
    ReplyCache,
    Teacher,
    TeacherStats,
    TemplateTeacher,
)

from .config import TEACHERS, BuildConfig
from .stages import CaseResult, PreparedCase, finish_case, prepare_case, process_record


@dataclass(frozen=True, slots=True)
class CaseSummary:
    case_id: str
    rows: int
    rejections: tuple[tuple[str, str], ...]
    teacher: TeacherStats = field(default_factory=TeacherStats)
    staged: bool = True


def make_teacher(config: BuildConfig) -> Teacher:
    """The configured teacher; an LLM teacher gets the workspace's reply cache unless disabled."""
    if config.teacher == "template":
        return TemplateTeacher()
    if config.teacher == "openai":
        if config.teacher_settings is None:
            raise UsageError("--teacher openai needs --base-url and --model (or --config FILE)")
        cache = None
        if config.use_cache:
            cache = ReplyCache(Workspace(config.out).build / CACHE_FILE)
        return OpenAITeacher(config.teacher_settings, cache=cache)
    raise UsageError(f"unknown teacher {config.teacher!r}; available: {', '.join(TEACHERS)}")


def prepare_one(record: SourceRecord, config: BuildConfig, with_images: bool) -> PreparedCase:
    """The CPU stages of one case (runs in a worker process, a Ray task, or inline)."""
    return prepare_case(record, builder=builder_of(config), config=config, with_images=with_images)


def stage_answers(
    case: PreparedCase,
    answers: list[Answer],
    *,
    builder: Builder,
    teacher: Teacher,
    config: BuildConfig,
) -> CaseSummary:
    """Finish a prepared case with its answers and stage it (unless it must wait for a rerun)."""
    result = finish_case(case, answers, teacher=teacher, config=config)
    return stage_result(case.record, result, builder=builder, config=config)


def stage_one(record: SourceRecord, config: BuildConfig) -> CaseSummary:
    """Process one case and stage its rows and rejections (runs in a worker process)."""
    builder, teacher = stage_tools(config)
    result = process_record(record, builder=builder, teacher=teacher, config=config)
    return stage_result(record, result, builder=builder, config=config)


def stage_result(
    record: SourceRecord, result: CaseResult, *, builder: Builder, config: BuildConfig
) -> CaseSummary:
    """Stage a finished case, unless the teacher was unreachable for one of its questions: then
    a rerun asks again (its answered requests come from the cache)."""
    if not result.retry_later:
        Workspace(config.out).stage_case(
            source=record.source,
            case_id=record.case_id,
            rows=result.rows,
            rejections=result.rejections,
            terms=builder.terms_of(record),
            usage=result.usage,
        )
    return CaseSummary(
        case_id=record.case_id,
        rows=len(result.rows),
        rejections=tuple((r.stage, r.reason) for r in result.rejections),
        teacher=result.teacher_stats,
        staged=not result.retry_later,
    )


# One builder and teacher per process and config, not per case: the teacher's connection pool
# and event loop serve every case of the build. They are closed when the build ends (here) or when
# a worker process exits (the pool's initializer), so no aiohttp session is left to the garbage
# collector, which would print "Unclosed client session".
_TOOLS: dict[BuildConfig, tuple[Builder, Teacher]] = {}
_TOOLS_LOCK = threading.Lock()
_BUILDERS: dict[str, Builder] = {}


def builder_of(config: BuildConfig) -> Builder:
    with _TOOLS_LOCK:
        builder = _BUILDERS.get(config.source)
        if builder is None:
            builder = _BUILDERS[config.source] = get_builder(config.source)
        return builder


def stage_tools(config: BuildConfig) -> tuple[Builder, Teacher]:
    with _TOOLS_LOCK:
        tools = _TOOLS.get(config)
        if tools is None:
            tools = _TOOLS[config] = (get_builder(config.source), make_teacher(config))
        return tools


def close_stage_tools() -> None:
    """Close the teachers this process opened for builds (HTTP session, event loop, cache)."""
    with _TOOLS_LOCK:
        tools = list(_TOOLS.values())
        _TOOLS.clear()
    for _, teacher in tools:
        close = getattr(teacher, "close", None)
        if close is not None:
            close()


def close_tools_at_exit() -> None:
    # Runs in each spawned worker: its interpreter exits through sys.exit, which runs atexit.
    atexit.register(close_stage_tools)
