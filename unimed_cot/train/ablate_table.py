"""The ablation results table: accuracy with bootstrap 95% intervals, box parse rate, IoU.

Every cell is scored on the same held-out questions. Intervals are percentile bootstrap
intervals over questions (``n_boot`` resamples with a fixed seed), computed per config, source
and question type, so two cells are compared on the same rows with the same uncertainty model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from unimed_cot.train.evaluate import EvalReport, Prediction

GROUPS = ("config", "source", "question_type")


@dataclass
class Score:
    """Accuracy of a group of questions and its bootstrap 95% interval."""

    correct: int
    total: int
    accuracy: float
    low: float
    high: float


def bootstrap(correct: Sequence[bool], *, n_boot: int = 1000, seed: int = 0) -> Score:
    """Accuracy and the percentile bootstrap 95% interval of a list of right/wrong answers."""
    values = np.asarray(correct, dtype=float)
    if values.size == 0:
        return Score(0, 0, 0.0, 0.0, 0.0)
    draws = np.random.default_rng(seed).integers(0, values.size, (n_boot, values.size))
    means = values[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Score(int(values.sum()), int(values.size), float(values.mean()), float(low), float(high))


@dataclass
class CellResult:
    """A cell's schedule and its scores on the shared evaluation set."""

    cell: str
    data: str
    grounding: bool
    region_tokens: bool
    sft_steps: int
    grpo_steps: int
    sft_rows_per_step: int
    label_tokens: int
    final_loss: float | None
    n: int
    overall: Score
    box_parse_rate: float | None
    mean_iou: float | None
    by: dict[str, dict[str, Score]] = field(default_factory=dict)


def score_cell(report: EvalReport, *, seed: int = 0) -> tuple[Score, dict[str, dict[str, Score]]]:
    """Overall and per-group scores of an evaluation report."""
    preds: list[Prediction] = report.predictions
    overall = bootstrap([p.correct for p in preds], seed=seed)
    by: dict[str, dict[str, Score]] = {}
    for group in GROUPS:
        keys = sorted({str(getattr(p, group)) for p in preds})
        by[group] = {
            key: bootstrap([p.correct for p in preds if str(getattr(p, group)) == key], seed=seed)
            for key in keys
        }
    return overall, by


def _fmt(score: Score | None) -> str:
    if score is None or score.total == 0:
        return "–"
    return f"{100 * score.accuracy:.1f} [{100 * score.low:.1f}, {100 * score.high:.1f}]"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def ablation_markdown(results: Sequence[CellResult]) -> str:
    """The main table (paper shape, with the schedule shown) then accuracy by source and type."""
    mark = lambda b: "✓" if b else "✗"  # noqa: E731
    lines = [
        "| training data | grounding | region tokens | SFT steps | GRPO steps | trained tokens "
        "| 2D acc [95% CI] | 3D acc [95% CI] | overall [95% CI] | box parse rate | mean IoU |",
        "|---|:-:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        config = r.by.get("config", {})
        lines.append(
            f"| {r.data} | {mark(r.grounding)} | {mark(r.region_tokens)} | {r.sft_steps} "
            f"| {r.grpo_steps} | {r.label_tokens} | {_fmt(config.get('2d'))} "
            f"| {_fmt(config.get('3d'))} | {_fmt(r.overall)} | {_pct(r.box_parse_rate)} "
            f"| {_pct(r.mean_iou)} |"
        )
    n = results[0].n if results else 0
    lines += [
        "",
        f"Every cell: the same {n} held-out questions; SFT steps and rows per step matched "
        "across cells; intervals: percentile bootstrap over questions (1000 resamples).",
    ]
    for group in ("source", "question_type"):
        keys = sorted({k for r in results for k in r.by.get(group, {})})
        if not keys:
            continue
        lines += ["", f"| cell | {' | '.join(keys)} |", "|---|" + "---:|" * len(keys)]
        for r in results:
            row = [_fmt(r.by.get(group, {}).get(k)) for k in keys]
            lines.append(f"| {r.cell} | {' | '.join(row)} |")
    return "\n".join(lines) + "\n"


def write_table(results: Sequence[CellResult], output: Path) -> tuple[Path, Path]:
    """Write ``ablation.json`` and ``ablation.md`` into ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output / "ablation.json", output / "ablation.md"
    json_path.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    md_path.write_text(ablation_markdown(results))
    return json_path, md_path
