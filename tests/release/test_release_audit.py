"""validate's release-wide checks: near duplicates across splits, answer balance, JSON report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from unimed_cot.cli import app
from unimed_cot.release.publish import publish
from unimed_cot.store.features import read_table, rows_to_table, table_to_rows, write_parquet
from unimed_cot.store.files import sha256_file
from unimed_cot.validate import validate_release


def test_a_planted_cross_split_duplicate_is_caught(workspace: Path) -> None:
    publish(workspace, version="0.1.0")
    test_rows = table_to_rows(read_table(workspace / "data/2d/test-00000-of-00001.parquet"))
    train_name = "data/2d/train-00000-of-00001.parquet"
    train_rows = table_to_rows(read_table(workspace / train_name))
    victim = train_rows[0]
    victim["images"] = test_rows[0]["images"]  # a test image smuggled into train
    write_parquet(rows_to_table(train_rows), workspace / train_name)
    manifest = json.loads((workspace / "manifest.json").read_text())
    entry = next(s for s in manifest["shards"] if s["path"] == train_name)
    entry["sha256"] = sha256_file(workspace / train_name)
    entry["bytes"] = (workspace / train_name).stat().st_size
    (workspace / "manifest.json").write_text(json.dumps(manifest))

    problems = validate_release(workspace).problems
    leaks = [p for p in problems if "near-duplicate images in" in p.what]
    assert len(leaks) == 1
    assert victim["id"] in leaks[0].where and test_rows[0]["id"] in leaks[0].where
    assert "train and test" in leaks[0].what or "test and train" in leaks[0].what


def _answer_b_everywhere(workspace: Path) -> None:
    """Restage every 2D row with the answer "B. left" (the fixture alternates answers by case)."""
    for staged in sorted((workspace / ".build" / "staged" / "alpha").glob("*.parquet")):
        rows = table_to_rows(read_table(staged))
        for row in rows:
            row["answer"] = "B. left"
            row["reasoning"] = row["reasoning"].rsplit("</think>", 1)[0] + "</think>B. left"
        write_parquet(rows_to_table(rows), staged)


def test_unbalanced_answers_warn_and_the_json_report_lists_them(
    make_workspace: Callable[..., Path], tmp_path: Path
) -> None:
    workspace = make_workspace(groups_2d=15, questions=2)  # 60 2D rows
    _answer_b_everywhere(workspace)
    publish(workspace, version="0.1.0")
    strict = validate_release(workspace)  # every answer "B": a prior chance does not explain
    assert sorted(p.where for p in strict.problems) == [
        "priors alpha / lesion_analysis",
        "priors alpha / spatial_localization",
    ]
    report = validate_release(workspace, allow_skew=True)
    assert report.ok
    warned = {(w.where, w.what.split(" is ")[0]) for w in report.warnings}
    assert {("config 2d", "answer A"), ("config 2d", "answer B")} <= warned

    out = tmp_path / "report.json"
    args = ["validate", str(workspace), "--json", str(out), "--allow-skew"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning: config 2d: answer B is 60 rows, 30 expected" in result.output
    data = json.loads(out.read_text())
    assert data["ok"] is True and data["rows"] == report.rows
    assert data["answer_letters"]["2d"] == {"B": 60}
    assert (
        len(data["warnings"]) == 6 and data["problems"] == []
    )  # 2 letters, 2 priors, 2 never-correct
