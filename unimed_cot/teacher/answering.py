"""From requests to checked answers: one call for a case's questions, whatever the teacher.

A plain ``Teacher`` (the template teacher) is asked one request at a time and its reply is
validated once. A ``BatchTeacher`` (an LLM behind an API) answers all of a case's requests
concurrently, with its own cache, retries and repair loop. Either way every request ends as an
``Answer``: an accepted trace, or a rejection with its reason and the raw reply kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from unimed_cot.records import Rejection
from unimed_cot.schemas import Trace

from .base import Teacher, TeacherRequest
from .pricing import Usage
from .validate import TraceRejected, to_rejection, validate_reply


@dataclass(slots=True)
class TeacherStats:
    """Counters of a teacher's traffic (add up with ``+=``, across cases and processes).

    ``usage`` is what was spent now (requests sent); ``produced`` is what the replies behind an
    answer cost, counting a cached reply at what it cost when it was first answered: the
    per-row figure the usage ledger keeps.
    """

    requests_sent: int = 0
    cache_hits: int = 0
    retries: int = 0
    repairs: int = 0
    usage: Usage = field(default_factory=Usage)
    produced: Usage = field(default_factory=Usage)

    def __iadd__(self, other: TeacherStats) -> TeacherStats:
        self.requests_sent += other.requests_sent
        self.cache_hits += other.cache_hits
        self.retries += other.retries
        self.repairs += other.repairs
        self.usage += other.usage
        self.produced += other.produced
        return self


@dataclass(slots=True)
class Answer:
    """The outcome of one request.

    Attributes:
        request: what was asked.
        trace: the validated trace (answer set to the ground truth), or None.
        rejection: why there is no trace (stage ``validate`` or ``teacher``), raw reply kept.
        retry_later: the teacher could not be reached (transient errors outlived the retries);
            the case must not be staged, so that a rerun asks again.
        stats: requests, cache hits, retries, repairs, tokens and cost spent on this request.
    """

    request: TeacherRequest
    trace: Trace | None = None
    rejection: Rejection | None = None
    retry_later: bool = False
    stats: TeacherStats = field(default_factory=TeacherStats)


@runtime_checkable
class BatchTeacher(Teacher, Protocol):
    """A teacher that answers many requests at once (concurrently) and validates them itself.

    Attributes:
        sends_images: whether requests should carry the images (False for text-only models).
    """

    sends_images: bool

    def answer_all(self, requests: Sequence[TeacherRequest]) -> list[Answer]:
        """One ``Answer`` per request, in order."""
        ...

    def submit(self, requests: Sequence[TeacherRequest]) -> Future[list[Answer]]:
        """``answer_all`` without waiting: the future gets the answers, all requests of all
        pending submissions sharing the teacher's one concurrency limit."""
        ...


def sends_images(teacher: Teacher) -> bool:
    """Whether requests for this teacher are built with their images."""
    return isinstance(teacher, BatchTeacher) and teacher.sends_images


def answer_requests(teacher: Teacher, requests: Sequence[TeacherRequest]) -> list[Answer]:
    """Ask the teacher every request of a case; one ``Answer`` per request, in order."""
    if isinstance(teacher, BatchTeacher):
        return teacher.answer_all(requests)
    answers = []
    for request in requests:
        raw = teacher.complete(request)
        answer = Answer(request)
        try:
            answer.trace = validate_reply(raw, request.sample)
        except TraceRejected as rejected:
            answer.rejection = to_rejection(rejected, request.sample, raw)
        answers.append(answer)
    return answers
