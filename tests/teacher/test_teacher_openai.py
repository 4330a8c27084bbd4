"""The OpenAI-compatible teacher against a fake loopback server: retries, limits, repair, adapters,
and that every request ends as an accepted trace or a typed rejection with the raw reply kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import always, first_then, is_repair, serve

from unimed_cot.samples import Sample
from unimed_cot.teacher import (
    OpenAITeacher,
    ReplyCache,
    TeacherConfigError,
    TeacherSettings,
    build_request,
    render_reasoning,
)

SECRET = "sk-test-secret-do-not-leak-1234567890"


def settings(url: str, **changes: object) -> TeacherSettings:
    values: dict[str, object] = {
        "base_url": url,
        "model": "gpt-4o-mini",
        "api_key_env": "UNIMED_TEST_KEY",
        "backoff_s": 0.01,
        "timeout_s": 5.0,
        "send_images": True,
    }
    values.update(changes)
    return TeacherSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIMED_TEST_KEY", SECRET)


@pytest.fixture
def teacher_factory() -> Iterator[list[OpenAITeacher]]:
    made: list[OpenAITeacher] = []
    yield made
    for teacher in made:
        teacher.close()


def make(made: list[OpenAITeacher], s: TeacherSettings, cache: ReplyCache | None = None):
    teacher = OpenAITeacher(s, cache=cache)
    made.append(teacher)
    return teacher


def test_good_replies_are_accepted_and_sent_concurrently(
    generated_samples: list[Sample], teacher_factory: list[OpenAITeacher]
) -> None:
    samples = generated_samples[:12]
    with serve(always("good"), delay_s=0.2) as server:
        teacher = make(teacher_factory, settings(server.url, concurrency=8))
        started = time.monotonic()
        answers = teacher.answer_all([build_request(s) for s in samples])
        elapsed = time.monotonic() - started
    assert [a.rejection for a in answers] == [None] * 12
    assert all(
        a.trace is not None and a.trace.answer == a.request.sample.question.answer for a in answers
    )
    assert len(server.seen) == 12
    assert 1 < max(s.in_flight for s in server.seen) <= 8  # concurrent, within the limit
    # concurrent, not one after another (12 x 0.2 s in sequence); the margin is wide because the
    # in-flight count above already proves concurrency and a loaded CI machine stretches time
    assert elapsed < 12 * 0.2 * 0.9
    # images travel as PNG data URLs; the key travels only in the Authorization header
    body = server.seen[0].body
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["title"] == "Trace"
    parts = body["messages"][1]["content"]
    assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    for answer in answers:
        reasoning = render_reasoning(answer.trace, answer.request.sample)  # type: ignore[arg-type]
        assert "<|box_start|>" in reasoning or not answer.request.sample.question.evidence
    stats = sum((a.stats.usage.prompt_tokens for a in answers), 0)
    assert stats == 12 * 100
    assert answers[0].stats.usage.cost_usd == pytest.approx((100 * 0.15 + 20 * 0.60) / 1e6)


@pytest.mark.parametrize("fault", ["429", "500", "drop", "slow"])
def test_transient_faults_are_retried(
    sample_3d: Sample, fault: str, teacher_factory: list[OpenAITeacher]
) -> None:
    with serve(first_then([fault, fault])) as server:
        teacher = make(teacher_factory, settings(server.url, timeout_s=0.5, max_retries=3))
        started = time.monotonic()
        (answer,) = teacher.answer_all([build_request(sample_3d)])
        elapsed = time.monotonic() - started
    assert answer.rejection is None and answer.trace is not None
    assert [s.behaviour for s in server.seen] == [fault, fault, "good"]
    assert answer.stats.retries == 2
    assert answer.stats.requests_sent == 1
    if fault == "429":
        assert elapsed >= 0.4  # Retry-After: 0.2 honoured twice


def test_retries_give_up_and_leave_the_case_for_a_rerun(
    sample_3d: Sample, teacher_factory: list[OpenAITeacher]
) -> None:
    with serve(always("500")) as server:
        teacher = make(teacher_factory, settings(server.url, max_retries=2))
        (answer,) = teacher.answer_all([build_request(sample_3d)])
    assert len(server.seen) == 3
    assert answer.retry_later
    assert answer.rejection is not None
    assert (answer.rejection.stage, answer.rejection.reason) == ("teacher", "unavailable")
    assert SECRET not in answer.rejection.detail


def test_wrong_key_stops_without_leaking_it(
    sample_3d: Sample, teacher_factory: list[OpenAITeacher], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(always("401")) as server:
        teacher = make(teacher_factory, settings(server.url))
        with pytest.raises(TeacherConfigError) as caught:
            teacher.answer_all([build_request(sample_3d)])
    assert len(server.seen) == 1  # not retried
    assert "HTTP 401" in str(caught.value) and "UNIMED_TEST_KEY" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("malformed", "invalid-json"),
        ("schema", "schema"),
        ("wrong", "wrong-answer"),
        ("unknown-id", "unknown-region-id"),
    ],
)
def test_bad_replies_are_repaired_once_then_rejected_with_raw(
    sample_3d: Sample, fault: str, reason: str, teacher_factory: list[OpenAITeacher]
) -> None:
    with serve(always(fault)) as server:
        teacher = make(teacher_factory, settings(server.url, repair_attempts=1))
        (answer,) = teacher.answer_all([build_request(sample_3d)])
    assert answer.trace is None and answer.rejection is not None
    assert (answer.rejection.stage, answer.rejection.reason) == ("validate", reason)
    assert answer.rejection.raw  # kept for audit
    assert len(server.seen) == 2 and answer.stats.repairs == 1
    repair = server.seen[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": answer.rejection.raw}
    assert f"rejected ({reason})" in repair[-1]["content"]


def test_repair_turn_fixes_a_wrong_answer(
    sample_2d: Sample, teacher_factory: list[OpenAITeacher]
) -> None:
    with serve(lambda index, body: "good" if is_repair(body) else "wrong") as server:
        teacher = make(teacher_factory, settings(server.url, repair_attempts=1))
        (answer,) = teacher.answer_all([build_request(sample_2d)])
    assert answer.rejection is None and answer.trace is not None
    assert answer.trace.answer == "A. instrument"
    assert [is_repair(s.body) for s in server.seen] == [False, True]


def test_no_repair_when_attempts_are_zero(
    sample_3d: Sample, teacher_factory: list[OpenAITeacher]
) -> None:
    with serve(always("wrong")) as server:
        teacher = make(teacher_factory, settings(server.url, repair_attempts=0))
        (answer,) = teacher.answer_all([build_request(sample_3d)])
    assert len(server.seen) == 1 and answer.rejection is not None


def test_json_object_adapter_for_llama_cpp_and_text_only_models(
    sample_3d: Sample, teacher_factory: list[OpenAITeacher]
) -> None:
    with serve(always("good")) as server:
        s = settings(server.url, response_format="json_object", send_images=False)
        teacher = make(teacher_factory, s)
        (answer,) = teacher.answer_all([build_request(sample_3d, with_images=False)])
        none = make(teacher_factory, settings(server.url, response_format="none"))
        none.answer_all([build_request(sample_3d)])
    assert answer.trace is not None
    fmt = server.seen[0].body["response_format"]
    assert fmt["type"] == "json_object"
    assert fmt["schema"]["$defs"]["TraceStep"]["properties"]["cites"]["items"]["pattern"] == (
        "^R[1-9][0-9]*$"
    )
    assert "maxLength" not in str(fmt["schema"])
    assert isinstance(server.seen[0].body["messages"][1]["content"], str)  # plain text turn
    assert "response_format" not in server.seen[1].body


def test_requests_per_minute_limit(
    generated_samples: list[Sample], teacher_factory: list[OpenAITeacher]
) -> None:
    with serve(always("good")) as server:
        teacher = make(
            teacher_factory, settings(server.url, requests_per_minute=240, concurrency=16)
        )
        teacher.answer_all([build_request(s) for s in generated_samples[:10]])
    times = sorted(s.at for s in server.seen)
    # 4 per second with a burst of 4: 10 requests need at least 1.5 s, and no 1-s window
    # holds more than burst + rate (a token bucket's bound)
    assert times[-1] - times[0] >= 1.4
    for start in times:
        assert sum(1 for t in times if start <= t < start + 1.0) <= 4 + 4


def test_tokens_per_minute_limit(
    generated_samples: list[Sample], teacher_factory: list[OpenAITeacher]
) -> None:
    with serve(always("good")) as server:
        # each request is estimated at >= 100 tokens (max_tokens) plus its prompt
        teacher = make(
            teacher_factory,
            settings(server.url, tokens_per_minute=60 * 1000, max_tokens=100, send_images=False),
        )
        teacher.answer_all([build_request(s, with_images=False) for s in generated_samples[:5]])
    times = sorted(s.at for s in server.seen)
    assert times[-1] - times[0] >= 0.5


def test_cache_answers_a_rerun_without_requests(
    tmp_path: Path, generated_samples: list[Sample], teacher_factory: list[OpenAITeacher]
) -> None:
    requests = [build_request(s) for s in generated_samples[:6]]
    with serve(always("good")) as server:
        first = make(teacher_factory, settings(server.url), ReplyCache(tmp_path / "c.sqlite"))
        a = first.answer_all(requests)
        first.close()
        again = make(
            teacher_factory,
            settings(server.url, concurrency=2, timeout_s=9.0),  # operational: same key
            ReplyCache(tmp_path / "c.sqlite"),
        )
        b = again.answer_all(requests)
        hotter = make(
            teacher_factory,
            settings(server.url, temperature=0.9),
            ReplyCache(tmp_path / "c.sqlite"),
        )
        hotter.answer_all(requests[:1])
    assert len(server.seen) == 6 + 1
    assert [x.trace for x in a] == [x.trace for x in b]
    assert sum(x.stats.cache_hits for x in b) == 6
    assert sum(x.stats.requests_sent for x in b) == 0
    assert SECRET.encode() not in (tmp_path / "c.sqlite").read_bytes()


def test_the_client_rides_the_sdks_aiohttp_transport() -> None:
    """The core dependency is ``openai[aiohttp]``: its transport halves the client's CPU per
    request (benchmarks/bench_teacher.py); losing it silently would lose that."""
    from unimed_cot.teacher.openai_client import _aiohttp_transport

    client = _aiohttp_transport()
    assert client is not None
    assert any("Aiohttp" in cls.__name__ for cls in type(client).__mro__)
    asyncio.run(client.aclose())
