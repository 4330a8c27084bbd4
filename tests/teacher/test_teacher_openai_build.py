"""Builds with the openai teacher against the fake loopback server: every sample accounted for,
a rerun sends nothing, a build killed with SIGKILL re-sends nothing that was answered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fake_openai import always, serve
from typer.testing import CliRunner

from unimed_cot.cli import app
from unimed_cot.demo.phantom import generate_phantom
from unimed_cot.pipeline import BuildConfig, run_build
from unimed_cot.release.publish import publish
from unimed_cot.store.workspace import Workspace
from unimed_cot.teacher import TeacherSettings

SECRET = "sk-build-secret-0987654321"


@pytest.fixture(scope="module")
def small_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_phantom(
        tmp_path_factory.mktemp("input") / "phantom", n_images_2d=2, n_volumes_3d=2, seed=5
    )


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIMED_BUILD_KEY", SECRET)


def config(out: Path, source: Path, url: str, **teacher: object) -> BuildConfig:
    values: dict[str, object] = {
        "base_url": url,
        "model": "fake-model",
        "api_key_env": "UNIMED_BUILD_KEY",
        "backoff_s": 0.01,
        "timeout_s": 0.6,
        "max_retries": 4,
    }
    values.update(teacher)
    settings = TeacherSettings(**values)  # type: ignore[arg-type]
    return BuildConfig(
        source="phantom", out=out, input=source, teacher="openai", teacher_settings=settings
    )


def _rejections(out: Path) -> list[dict[str, object]]:
    files = sorted((out / ".build" / "rejections" / "phantom").glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def _rows(out: Path) -> list[dict[str, object]]:
    files = sorted((out / ".build" / "staged" / "phantom").glob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_faulty_server_build_accounts_for_every_sample(tmp_path: Path, small_input: Path) -> None:
    kinds = ["good", "429", "500", "drop", "slow", "malformed", "wrong", "unknown-id", "schema"]
    with serve(lambda index, body: kinds[index % len(kinds)]) as server:
        # Four of the nine kinds fail; with the cases' many questions in flight, 8 retries keep
        # every request's chance of only ever meeting failures negligible.
        cfg = config(
            tmp_path / "ws",
            small_input,
            server.url,
            repair_attempts=0,
            concurrency=3,
            max_retries=8,
        )
        report = run_build(cfg, progress=False)
        again = run_build(cfg, progress=False)
    questions = {(s.body["messages"][1]["content"][-1]["text"]) for s in server.seen}
    rows, rejections = _rows(tmp_path / "ws"), _rejections(tmp_path / "ws")
    assert report.unfinished == 0 and report.processed == 4
    assert (
        len(rows) + len(rejections)
        == len(questions)
        == report.rows_new + sum(report.rejections.values())
    )
    reasons = {r["reason"] for r in rejections}
    assert reasons <= {"invalid-json", "wrong-answer", "unknown-region-id", "schema"}
    assert all(r["stage"] == "validate" and r["raw"] for r in rejections)
    assert all(
        row["teacher"] == "fake-model" and "<|box_start|>" in str(row["reasoning"])
        for row in rows
        if row["regions"]
    )
    assert report.teacher.retries >= 4 and report.teacher.requests_sent == report.rows_new + len(
        rejections
    )
    assert again.nothing_new and again.teacher.requests_sent == 0
    for path in (tmp_path / "ws").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_rerun_after_unreachable_teacher_sends_only_the_unanswered(
    tmp_path: Path, small_input: Path
) -> None:
    with serve(lambda index, body: "500" if index % 2 else "good") as server:
        cfg = config(tmp_path / "ws", small_input, server.url, max_retries=0)
        first = run_build(cfg, progress=False)
        sent_first = len(server.answered)
    assert first.unfinished > 0  # cases with an unreachable request are not staged
    with serve(always("good")) as server:
        second = run_build(config(tmp_path / "ws", small_input, server.url), progress=False)
    assert second.teacher.cache_hits > 0
    assert second.teacher.requests_sent == len(server.seen) < sent_first + len(server.seen)
    assert second.unfinished == 0 and second.already_staged == 4 - first.unfinished


def test_kill_9_mid_build_resends_nothing_answered(tmp_path: Path, small_input: Path) -> None:
    out = tmp_path / "ws"
    with serve(always("good"), delay_s=0.3) as server:
        script = (
            "import sys; from pathlib import Path;"
            "from unimed_cot.pipeline import BuildConfig, run_build;"
            "from unimed_cot.teacher import TeacherSettings;"
            f"s = TeacherSettings(base_url={server.url!r}, model='fake-model', concurrency=1,"
            " api_key_env='UNIMED_BUILD_KEY');"
            f"run_build(BuildConfig(source='phantom', out=Path({str(out)!r}),"
            f" input=Path({str(small_input)!r}), teacher='openai', teacher_settings=s),"
            " progress=False)"
        )
        proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
        deadline = time.monotonic() + 120
        while len([s for s in server.seen if s.done_at]) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        killed_at = time.monotonic()
        # answered well before the kill: the client had time to commit them to the cache
        answered = {
            json.dumps(s.body["messages"], sort_keys=True)
            for s in server.seen
            if s.done_at is not None and s.done_at < killed_at - 0.25
        }
        before = len(server.seen)
        assert len(answered) >= 3
        report = run_build(config(out, small_input, server.url), progress=False)
        resent = [json.dumps(s.body["messages"], sort_keys=True) for s in server.seen[before:]]
    assert not answered & set(resent)
    assert report.teacher.cache_hits >= len(answered) - 1  # the rest belong to a staged case
    assert report.unfinished == 0


def test_cli_dry_run_prints_one_request_and_sends_nothing(
    tmp_path: Path, small_input: Path
) -> None:
    with serve(always("good")) as server:
        result = CliRunner().invoke(
            app,
            [
                "build",
                "--source",
                "phantom",
                "--input",
                str(small_input),
                "--out",
                str(tmp_path / "ws"),
                "--teacher",
                "openai",
                "--base-url",
                server.url,
                "--model",
                "fake-model",
                "--dry-run",
            ],
        )
    assert result.exit_code == 0, result.output
    assert not server.seen
    assert '"model": "fake-model"' in result.output
    assert "Correct answer:" in result.output and "image(s)]" in result.output
    assert "data:image/png" not in result.output


def test_cli_build_with_config_file_and_summary(tmp_path: Path, small_input: Path) -> None:
    with serve(always("good")) as server:
        cfg = tmp_path / "teacher.toml"
        cfg.write_text(
            f'[teacher]\nbase_url = "{server.url}"\nmodel = "gpt-4o-mini"\n'
            'api_key_env = "UNIMED_BUILD_KEY"\nconcurrency = 4\n'
            '[teacher.prices]\n"gpt-4o-mini" = { input = 1.0, output = 2.0 }\n'
        )
        args = [
            "build",
            "--source",
            "phantom",
            "--input",
            str(small_input),
            "--out",
            str(tmp_path / "ws"),
            "--teacher",
            "openai",
            "--config",
            str(cfg),
            "--no-progress",
        ]
        first = CliRunner().invoke(app, args)
        second = CliRunner().invoke(app, [*args, "--no-cache"])
        bad = CliRunner().invoke(app, [*args[:7], "--base-url", server.url])
    assert first.exit_code == 0, first.output
    sent = len(server.seen)
    assert "teacher requests sent" in first.output and "cost (US$)" in first.output
    assert f"{sent * (100 * 1.0 + 20 * 2.0) / 1e6:.4f}" in first.output
    assert second.exit_code == 0 and len(server.seen) == sent  # all staged: nothing to ask
    assert bad.exit_code == 2 and "only apply with --teacher openai" in bad.output


def _ledger(out: Path) -> list[dict[str, object]]:
    files = sorted((out / ".build" / "usage" / "phantom").glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def test_usage_ledger_prices_every_question_and_survives_a_cached_rebuild(
    tmp_path: Path, small_input: Path
) -> None:
    prices = (("fake-model", 1.0, 2.0),)  # US$ per 1M tokens; the fake server reports 100 + 20
    kinds = ["good", "good", "wrong"]
    with serve(lambda index, body: kinds[index % len(kinds)]) as server:
        cfg = config(tmp_path / "ws", small_input, server.url, repair_attempts=0, prices=prices)
        first = run_build(cfg, progress=False)
        ledger = _ledger(tmp_path / "ws")
        # the staged rows go; the cache stays: the rebuild answers from it and sends nothing
        Workspace(tmp_path / "ws").discard_source("phantom")
        second = run_build(cfg, progress=False)
    per_question = (100 * 1.0 + 20 * 2.0) / 1e6
    rows, rejections = _rows(tmp_path / "ws"), _rejections(tmp_path / "ws")
    assert len(ledger) == len(rows) + len(rejections) == first.teacher.requests_sent
    assert {str(line["id"]) for line in ledger if line["accepted"]} == {str(r["id"]) for r in rows}
    assert all(line["cost_usd"] == pytest.approx(per_question) for line in ledger)
    assert sum(float(line["cost_usd"]) for line in ledger) == pytest.approx(
        first.teacher.usage.cost_usd
    )
    assert second.teacher.requests_sent == 0 and second.teacher.cache_hits == len(ledger)
    assert second.teacher.usage.cost_usd == 0.0  # nothing paid twice ...
    priced = ("id", "accepted", "prompt_tokens", "completion_tokens", "cost_usd")
    again = sorted(str([line[k] for k in priced]) for line in _ledger(tmp_path / "ws"))
    assert again == sorted(str([line[k] for k in priced]) for line in ledger)  # ... or lost

    publish(tmp_path / "ws", version="0.1.0")
    usage = json.loads((tmp_path / "ws" / "manifest.json").read_text())["teacher_usage"]
    spent = usage["phantom"]["published"]
    assert spent["questions"] == len(rows) and spent["prompt_tokens"] == 100 * len(rows)
    assert spent["cost_usd"] == pytest.approx(len(rows) * per_question)
    assert usage["phantom"]["not_published"]["questions"] == len(rejections)
    card = (tmp_path / "ws" / "README.md").read_text()
    assert f"| phantom | {len(rows)} | {100 * len(rows)} | {20 * len(rows)} |" in card
