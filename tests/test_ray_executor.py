"""``--executor ray`` on a local 2-CPU Ray cluster: the same staged rows and the same release as
the local executor, byte for byte (template and LLM teacher), and a Ray worker killed mid-build
costs nothing (the task is retried; the release equals an uninterrupted one).

Runs only where Ray is installed (``pip install -e '.[distributed]'``); skipped otherwise.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[distributed]'")
psutil = pytest.importorskip("psutil", reason="psutil comes with Ray")

from unimed_cot.demo.phantom import generate_phantom  # noqa: E402
from unimed_cot.pipeline import BuildConfig, run_build  # noqa: E402
from unimed_cot.release.publish import publish  # noqa: E402
from unimed_cot.teacher import TeacherSettings  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "teacher"))
from fake_openai import always, serve  # noqa: E402

pytestmark = pytest.mark.slow  # a Ray cluster starts, and its workers import the package


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local Ray of 2 CPUs with a small object store, shared by the tests of this module."""
    ray.init(
        num_cpus=2,
        object_store_memory=96 * 2**20,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def small_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_phantom(
        tmp_path_factory.mktemp("input") / "phantom", n_images_2d=6, n_volumes_3d=4, seed=11
    )


def _config(out: Path, source: Path, **changes: object) -> BuildConfig:
    values: dict[str, object] = {"source": "phantom", "out": out, "input": source}
    values.update(changes)
    return BuildConfig(**values)  # type: ignore[arg-type]


def _staged(out: Path) -> dict[str, bytes]:
    build = out / ".build"
    files = [
        *sorted((build / "staged" / "phantom").glob("*.parquet")),
        *sorted((build / "rejections" / "phantom").glob("*.jsonl")),
        *sorted((build / "usage" / "phantom").glob("*.jsonl")),
    ]
    return {str(p.relative_to(build)): p.read_bytes() for p in files}


def _shards(release: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(release)): p.read_bytes()
        for p in sorted((release / "data").rglob("*.parquet"))
    }


def test_ray_stages_and_publishes_what_local_does(
    cluster: None, tmp_path: Path, small_input: Path
) -> None:
    local = run_build(_config(tmp_path / "local", small_input), progress=False)
    on_ray = run_build(_config(tmp_path / "ray", small_input, executor="ray"), progress=False)
    assert on_ray.processed == local.processed == 10
    assert on_ray.rows_new == local.rows_new > 0
    assert on_ray.rejections == local.rejections
    assert _staged(tmp_path / "ray") == _staged(tmp_path / "local")
    publish(tmp_path / "local", version="1.0.0")
    publish(tmp_path / "ray", version="1.0.0")
    assert _shards(tmp_path / "ray") == _shards(tmp_path / "local")
    again = run_build(_config(tmp_path / "ray", small_input, executor="ray"), progress=False)
    assert again.nothing_new and again.already_staged == 10


def test_ray_with_an_llm_teacher_matches_local_and_shares_one_concurrency(
    cluster: None, tmp_path: Path, small_input: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIMED_RAY_KEY", "sk-ray")
    with serve(always("good"), delay_s=0.2) as server:
        settings = TeacherSettings(
            base_url=server.url, model="fake-model", api_key_env="UNIMED_RAY_KEY", concurrency=6
        )
        local = run_build(
            _config(tmp_path / "local", small_input, teacher="openai", teacher_settings=settings),
            progress=False,
        )
        sent_local = len(server.seen)
        on_ray = run_build(
            _config(
                tmp_path / "ray",
                small_input,
                teacher="openai",
                teacher_settings=settings,
                executor="ray",
            ),
            progress=False,
        )
    on_ray_seen = server.seen[sent_local:]
    assert on_ray.unfinished == local.unfinished == 0
    assert on_ray.teacher.requests_sent == local.teacher.requests_sent == sent_local
    assert len(on_ray_seen) == sent_local
    # one global limit: never more than 6 in flight, and requests of several cases together
    assert max(s.in_flight for s in on_ray_seen) <= 6
    assert max(s.in_flight for s in on_ray_seen) == 6
    assert _staged(tmp_path / "ray") == _staged(tmp_path / "local")


def _ray_map_workers() -> list[psutil.Process]:
    """This test's own Ray workers that are running a map task (never anyone else's Ray)."""
    mine = psutil.Process(os.getpid()).children(recursive=True)
    found = []
    for process in mine:
        try:
            if "MapBatches" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:
            continue
    return found


def test_a_killed_ray_worker_costs_nothing(
    cluster: None, tmp_path: Path, small_input: Path
) -> None:
    reference = tmp_path / "reference"
    run_build(_config(reference, small_input), progress=False)
    publish(reference, version="1.0.0")

    out = tmp_path / "killed"
    staged = out / ".build" / "staged" / "phantom"
    killed: list[int] = []
    staged_at_kill: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            done = len(list(staged.glob("*.parquet"))) if staged.is_dir() else 0
            workers = _ray_map_workers() if done >= 2 else []
            if workers:
                staged_at_kill.append(done)
                os.kill(workers[0].pid, signal.SIGKILL)
                killed.append(workers[0].pid)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    report = run_build(_config(out, small_input, executor="ray"), progress=False)
    killer.join()
    assert killed, "no Ray worker was found running a case"
    assert staged_at_kill[0] < 10, "the build had finished before the kill"
    assert report.processed == 10 and report.unfinished == 0
    publish(out, version="1.0.0")
    assert _shards(out) == _shards(reference)  # 0 rows lost, 0 duplicated, identical shards
