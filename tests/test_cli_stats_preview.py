"""`unimed-cot stats` and `unimed-cot preview` through the real CLI, on the demo release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unimed_cot.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["stats", "preview"])
def test_help(command: str) -> None:
    code, output = invoke(command, "--help")
    assert code == 0 and "Usage" in output and "--staged" in output


def test_stats_prints_tables_and_writes_json_and_figures(
    demo_release: Path, tmp_path: Path
) -> None:
    code, output = invoke(
        "stats",
        str(demo_release),
        "--json",
        str(tmp_path / "s.json"),
        "--plots",
        str(tmp_path / "f"),
    )
    assert code == 0, output
    for title in ("rows per source", "answer priors", "intensity windows", "evidence regions"):
        assert title in output
    data = json.loads((tmp_path / "s.json").read_text())
    manifest = json.loads((demo_release / "manifest.json").read_text())
    assert data["format"] == "unimed-cot-stats/1" and data["origin"] == "release"
    assert data["rows"] == manifest["counts"]["total"]
    assert {f["kind"] for f in data["findings"]} <= {
        "yes-no-prior",
        "letter-prior",
        "option-set",
        "never-correct-option",
    }
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "answer_priors.png",
        "box_sizes.png",
        "family_mix.png",
        "modality_mix.png",
    ]


def test_stats_of_the_staged_rows(demo_release: Path, tmp_path: Path) -> None:
    code, output = invoke(
        "stats", str(demo_release), "--staged", "--json", str(tmp_path / "s.json")
    )
    assert code == 0, output
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["origin"] == "staged"
    assert set(data["sources"]["phantom"]["splits"]) == {"unsplit"}


def test_stats_errors_are_one_line(tmp_path: Path) -> None:
    code, output = invoke("stats", str(tmp_path / "missing"))
    assert code == 2 and output.strip().splitlines() == [
        f"error: {tmp_path / 'missing'} is not a folder; give a release or build folder"
    ]
    code, output = invoke("stats", str(tmp_path))
    assert code == 2 and len(output.strip().splitlines()) == 1 and "no staged rows" in output


def test_a_bad_alias_table_is_one_line(demo_release: Path, tmp_path: Path) -> None:
    (tmp_path / "aliases.json").write_text('{"synonyms": "gallbladder"}')
    code, output = invoke("stats", str(demo_release), "--aliases", str(tmp_path / "aliases.json"))
    assert code == 2 and len(output.strip().splitlines()) == 1 and "alias table" in output


def test_preview_writes_the_gallery(demo_release: Path, tmp_path: Path) -> None:
    out = tmp_path / "gallery.html"
    code, output = invoke("preview", str(demo_release), "--out", str(out), "--n", "6")
    assert code == 0, output
    assert "6 of" in output and out.is_file()
    page = out.read_text()
    assert page.count('<section class="card"') == 6
    assert 'data-dims="2"' in page and 'data-dims="3"' in page  # both kinds of rows are shown
