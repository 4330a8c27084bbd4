"""Stage order and execution of one build: list, skip what is staged, process the rest, report.

Cases are independent and each is seeded by its own id, so the result does not depend on the
number of workers or on the order in which cases finish.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from unimed_cot.builders import Builder, get_builder
from unimed_cot.cases import CaseFailedError, render_case
from unimed_cot.errors import UsageError
from unimed_cot.records import SourceRecord
from unimed_cot.store import Workspace
from unimed_cot.teacher import (
    BatchTeacher,
    TeacherRequest,
    TeacherStats,
    build_request,
    sends_images,
)

from .config import BuildConfig
from .scheduler import queue_bound, schedule
from .stages import (
    PreparedCase,
    make_samples,
)
from .tasks import (
    CaseSummary,
    close_stage_tools,
    close_tools_at_exit,
    make_teacher,
    prepare_one,
    stage_answers,
    stage_one,
    stage_tools,
)

T = TypeVar("T")


@dataclass(slots=True)
class BuildReport:
    """What a build did, for the summary table and for tests."""

    source: str
    input: Path
    listed: int = 0
    already_staged: int = 0
    processed: int = 0
    rows_new: int = 0
    rejections: Counter[tuple[str, str]] = field(default_factory=Counter)
    discarded_stale: int = 0
    seconds: float = 0.0
    rows_staged_total: int = 0
    unfinished: int = 0  # cases left unstaged because the teacher was unreachable
    teacher: TeacherStats = field(default_factory=TeacherStats)

    @property
    def nothing_new(self) -> bool:
        return self.processed == 0


def resolve_input(builder: Builder, config: BuildConfig) -> Path:
    """The input folder: ``--input`` if given (it must exist), else the builder's default."""
    if config.input is None:
        return builder.default_input(config.workspace)
    if not config.input.is_dir():
        raise UsageError(
            f"input folder {config.input} does not exist. Source {builder.slug!r} expects:\n"
            f"{builder.layout}"
        )
    builder.check_root(config.input)
    return config.input


def kept_records(builder: Builder, root: Path, config: BuildConfig) -> Iterator[SourceRecord]:
    """The builder's listing, less the records of source-question languages the build does
    not keep (SLAKE's Chinese questions unless ``--language zh``); the build itself lists them
    all and rejects those as ``language-not-kept`` (``stages.process_record``)."""
    languages = set(config.questions.languages)
    for record in builder.records(root):
        if not record.language or record.language in languages:
            yield record


def run_build(config: BuildConfig, *, progress: bool = True) -> BuildReport:
    """Build (or continue building) the staged rows of one source into ``config.out``."""
    started = time.perf_counter()
    builder = get_builder(config.source)
    _check_teacher(config)  # fail on a bad teacher before any work
    root = resolve_input(builder, config)
    workspace = Workspace(config.out)
    report = BuildReport(source=config.source, input=root)

    previous = workspace.read_run(config.source)
    if previous is not None and previous.get("identity_hash") != config.identity_hash():
        report.discarded_stale = workspace.discard_source(config.source)
    workspace.write_run(
        config.source, {"identity": config.identity(), "identity_hash": config.identity_hash()}
    )

    records = list(_limited(builder.records(root), config.limit))
    report.listed = len(records)
    pending = [r for r in records if not workspace.is_staged(config.source, r.case_id)]
    report.already_staged = report.listed - len(pending)

    try:
        for summary in _execute(pending, config=config, progress=progress):
            report.processed += 1
            report.rows_new += summary.rows
            report.rejections.update(summary.rejections)
            report.teacher += summary.teacher
            report.unfinished += not summary.staged
    finally:
        close_stage_tools()  # the teacher's HTTP session ends with the build, not at exit

    report.rows_staged_total = _count_staged_rows(workspace, config.source)
    report.seconds = time.perf_counter() - started
    workspace.write_run(
        config.source,
        {
            "identity": config.identity(),
            "identity_hash": config.identity_hash(),
            "listed": report.listed,
            "rows_staged": report.rows_staged_total,
        },
    )
    return report


def _limited(records: Iterator[SourceRecord], limit: int | None) -> Iterator[SourceRecord]:
    for index, record in enumerate(records):
        if limit is not None and index >= limit:
            return
        yield record


