"""Evaluation: scoring of answers and boxes, the tables, and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unimed_cot.train.data import Region, TrainSample
from unimed_cot.train.evaluate import Prediction, markdown_table, score_boxes, summarize


def _sample(dims: int) -> TrainSample:
    k = 1 if dims == 2 else 4
    images = [Image.fromarray(np.zeros((56, 84, 3), np.uint8)) for _ in range(k)]
    box = (10, 10, 30, 30) if dims == 2 else (10, 10, 1, 30, 30, 3)
    return TrainSample(
        id="s/1/0",
        dims=dims,
        source="s",
        question_type="t",
        system="",
        question="q",
        images=images,
        target="",
        answer="A. x",
        regions=[Region("R1", "x", box)],
        options=["x"],
    )


def test_box_scoring_checks_syntax_bounds_and_iou() -> None:
    text = (
        "<think><|box_start|>[10,10,30,30]<|box_end|> <|box_start|>[0,0,90,10]<|box_end|>"
        " <|box_start|>[20,20,40,40]<|box_end|></think>A. x"
    )
    written, valid, ious = score_boxes(text, _sample(2))
    assert (written, valid) == (3, 2)  # [0,0,90,10] leaves the 84 px wide image
    assert ious == [1.0, pytest.approx(100 / 700)]
    written, valid, ious = score_boxes("<|box_start|>[10,10,1,30,30,3]<|box_end|>", _sample(3))
    assert (written, valid, ious) == (1, 1, [1.0])
    # a 2D box in a 3D question is written but not valid; an unclosed box counts as written
    assert score_boxes("<|box_start|>[1,1,5,5]<|box_end|> <|box_start|>[1", _sample(3))[:2] == (
        2,
        0,
    )


def test_summary_breaks_down_accuracy() -> None:
    def pred(config: str, correct: bool, qtype: str) -> Prediction:
        return Prediction(
            id="x",
            config=config,
            source="phantom",
            question_type=qtype,
            answer="A. x",
            predicted="A" if correct else None,
            correct=correct,
            boxes_written=1,
            boxes_valid=int(correct),
            ious=[0.5] if correct else [],
            text="",
        )

    report = summarize(
        [
            pred("2d", True, "a"),
            pred("2d", False, "b"),
            pred("3d", True, "a"),
            pred("3d", True, "b"),
        ]
    )
    assert report.accuracy == 0.75 and report.box_validity == 0.75 and report.mean_iou == 0.5
    assert report.by["config"] == {"2d": (1, 2), "3d": (2, 2)}
    assert report.by["question_type"]["a"] == (2, 2)
    table = markdown_table(report)
    assert "| config | 2d | 1 | 2 | 0.500 |" in table and "accuracy 0.750" in table


def test_cli_chain_tiny_sft_eval(train_release: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="needs the [train] extra")
    pytest.importorskip("trl", reason="needs the [train] extra")
    from typer.testing import CliRunner

    from unimed_cot.cli import app

    runner = CliRunner()
    model, sft, ev = tmp_path / "m", tmp_path / "s", tmp_path / "ev"
    result = runner.invoke(app, ["train", "tiny-model", str(model), "--family", "qwen2_vl"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "train",
            "sft",
            "--data",
            str(train_release),
            "--model",
            str(model),
            "--output",
            str(sft),
            "--max-steps",
            "1",
            "--batch-size",
            "1",
            "--grad-accum",
            "1",
            "--limit",
            "2",
            "--no-region-tokens",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "sft: 1 steps on 2 rows" in result.output
    result = runner.invoke(
        app,
        [
            "train",
            "eval",
            "--data",
            str(train_release),
            "--model",
            str(sft),
            "--output",
            str(ev),
            "--split",
            "test",
            "--limit",
            "3",
            "--max-new-tokens",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((ev / "eval.json").read_text())
    assert report["n"] == 3 and len(report["predictions"]) == 3
    assert (ev / "eval.md").read_text().startswith("**3 questions**")
