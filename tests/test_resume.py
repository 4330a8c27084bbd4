"""Resumable, deterministic builds: rerun does nothing, a killed build continues to the same
release, workers do not change the result, bad records are rejected and counted."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import unimed_cot
from unimed_cot.demo.phantom import generate_phantom
from unimed_cot.pipeline import BuildConfig, run_build
from unimed_cot.release.publish import publish


@pytest.fixture(scope="module")
def small_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_phantom(
        tmp_path_factory.mktemp("input") / "phantom", n_images_2d=4, n_volumes_3d=8, seed=3
    )


def _config(out: Path, source_input: Path, **changes: object) -> BuildConfig:
    settings: dict[str, object] = {"source": "phantom", "out": out, "input": source_input}
    settings.update(changes)
    return BuildConfig(**settings)  # type: ignore[arg-type]


def _staged(out: Path) -> dict[str, bytes]:
    staged = out / ".build" / "staged" / "phantom"
    return {p.name: p.read_bytes() for p in sorted(staged.glob("*.parquet"))}


def _shards(release: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(release)): p.read_bytes()
        for p in sorted((release / "data").rglob("*.parquet"))
    }


def test_second_identical_run_does_nothing(tmp_path: Path, small_input: Path) -> None:
    config = _config(tmp_path / "ws", small_input)
    first = run_build(config, progress=False)
    assert first.processed == first.listed == 12
    assert first.rows_new > 0
    mtimes = {
        p: p.stat().st_mtime_ns for p in (tmp_path / "ws" / ".build" / "staged").rglob("*.parquet")
    }
    second = run_build(config, progress=False)
    assert second.nothing_new
    assert second.already_staged == 12
    assert second.rows_new == 0
    assert second.rows_staged_total == first.rows_staged_total
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_killed_build_continues_to_the_same_release(tmp_path: Path, small_input: Path) -> None:
    reference = tmp_path / "reference"
    run_build(_config(reference, small_input), progress=False)
    publish(reference, version="1.0.0")

    interrupted = tmp_path / "interrupted"
    staged_dir = interrupted / ".build" / "staged" / "phantom"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "unimed_cot",
            "build",
            "--source",
            "phantom",
            "--input",
            str(small_input),
            "--out",
            str(interrupted),
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if staged_dir.is_dir() and len(list(staged_dir.glob("*.parquet"))) >= 2:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(list(staged_dir.glob("*.parquet")))
    assert 2 <= done_before < 12, "the build was not interrupted midway"

    report = run_build(_config(interrupted, small_input), progress=False)
    assert report.already_staged == done_before
    assert report.processed == 12 - done_before
    publish(interrupted, version="1.0.0")
    assert _shards(interrupted) == _shards(reference)


def test_workers_do_not_change_the_result(tmp_path: Path, small_input: Path) -> None:
    run_build(_config(tmp_path / "one", small_input, limit=5), progress=False)
    run_build(_config(tmp_path / "two", small_input, limit=5, workers=2), progress=False)
    assert _staged(tmp_path / "one") == _staged(tmp_path / "two")
    assert len(_staged(tmp_path / "one")) == 5


def test_changed_settings_discard_stale_cases(tmp_path: Path, small_input: Path) -> None:
    run_build(_config(tmp_path / "ws", small_input, limit=3), progress=False)
    report = run_build(_config(tmp_path / "ws", small_input, limit=3, seed=7), progress=False)
    assert report.discarded_stale == 3
    assert report.processed == 3


def test_another_package_version_rebuilds(
    tmp_path: Path, small_input: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_build(_config(tmp_path / "ws", small_input, limit=2), progress=False)
    monkeypatch.setattr(unimed_cot, "__version__", "99.0.0")
    report = run_build(_config(tmp_path / "ws", small_input, limit=2), progress=False)
    assert report.discarded_stale == 2 and report.processed == 2


def test_a_bad_record_is_rejected_and_counted(tmp_path: Path, small_input: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(small_input, broken)
    victim = sorted((broken / "3d" / "images").glob("*.nii.gz"))[1]
    victim.write_bytes(gzip.compress(b"not a nifti file"))
    report = run_build(_config(tmp_path / "ws", broken), progress=False)
    assert report.processed == 12
    assert sum(report.rejections.values()) == 1
    ((stage, reason),) = report.rejections
    assert (stage, reason) == ("load", "unreadable-file")
    rejection_file = tmp_path / "ws" / ".build" / "rejections" / "phantom"
    lines = [line for p in rejection_file.glob("*.jsonl") for line in p.read_text().splitlines()]
    assert len(lines) == 1
    assert victim.stem.split(".")[0] in lines[0]
    assert report.rows_new > 0
