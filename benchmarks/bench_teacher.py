"""OpenAI teacher throughput against a loopback server with a fixed latency, vs the ideal.

A fake OpenAI-compatible server (``tests/teacher/fake_openai.py``, in its own process so its CPU
is not counted) answers every request after ``--latency`` seconds with a valid trace. The client
(``OpenAITeacher.answer_all``: rate buckets, semaphore, async client, JSON parsing, validation,
no cache) sends ``--requests`` distinct requests (a 3D sample of 8 slices, images included) at
concurrency 1, 16 and 64. Printed per concurrency: validated requests/s, the ideal
``concurrency / latency``, their ratio, and client CPU milliseconds per request (process time of
this process / requests), from which the sustainable request rate of one core follows.

Run: ``.venv/bin/python benchmarks/bench_teacher.py`` (``--quick``: fewer requests).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--requests", type=int, default=640)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from conftest import RELATION_QUESTION, pixels_3d, sample_of

    from unimed_cot.teacher import OpenAITeacher, TeacherSettings, build_request

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
    code = SERVER.format(path=str(ROOT / "tests" / "teacher"), latency=args.latency)
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    try:
        print(
            f"latency {args.latency * 1000:.0f} ms, {n} requests per run (64 at c=1: {min(n, 64)})"
        )
        print(f"{'concurrency':>11} {'req/s':>8} {'ideal':>8} {'ratio':>6} {'cpu ms/req':>10}")
        for concurrency in (1, 16, 64):
            batch = requests[: min(n, 64)] if concurrency == 1 else requests
            settings = TeacherSettings(
                base_url=url, model="bench", concurrency=concurrency, max_retries=0
            )
            teacher = OpenAITeacher(settings, cache=None)
            teacher.answer_all(batch[:2])  # warm up: loop thread, client, connections
            cpu, wall = time.process_time(), time.perf_counter()
            answers = teacher.answer_all(batch)
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
            teacher.close()
            accepted = sum(a.trace is not None for a in answers)
            assert accepted == len(batch), f"{len(batch) - accepted} replies were rejected"
            rate = accepted / wall
            ideal = concurrency / args.latency
            print(
                f"{concurrency:>11} {rate:>8.1f} {ideal:>8.1f} {rate / ideal:>6.2f} "
                f"{1000 * cpu / accepted:>10.2f}"
            )
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
