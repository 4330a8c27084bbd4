"""``--executor ray``: the build's stages on Ray Data, on one machine or a cluster.

The listed records become a dataset; the CPU stages run as ``map_batches`` tasks (one case per
batch, one CPU each), so Ray spreads them over every node's CPUs, retries a task whose worker
died (Ray Data retries system failures without limit; an exception of our code, a bug, is
raised and not retried), and applies backpressure when the consumer falls behind (its streaming
executor bounds the blocks in flight). Then:

* template teacher: the whole case (its teacher is CPU work) runs and is staged in the task;
* LLM teacher: tasks return prepared cases; every request goes through the scheduler of the
  local executor (``scheduler.schedule``) to one teacher actor, whose one async client holds the
  global ``--concurrency``, rate and token limits (a threaded actor: concurrent calls share its
  event loop and semaphore); the driver stages each case when all its answers are in.

Staging writes into the workspace on the shared filesystem (atomic renames, one file per case),
so a task that is retried after its worker died writes the same bytes again, and a killed build
rerun skips what was staged. The teacher's reply cache lives in the same workspace and is used by
the actor only. Rows, rejections and releases are byte for byte those of the local executor.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from unimed_cot.errors import UsageError
from unimed_cot.records import Rejection, SourceRecord
from unimed_cot.schemas import Trace
from unimed_cot.teacher import Answer, TeacherRequest, TeacherStats

from .config import BuildConfig


def execute_on_ray(pending: list[SourceRecord], *, config: BuildConfig) -> Iterator[Any]:
    """Run the pending cases on Ray; yield a ``CaseSummary`` per case as it is staged."""
    if not pending:
        return
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.ray_address, include_dashboard=False, log_to_driver=False)
    try:
        data = importlib.import_module("ray.data")  # typed Any: Ray is an optional extra
        context = data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        dataset = data.from_items(
            [{"record": pickle.dumps(r)} for r in pending], override_num_blocks=len(pending)
        )
        options: dict[str, Any] = {
            "batch_size": 1,
            "batch_format": "numpy",
            "num_cpus": 1,
        }
        if config.workers > 1:
            options["concurrency"] = config.workers
        if config.teacher == "template":
            staged = dataset.map_batches(_stage_batch, fn_kwargs={"config": config}, **options)
            for row in staged.iter_rows():
                yield pickle.loads(row["summary"])
        else:
            yield from _scheduled(dataset, options, config)
    finally:
        if started_here:
            ray.shutdown()


def _scheduled(dataset: Any, options: dict[str, Any], config: BuildConfig) -> Iterator[Any]:
    ray = _ray()

    from .scheduler import queue_bound, schedule
    from .tasks import builder_of, make_teacher, stage_answers

    settings = config.teacher_settings
    assert settings is not None  # checked by run_build (make_teacher) before any work
    teacher = make_teacher(config)  # the driver's copy: name and prompt_sha of the rows only
    close = getattr(teacher, "close", None)
    if close is not None:
        close()
    actor_class = ray.remote(
        num_cpus=0, max_concurrency=4 * settings.concurrency, max_restarts=3, max_task_retries=3
    )(TeacherActor)
    actor = actor_class.remote(config)
    try:

        def submit(requests: Sequence[TeacherRequest]) -> Future[list[Answer]]:
            return _answers_of(requests, actor.answer_all.remote(list(requests)).future())

        prepared = (
            pickle.loads(row["prepared"])
            for row in dataset.map_batches(
                _prepare_batch,
                fn_kwargs={"config": config, "with_images": settings.send_images},
                **options,
            ).iter_rows()
        )
        builder = builder_of(config)
        bound = queue_bound(settings.concurrency)
        for case, answers in schedule(prepared, submit=submit, max_queued=bound):
            yield stage_answers(case, answers, builder=builder, teacher=teacher, config=config)
    finally:
        ray.get(actor.close.remote())
        ray.kill(actor)


Outcome = tuple[Trace | None, Rejection | None, bool, TeacherStats]


def _answers_of(
    requests: Sequence[TeacherRequest], outcomes: Future[list[Outcome]]
) -> Future[list[Answer]]:
    """A future of the ``Answer``s: the actor's outcomes joined to the driver's requests."""
    answers: Future[list[Answer]] = Future()

    def join(done: Future[list[Outcome]]) -> None:
        if answers.done():  # cancelled by the scheduler (the build stops): nothing to hand back
            return
        error = done.exception() if not done.cancelled() else None
        if done.cancelled():
            answers.cancel()
        elif error is not None:
            answers.set_exception(error)
        else:
            answers.set_result(
                [
                    Answer(request, trace, rejection, retry_later, stats)
                    for request, (trace, rejection, retry_later, stats) in zip(
                        requests, done.result(), strict=True
                    )
                ]
            )

    outcomes.add_done_callback(join)
    return answers


class TeacherActor:
    """The build's one LLM teacher on Ray: every case's requests share its client and limits."""

    def __init__(self, config: BuildConfig) -> None:
        from .tasks import make_teacher

        self.teacher = make_teacher(config)

    def answer_all(self, requests: list[TeacherRequest]) -> list[Outcome]:
        """The answers without their requests (the driver has those: no need to send the
        pixels and images back)."""
        from unimed_cot.teacher import answer_requests

        return [
            (a.trace, a.rejection, a.retry_later, a.stats)
            for a in answer_requests(self.teacher, requests)
        ]

    def close(self) -> None:
        close = getattr(self.teacher, "close", None)
        if close is not None:
            close()


def _stage_batch(batch: dict[str, np.ndarray], config: BuildConfig) -> dict[str, np.ndarray]:
    from .tasks import stage_one

    summaries = [pickle.dumps(stage_one(pickle.loads(blob), config)) for blob in batch["record"]]
    return {"summary": np.array(summaries, dtype=object)}


def _prepare_batch(
    batch: dict[str, np.ndarray], config: BuildConfig, with_images: bool
) -> dict[str, np.ndarray]:
    from .tasks import prepare_one

    cases = [
        pickle.dumps(prepare_one(pickle.loads(blob), config, with_images))
        for blob in batch["record"]
    ]
    return {"prepared": np.array(cases, dtype=object)}


def _ray() -> Any:
    try:
        ray = importlib.import_module("ray")
    except ImportError:
        raise UsageError(
            "--executor ray needs Ray Data: pip install 'unimed-cot[distributed]'"
        ) from None
    return ray
