"""The ``train`` sub-app: help texts, usage errors, the ablation grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unimed_cot.cli import app
from unimed_cot.train.ablate import parse_grid
from unimed_cot.train.errors import TrainError

runner = CliRunner()


def test_train_help_lists_every_command() -> None:
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for command in ("tiny-model", "sft", "grpo", "eval", "ablate"):
        assert command in result.output


def test_sft_help_teaches_the_ablation_switches() -> None:
    result = runner.invoke(app, ["train", "sft", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for flag in ("--no-region-tokens", "--no-grounding", "--mix", "--lora", "--max-steps"):
        assert flag in result.output


def test_bad_mix_is_one_line_and_exit_2(train_release: Path, tmp_path: Path) -> None:
    pytest.importorskip("trl", reason="needs the [train] extra")
    result = runner.invoke(
        app,
        [
            "train",
            "sft",
            "--data",
            str(train_release),
            "--mix",
            "4d=1",
            "--output",
            str(tmp_path / "x"),
            "--model",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --mix: unknown config '4d'; use 2d and/or 3d, e.g. 2d=1,3d=1"
    ]


def test_grid_subsets() -> None:
    assert len(parse_grid()) == 9  # 3 data × (on/on, on/off, off/off)
    cells = parse_grid("2d+3d", "on", "on,off")
    assert [c.name for c in cells] == [
        "2d+3d_grounding-on_regions-on",
        "2d+3d_grounding-on_regions-off",
    ]
    with pytest.raises(TrainError):
        parse_grid("4d")
    with pytest.raises(TrainError):
        parse_grid("2d", "off", "on")


@pytest.mark.slow
def test_ablate_two_cells(tiny_model: Path, train_release: Path, tmp_path: Path) -> None:
    pytest.importorskip("trl", reason="needs the [train] extra")
    out = tmp_path / "ablation"
    result = runner.invoke(
        app,
        [
            "train",
            "ablate",
            "--data",
            str(train_release),
            "--model",
            str(tiny_model),
            "--output",
            str(out),
            "--data-settings",
            "2d",
            "--grounding",
            "on",
            "--region-tokens",
            "on,off",
            "--max-steps",
            "1",
            "--batch-size",
            "1",
            "--grad-accum",
            "1",
            "--limit",
            "2",
            "--eval-limit",
            "2",
            "--max-new-tokens",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "ablation.json").read_text())
    assert [(r["region_tokens"], r["steps"]) for r in rows] == [(True, 1), (False, 1)]
    table = (out / "ablation.md").read_text().splitlines()
    assert table[0].startswith("| training data | grounding | region tokens |") and len(table) == 4
