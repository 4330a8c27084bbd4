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
def test_ablate_matches_schedules_runs_grpo_and_evaluates_as_trained(
    tiny_model: Path, train_release: Path, tmp_path: Path
) -> None:
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
            "2d,3d",
            "--grounding",
            "on",
            "--region-tokens",
            "off",
            "--batch-size",
            "4",
            "--grad-accum",
            "1",
            "--grpo-steps",
            "1",
            "--num-generations",
            "2",
            "--eval-limit",
            "2",
            "--max-new-tokens",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "ablation.json").read_text())
    # 11 2D rows and 18 3D rows at 4 per step: 3 and 5 steps on their own; matched: 5 each.
    assert [(r["data"], r["sft_steps"], r["grpo_steps"]) for r in rows] == [
        ("2d", 5, 1),
        ("3d", 5, 1),
    ]
    assert all(r["label_tokens"] > 0 and r["n"] == 2 for r in rows)
    assert all(0.0 <= r["overall"]["low"] <= r["overall"]["high"] <= 1.0 for r in rows)
    for r in rows:  # each cell evaluated with its own region-token setting
        report = json.loads((out / r["cell"] / "eval.json").read_text())
        assert report["region_tokens"] is False
        assert (out / r["cell"] / "grpo" / "config.json").is_file()
    table = (out / "ablation.md").read_text().splitlines()
    assert table[0].startswith("| training data | grounding | region tokens | SFT steps |")
    assert (
        len([line for line in table[2:] if line.startswith("| 2d |") or line.startswith("| 3d |")])
        == 2
    )
