"""One teacher scheduler across the whole build.

The CPU stages of cases (``stages.prepare_case``) run wherever the executor runs them (inline,
a process pool, Ray tasks) and arrive here as ``PreparedCase``s. Every case's requests go to one
teacher at once (``submit``: one async client, one global ``--concurrency`` and the rate and
token buckets), so requests of many cases are in flight together; a case is handed back for
staging when all its answers are in. The queue is bounded: while ``max_queued`` requests wait
or are in flight, no further case is pulled from the CPU stages, which therefore stop (their
lookahead is bounded too) until answers come back.

The result does not depend on the order in which answers arrive: a case's answers come back in
the order of its requests, and each case is staged as a unit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait

from unimed_cot.teacher import Answer, TeacherRequest

from .stages import PreparedCase

Submit = Callable[[Sequence[TeacherRequest]], "Future[list[Answer]]"]


def queue_bound(concurrency: int) -> int:
    """Requests queued or in flight at most: twice the concurrency keeps the teacher busy
    while the next cases' answers are staged, and bounds the memory of waiting cases."""
    return max(2 * concurrency, 8)


def schedule(
    prepared: Iterable[PreparedCase], *, submit: Submit, max_queued: int
) -> Iterator[tuple[PreparedCase, list[Answer]]]:
    """Each prepared case with its answers (one per request, in order), as soon as they are in.

    A case without requests (rejected before the teacher) comes back at once with none. If a
    submission fails (``TeacherConfigError``: the endpoint refuses everything), the requests
    still queued are cancelled and the error is raised.
    """
    waiting: dict[Future[list[Answer]], PreparedCase] = {}
    queued = 0

    def collect(*, block: bool) -> Iterator[tuple[PreparedCase, list[Answer]]]:
        nonlocal queued
        if not waiting:
            return
        done, _ = wait(list(waiting), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            case = waiting.pop(future)
            queued -= len(case.requests)
            yield case, future.result()

    try:
        for case in prepared:
            if not case.requests:
                yield case, []
            else:
                waiting[submit(case.requests)] = case
                queued += len(case.requests)
            yield from collect(block=False)
            while queued >= max_queued:
                yield from collect(block=True)
        while waiting:
            yield from collect(block=True)
    finally:
        for future in waiting:
            future.cancel()
