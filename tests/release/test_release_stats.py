"""The measured stats of a release: in the manifest, as PNGs beside it, in the card; and
``validate`` failing a release whose priors or option sets are off (issue 13, item 6)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from typer.testing import CliRunner

from unimed_cot.cli import app
from unimed_cot.release.card import write_card
from unimed_cot.release.publish import publish
from unimed_cot.stats import DEFAULT_ALIASES, PLOT_NAMES, compute_stats
from unimed_cot.store import read_table, rows_to_table, table_to_rows, write_parquet
from unimed_cot.store.files import sha256_file
from unimed_cot.validate import validate_release


def test_publish_writes_the_stats_into_manifest_card_and_figures(workspace: Path) -> None:
    publish(workspace, version="0.1.0")
    manifest = json.loads((workspace / "manifest.json").read_text())
    measured = compute_stats(workspace, aliases=DEFAULT_ALIASES, staged=False)
    assert manifest["stats"] == json.loads(json.dumps(measured.to_json()))
    assert manifest["stats"]["rows"] == 34
    families = {(f["source"], f["family"]): f for f in manifest["stats"]["families"]}
    # make_row alternates the answer by case: the letters counted from the rows themselves.
    rows = [
        r
        for p in sorted((workspace / "data").rglob("*.parquet"))
        for r in table_to_rows(read_table(p))
    ]
    for (source, family), entry in families.items():
        answers = [
            r["answer"][0] for r in rows if (r["source"], r["question_type"]) == (source, family)
        ]
        assert entry["letters"]["2"] == {"A": answers.count("A"), "B": answers.count("B")}
    assert manifest["stats_findings"] == []
    assert manifest["stats_tolerance"]["yes_no_points"] == 0.03
    card = (workspace / "README.md").read_text()
    assert "## Statistics" in card
    for name in PLOT_NAMES:
        entry = manifest["stats_plots"][name]
        figure = workspace / entry["path"]
        assert sha256_file(figure) == entry["sha256"]
        assert f"]({entry['path']})" in card  # the card shows it by its path in the release
        with Image.open(figure) as image:
            assert image.format == "PNG" and image.size == (700, 400)
    alpha = families[("alpha", "lesion_analysis")]["letters"]["2"]
    assert (
        f"| alpha | lesion_analysis | 12 | - | 2 options: A {alpha['A']} / B {alpha['B']} | 0 |"
        in card
    )
    keys = ("stats", "stats_findings", "stats_plots")
    first = {key: manifest[key] for key in keys}
    publish(workspace, version="0.1.0")  # the same staged rows: the same stats and figures
    again = json.loads((workspace / "manifest.json").read_text())
    assert {key: again[key] for key in keys} == first


def _skew(release: Path) -> None:
    """Make every alpha lesion question answer A (12 of 12): a prior chance cannot explain."""
    manifest = json.loads((release / "manifest.json").read_text())
    for entry in manifest["shards"]:
        path = release / entry["path"]
        rows = table_to_rows(read_table(path))
        for row in rows:
            if row["source"] == "alpha" and row["question_type"] == "lesion_analysis":
                row["answer"] = "A. right"
                row["reasoning"] = row["reasoning"].rsplit("</think>", 1)[0] + "</think>A. right"
        write_parquet(rows_to_table(rows), path)
        entry.update(sha256=sha256_file(path), bytes=path.stat().st_size)
    (release / "manifest.json").write_text(json.dumps(manifest))
    write_card(release / "README.md", manifest)  # sizes and content identity follow the shards


def test_validate_fails_a_skewed_release_unless_allowed(workspace: Path) -> None:
    publish(workspace, version="0.1.0")
    assert validate_release(workspace).ok
    _skew(workspace)
    report = validate_release(workspace)
    priors = [p for p in report.problems if p.where.startswith("priors ")]
    assert [p.where for p in priors] == ["priors alpha / lesion_analysis"]
    assert priors[0].what.startswith("letter-prior: 2 options: A 12 / B 0")
    assert "--allow-skew" in priors[0].what
    allowed = validate_release(workspace, allow_skew=True)
    assert not [p for p in allowed.problems if p.where.startswith("priors ")]
    assert [w.where for w in allowed.warnings if w.where.startswith("priors ")] == [
        "priors alpha / lesion_analysis"
    ]
    runner = CliRunner()
    failed = runner.invoke(app, ["validate", str(workspace)])
    assert failed.exit_code == 3 and "letter-prior" in failed.output
    passed = runner.invoke(app, ["validate", str(workspace), "--allow-skew"])
    assert passed.exit_code == 0, passed.output
    assert "warning: priors alpha / lesion_analysis: letter-prior" in passed.output


def test_validate_fails_option_sets_with_aliases_unless_allowed(
    workspace: Path, row_factory: Callable[..., dict[str, Any]], stager: Callable[..., None]
) -> None:
    rows = [
        {
            **row_factory(source="gamma", case=f"g{k}", question=0, dims=2, patient=f"g{k}"),
            "question_type": "structure_localization",
            "options": ["gallbladder", "gall bladder"] if k == 0 else ["liver", "spleen"],
            "answer": "A. gallbladder" if k == 0 else ("A. liver" if k % 2 else "B. spleen"),
        }
        for k in range(6)
    ]
    for row in rows:
        row["reasoning"] = row["reasoning"].rsplit("</think>", 1)[0] + "</think>" + row["answer"]
        stager(workspace, "gamma", row["id"].split("/")[1], [row])
    publish(workspace, version="0.1.0")
    report = validate_release(workspace)
    aliases = [p for p in report.problems if p.where == "priors gamma / structure_localization"]
    assert len(aliases) == 1 and aliases[0].what.startswith(
        "option-set: 1 of 6 option sets hold a synonym"
    )
    assert "gamma/g0/0" in aliases[0].what and "--allow-aliases" in aliases[0].what
    assert validate_release(workspace, allow_aliases=True).ok


def test_the_phantom_demo_release_validates_with_its_measured_priors(
    demo_release: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "unimed-cot"
    shutil.copytree(demo_release, copy, ignore=shutil.ignore_patterns(".build"))
    report = validate_release(copy)
    assert report.ok, report.problems
    manifest = json.loads((copy / "manifest.json").read_text())
    existence = next(
        f for f in manifest["stats"]["families"] if f["family"] == "existence_verification"
    )
    assert existence["yes_no"]["yes"] == existence["yes_no"]["no"]  # paired by construction
    assert not [f for f in manifest["stats_findings"] if f["severity"] == "problem"]
