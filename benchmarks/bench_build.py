"""Build engine benchmarks, side by side in one run: teacher saturation, CPU-stage scaling, Ray.

1. Teacher rate: ``run_build`` with the openai teacher against the tests' fake OpenAI-compatible
   server (own process, every reply a valid trace after ``--latency`` s), on phantom 2D cases.
   Achieved rate = requests sent / build wall time, over the ideal ``concurrency / latency``, at
   concurrency 16 and 64, local executor (1 and 2 workers) and Ray (on a Ray started before the
   clock). ``busy`` is the window from the first request in to the last reply out, as the server
   saw it: the rate while the teacher had work, without process starts (the build's spawned
   workers, Ray's workers importing the package) and the last staging. The ``one-case`` row is the
   path before the scheduler (a case's questions together, cases one after another), emulated by
   a queue bound of one request.
2. CPU stages: template-teacher builds (all CPU) of phantom 2D and 3D cases, 1 vs 2 workers,
   cases/s and the ratio.
3. Ray overhead: the same template build on a running local Ray (started before the clock;
   its start time printed apart) vs the local executor, both at 2 workers.

Run: ``.venv/bin/python benchmarks/bench_build.py`` (``--quick``: fewer cases). Prints the load
average: on a shared machine the numbers move with it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from unimed_cot.demo.phantom import generate_phantom  # noqa: E402
from unimed_cot.pipeline import BuildConfig, BuildReport, run_build  # noqa: E402
from unimed_cot.teacher import TeacherSettings  # noqa: E402


def build(out: Path, source: Path, **changes: object) -> BuildReport:
    shutil.rmtree(out, ignore_errors=True)
    values: dict[str, object] = {"source": "phantom", "out": out, "input": source}
    values.update(changes)
    return run_build(BuildConfig(**values), progress=False)  # type: ignore[arg-type]


SERVER = """
import sys
sys.path.insert(0, {path!r})
import fake_openai
fake_openai.MAX_REQUESTS = 10**6
with fake_openai.serve(fake_openai.always("good"), delay_s={latency}) as server:
    print(server.url, flush=True)
    sys.stdin.read()
    done = [s.done_at for s in server.seen if s.done_at is not None]
    print(len(server.seen), min(s.at for s in server.seen), max(done), flush=True)
"""


@contextmanager
def fake_server(latency: float) -> Iterator[tuple[str, list[float]]]:
    """The tests' fake server in its own process; its URL, and once closed: requests seen, first
    arrival, last reply (the window in which the teacher was busy)."""
    code = SERVER.format(path=str(ROOT / "tests" / "teacher"), latency=latency)
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None and server.stdout is not None
    window: list[float] = []
    try:
        yield server.stdout.readline().strip(), window
    finally:
        server.stdin.close()
        window.extend(float(v) for v in server.stdout.readline().split())
        server.wait(timeout=10)


def load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def teacher_rates(
    work: Path, source: Path, latency: float, executors: list[str], only: set[str]
) -> None:
    import unimed_cot.pipeline.run as run_module

    print(f"\n## teacher rate, latency {latency:.1f} s ({load()})")
    print(
        f"{'variant':>10} {'conc':>5} {'requests':>8} {'wall s':>7} {'req/s':>7} {'ideal':>6} "
        f"{'ratio':>6} {'busy s':>7} {'busy ratio':>10}"
    )
    os.environ.setdefault("BENCH_KEY", "none")
    variants: list[tuple[str, dict[str, object], Callable[[int], int] | None]] = [
        ("one-case", {}, lambda concurrency: 1),
        ("local w1", {}, None),
        ("local w2", {"workers": 2}, None),
    ]
    if "ray" in executors:
        import ray

        # a running Ray, as on a cluster (its start is not the build's; see ray_overhead)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        variants.append(("ray", {"executor": "ray"}, None))
    original = run_module.queue_bound
    for concurrency in (16, 64):
        for name, changes, bound in variants:
            if only and name not in only:
                continue
            run_module.queue_bound = bound or original  # type: ignore[assignment]
            with fake_server(latency) as (url, window):
                settings = TeacherSettings(
                    base_url=url,
                    model="bench",
                    api_key_env="BENCH_KEY",
                    concurrency=concurrency,
                    timeout_s=60,
                )
                report = build(
                    work / "teacher",
                    source,
                    teacher="openai",
                    teacher_settings=settings,
                    use_cache=False,
                    **changes,
                )
            run_module.queue_bound = original  # type: ignore[assignment]
            assert report.unfinished == 0 and int(window[0]) == report.teacher.requests_sent
            sent = report.teacher.requests_sent
            rate, ideal = sent / report.seconds, concurrency / latency
            busy = window[2] - window[1]  # first request in to last reply out
            print(
                f"{name:>10} {concurrency:>5} {sent:>8} {report.seconds:>7.1f} {rate:>7.1f} "
                f"{ideal:>6.0f} {rate / ideal:>6.2f} {busy:>7.1f} {sent / busy / ideal:>10.2f}"
            )

    if "ray" in executors:
        ray.shutdown()


def cpu_scaling(work: Path, inputs: dict[str, Path]) -> None:
    print(f"\n## CPU stages, template teacher ({load()})")
    print(f"{'config':>6} {'cases':>6} {'1 worker s':>10} {'2 workers s':>11} {'ratio':>6}")
    for config, source in inputs.items():
        one = build(work / "cpu", source)
        two = build(work / "cpu", source, workers=2)
        print(
            f"{config:>6} {one.processed:>6} {one.seconds:>10.1f} {two.seconds:>11.1f} "
            f"{one.seconds / two.seconds:>6.2f}"
        )


def ray_overhead(work: Path, source: Path) -> None:
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    start_s = time.perf_counter() - started
    print(f"\n## Ray executor vs local, template teacher, 2 workers ({load()})")
    print(f"ray.init (local, 2 CPUs): {start_s:.1f} s, not counted below")
    local = build(work / "local", source, workers=2)
    cold = build(work / "ray", source, executor="ray", workers=2)
    warm = build(work / "ray", source, executor="ray", workers=2)
    print(f"{'variant':>10} {'cases':>6} {'wall s':>7} {'x local':>8}")
    for name, report in (("local", local), ("ray cold", cold), ("ray warm", warm)):
        print(
            f"{name:>10} {report.processed:>6} {report.seconds:>7.1f} "
            f"{report.seconds / local.seconds:>8.2f}"
        )
    print(
        "(cold: the job's first build, its Ray workers start and import the package; warm: "
        "the same job again, workers kept)"
    )
    ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--variants", default="", help="teacher rows to run, e.g. 'ray'")
    parser.add_argument(
        "--part", choices=["teacher", "cpu", "ray", "all"], default="all", help="what to run"
    )
    args = parser.parse_args()
    n2d, n3d = (60, 4) if args.quick else (120, 8)
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        inputs = {
            "2d": generate_phantom(work / "in2d", n_images_2d=n2d, n_volumes_3d=0, seed=1),
            "3d": generate_phantom(work / "in3d", n_images_2d=0, n_volumes_3d=n3d, seed=1),
        }
        print(f"phantom: {n2d} 2D cases, {n3d} 3D cases; {os.cpu_count()} CPUs; {load()}")
        executors = ["local"] if args.no_ray else ["local", "ray"]
        if args.part in ("teacher", "all"):
            only = set(args.variants.split(",")) - {""}
            teacher_rates(work, inputs["2d"], args.latency, executors, only)
        if args.part in ("cpu", "all"):
            cpu_scaling(work, inputs)
        if args.part in ("ray", "all") and not args.no_ray:
            ray_overhead(work, inputs["2d"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
