"""The build's teacher scheduler: requests of many cases in flight together, a bounded queue that
stops the CPU stages while full, answers matched to their case, errors raised, the rest cancelled;
and in a real build against the fake server, ``--concurrency`` is reached across cases."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, cast

import pytest

from unimed_cot.demo.phantom import generate_phantom
from unimed_cot.pipeline import BuildConfig, run_build
from unimed_cot.pipeline.scheduler import schedule
from unimed_cot.pipeline.stages import PreparedCase
from unimed_cot.records import SourceRecord
from unimed_cot.teacher import Answer, TeacherRequest, TeacherSettings

sys.path.insert(0, str(Path(__file__).parent / "teacher"))
from fake_openai import always, serve


def _case(name: str, n_requests: int) -> PreparedCase:
    record = cast(SourceRecord, name)  # the scheduler never looks inside the record
    requests = [cast(TeacherRequest, f"{name}/{i}") for i in range(n_requests)]
    return PreparedCase(record=record, requests=requests)


class FakeTeacher:
    """Futures completed by the test, in any order it likes."""

    def __init__(self) -> None:
        self.pending: list[tuple[Sequence[TeacherRequest], Future[list[Answer]]]] = []

    def submit(self, requests: Sequence[TeacherRequest]) -> Future[list[Answer]]:
        future: Future[list[Answer]] = Future()
        self.pending.append((requests, future))
        return future

    def in_flight(self) -> int:
        return sum(len(r) for r, f in self.pending if not f.done())

    def answer(self, index: int) -> None:
        requests, future = self.pending[index]
        future.set_result([Answer(request) for request in requests])


def test_cases_overlap_and_the_queue_bound_stops_the_cpu_stages() -> None:
    teacher = FakeTeacher()
    pulled: list[str] = []
    in_flight_at_pull: list[int] = []
    pulled_when_full: list[list[str]] = []

    def cpu_stages() -> Iterator[PreparedCase]:
        for i in range(6):
            in_flight_at_pull.append(teacher.in_flight())
            pulled.append(f"c{i}")
            yield _case(f"c{i}", 3)

    def answer_newest_first() -> None:
        while len(teacher.pending) < 3:
            time.sleep(0.001)
        time.sleep(0.05)  # time enough to pull a fourth case, were the bound not respected
        pulled_when_full.append(list(pulled))
        while not (len(teacher.pending) == 6 and all(f.done() for _, f in teacher.pending)):
            for index in reversed(range(len(teacher.pending))):
                if not teacher.pending[index][1].done():
                    teacher.answer(index)
                    break
            time.sleep(0.001)

    answering = threading.Thread(target=answer_newest_first, daemon=True)
    answering.start()
    events = list(schedule(cpu_stages(), submit=teacher.submit, max_queued=7))
    answering.join(timeout=10)
    # three cases (9 >= 7 requests) in flight together, then the CPU stages wait for room
    assert pulled_when_full == [["c0", "c1", "c2"]]
    assert max(in_flight_at_pull) < 7
    assert sorted(str(case.record) for case, _ in events) == [f"c{i}" for i in range(6)]
    for case, answers in events:  # each case gets its own answers, in request order
        assert [str(a.request) for a in answers] == [f"{case.record}/{i}" for i in range(3)]
    assert str(events[0][0].record) == "c2"  # staged as answered, not in listing order


def test_a_case_without_requests_passes_through_and_a_failure_cancels_the_rest() -> None:
    teacher = FakeTeacher()
    cases = [_case("a", 2), _case("b", 2), _case("empty", 0)]
    events = schedule(iter(cases), submit=teacher.submit, max_queued=100)
    case, answers = next(events)
    assert str(case.record) == "empty" and answers == []
    teacher.pending[0][1].set_exception(RuntimeError("the endpoint refused"))
    with pytest.raises(RuntimeError, match="refused"):
        list(events)
    assert teacher.pending[1][1].cancelled()


def test_a_build_keeps_concurrency_requests_in_flight_across_cases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIMED_SCHED_KEY", "sk-sched")
    source = generate_phantom(tmp_path / "in", n_images_2d=8, n_volumes_3d=0, seed=2)
    with serve(always("good"), delay_s=0.4) as server:
        settings = TeacherSettings(
            base_url=server.url, model="fake-model", api_key_env="UNIMED_SCHED_KEY", concurrency=12
        )
        config: dict[str, Any] = {"teacher": "openai", "teacher_settings": settings}
        report = run_build(
            BuildConfig(source="phantom", out=tmp_path / "ws", input=source, **config),
            progress=False,
        )
    assert report.unfinished == 0 and report.processed == 8
    assert report.teacher.requests_sent == len(server.seen) > 12
    # a case has fewer than 12 questions: reaching 12 in flight needs several cases at once
    assert report.rows_new / report.processed < 12
    assert max(s.in_flight for s in server.seen) == 12


@pytest.mark.slow
def test_workers_do_not_change_an_llm_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIMED_SCHED_KEY", "sk-sched")
    source = generate_phantom(tmp_path / "in", n_images_2d=4, n_volumes_3d=2, seed=4)
    staged = {}
    with serve(always("good"), delay_s=0.1) as server:
        settings = TeacherSettings(
            base_url=server.url, model="fake-model", api_key_env="UNIMED_SCHED_KEY", concurrency=8
        )
        for workers in (1, 2):
            out = tmp_path / f"w{workers}"
            report = run_build(
                BuildConfig(
                    source="phantom",
                    out=out,
                    input=source,
                    workers=workers,
                    teacher="openai",
                    teacher_settings=settings,
                ),
                progress=False,
            )
            assert report.unfinished == 0 and report.processed == 6
            build = out / ".build"
            staged[workers] = {
                str(p.relative_to(build)): p.read_bytes()
                for folder in ("staged", "rejections", "usage")
                for p in sorted((build / folder / "phantom").glob("*"))
            }
    assert staged[1] == staged[2] and len(staged[1]) >= 6 * 2


def test_executor_ray_without_ray_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unimed_cot.errors import UsageError
    from unimed_cot.pipeline.ray_executor import execute_on_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    config = BuildConfig(source="phantom", out=tmp_path, executor="ray")
    with pytest.raises(UsageError, match=r"unimed-cot\[distributed\]"):
        list(execute_on_ray([cast(SourceRecord, "a case")], config=config))
