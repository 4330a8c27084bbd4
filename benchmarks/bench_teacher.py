"""OpenAI teacher throughput against a loopback server with a fixed latency, vs the ideal.

A fake OpenAI-compatible server (``tests/teacher/fake_openai.py``, in its own process so its CPU
is not counted) answers every request after ``--latency`` seconds with a valid trace. The client
(``OpenAITeacher.answer_all``: rate buckets, semaphore, async client, JSON parsing, validation,
no cache) sends ``--requests`` distinct requests (a 3D sample of 8 slices, images included) at
concurrency 1, 16 and 64. Printed per concurrency: validated requests/s, the ideal
``concurrency / latency``, their ratio, and client CPU milliseconds per request (process time of
this process / requests), from which the sustainable request rate of one core follows. The
``sdk`` rows are what a user would otherwise write: ``chat.completions.create`` on the SDK's
default transport under a semaphore, same requests, replies not validated.

Run: ``.venv/bin/python benchmarks/bench_teacher.py`` (``--quick``: fewer requests).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "teacher"))

SERVER = """
import sys, time
sys.path.insert(0, {path!r})
from fake_openai import always, serve
with serve(always("good"), delay_s={latency}) as server:
    print(server.url, flush=True)
    sys.stdin.read()
"""


def run_ours(url: str, batch: list[Any], concurrency: int) -> tuple[float, float]:
    """Validated requests/s and client CPU ms per request of ``OpenAITeacher.answer_all``."""
    from unimed_cot.teacher import OpenAITeacher, TeacherSettings

    settings = TeacherSettings(base_url=url, model="bench", concurrency=concurrency, max_retries=0)
    teacher = OpenAITeacher(settings, cache=None)
    # warm up the loop thread, the client and all its connections: a build keeps them
    teacher.answer_all(batch[-concurrency:])
    cpu, wall = time.process_time(), time.perf_counter()
    answers = teacher.answer_all(batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    teacher.close()
    accepted = sum(a.trace is not None for a in answers)
    assert accepted == len(batch), f"{len(batch) - accepted} replies were rejected"
    return accepted / wall, 1000 * cpu / accepted


def run_sdk(url: str, batch: list[Any], concurrency: int) -> tuple[float, float]:
    """What a user would otherwise write: the SDK's ``chat.completions.create`` with its default
    transport under a semaphore, the same messages, no validation (replies only)."""
    import openai

    async def send_all(items: list[Any]) -> int:
        client = openai.AsyncOpenAI(api_key="none", base_url=url, max_retries=0)
        slots = asyncio.Semaphore(concurrency)

        async def one(request: Any) -> bool:
            async with slots:
                completion = await client.chat.completions.create(
                    model="bench", messages=request.messages, max_tokens=1024
                )
            return bool(completion.choices[0].message.content)

        done = sum(await asyncio.gather(*(one(r) for r in items)))
        await client.close()
        return done

    async def timed() -> tuple[int, float, float]:
        await send_all(batch[-concurrency:])  # warm up imports and the loop
        cpu, wall = time.process_time(), time.perf_counter()
        done = await send_all(batch)
        return done, time.perf_counter() - wall, time.process_time() - cpu

    done, wall, cpu = asyncio.run(timed())
    assert done == len(batch)
    return done / wall, 1000 * cpu / done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--requests", type=int, default=640)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from conftest import RELATION_QUESTION, pixels_3d, sample_of

    from unimed_cot.teacher import build_request

    n = 192 if args.quick else args.requests
    pixels = pixels_3d()
    requests = [
        build_request(
            replace(
                sample_of(pixels, RELATION_QUESTION, dims=3, index=i),
                case_id=f"case-{i}",  # distinct prompts: nothing is shared between requests
            )
        )
        for i in range(n)
    ]
    print(f"latency {args.latency * 1000:.0f} ms, {n} requests per run (64 at c=1: {min(n, 64)})")
    print(
        f"{'concurrency':>11} {'variant':>8} {'req/s':>8} {'ideal':>8} {'ratio':>6} "
        f"{'cpu ms/req':>10}"
    )
    for concurrency in (1, 16, 64):
        batch = requests[: min(n, 64)] if concurrency == 1 else requests
        ideal = concurrency / args.latency
        for variant, run in (("ours", run_ours), ("sdk", run_sdk)):
            with fake_server(args.latency) as url:  # a fresh one: it counts what it answers
                rate, cpu_ms = run(url, batch, concurrency)
            print(
                f"{concurrency:>11} {variant:>8} {rate:>8.1f} {ideal:>8.1f} "
                f"{rate / ideal:>6.2f} {cpu_ms:>10.2f}"
            )


@contextmanager
def fake_server(latency: float) -> Iterator[str]:
    """The tests' fake server in its own process (its CPU is not this process's); its URL."""
    code = SERVER.format(path=str(ROOT / "tests" / "teacher"), latency=latency)
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