def _execute(
    pending: list[SourceRecord], *, config: BuildConfig, progress: bool
) -> Iterator[CaseSummary]:
    bar = tqdm(total=len(pending), desc=f"build {config.source}", unit="case", disable=not progress)
    try:
        if config.executor == "ray":
            from .ray_executor import execute_on_ray

            summaries = execute_on_ray(pending, config=config)
        elif config.teacher == "template":
            summaries = _local_template(pending, config)
        else:
            summaries = _local_scheduled(pending, config)
        for summary in summaries:
            yield summary
            bar.update()
    finally:
        bar.close()


def _local_template(pending: list[SourceRecord], config: BuildConfig) -> Iterator[CaseSummary]:
    """The offline teacher is CPU work like the other stages: each case runs whole in a worker."""
    if config.workers <= 1 or len(pending) <= 1:
        for record in pending:
            yield stage_one(record, config)
        return
    with _pool(config.workers) as pool:
        yield from _bounded_map(pool, stage_one, pending, config, ahead=4 * config.workers)


def _local_scheduled(pending: list[SourceRecord], config: BuildConfig) -> Iterator[CaseSummary]:
    """An LLM teacher: CPU stages in the workers (or inline), every request through one
    scheduler and one client in this process, each case staged here once answered."""
    builder, teacher = stage_tools(config)
    assert isinstance(teacher, BatchTeacher)
    with_images = sends_images(teacher)
    settings = config.teacher_settings
    bound = queue_bound(settings.concurrency if settings is not None else 1)
    if config.workers <= 1 or len(pending) <= 1:
        prepared: Iterator[PreparedCase] = (
            prepare_one(record, config, with_images) for record in pending
        )
        for case, answers in schedule(prepared, submit=teacher.submit, max_queued=bound):
            yield stage_answers(case, answers, builder=builder, teacher=teacher, config=config)
        return
    with _pool(config.workers) as pool:
        # a few cases per worker ahead: enough to keep the workers busy, no more in memory
        prepared = _bounded_map(
            pool, prepare_one, pending, config, with_images, ahead=2 * config.workers
        )
        for case, answers in schedule(prepared, submit=teacher.submit, max_queued=bound):
            yield stage_answers(case, answers, builder=builder, teacher=teacher, config=config)


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: library threads (BLAS, Arrow) and forked locks do not mix.
    return ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=close_tools_at_exit
    )


def _bounded_map(
    pool: ProcessPoolExecutor,
    function: Callable[..., T],
    records: list[SourceRecord],
    *args: object,
    ahead: int,
) -> Iterator[T]:
    """``function(record, *args)`` for every record, in completion order, with at most
    ``ahead`` submitted and not yet taken: a slow consumer stops the pool (backpressure)."""
    todo = iter(records)
    running: set[Future[T]] = set()

    def top_up() -> None:
        while len(running) < ahead:
            record = next(todo, None)
            if record is None:
                return
            running.add(pool.submit(function, record, *args))

    try:
        top_up()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                running.discard(future)
                yield future.result()
            top_up()
    finally:
        for future in running:
            future.cancel()


def first_request(config: BuildConfig, *, with_images: bool) -> TeacherRequest | None:
    """The teacher request of the first question of the first listed case (for ``--dry-run``),
    built as the build would build it; None if no listed case has a question (a case that is
    bad input is skipped, as the build would reject it)."""
    builder = get_builder(config.source)
    root = resolve_input(builder, config)
    for record in _limited(kept_records(builder, root, config), config.limit):
        try:
            rendered = render_case(builder, record, config.serialize)
        except CaseFailedError:
            continue
        license_id = builder.terms_of(record).license
        samples = make_samples(
            rendered.case,
            rendered.pixels,
            license=license_id,
            seed=config.seed,
            questions=config.questions,
        )
        if samples:
            return build_request(samples[0], with_images=with_images)
    return None


def _check_teacher(config: BuildConfig) -> None:
    teacher = make_teacher(config)
    close = getattr(teacher, "close", None)
    if close is not None:
        close()


def _count_staged_rows(workspace: Workspace, source: str) -> int:
    import pyarrow.parquet as pq

    staged = workspace.staged_dir(source)
    if not staged.is_dir():
        return 0
    return sum(pq.read_metadata(path).num_rows for path in sorted(staged.glob("*.parquet")))
