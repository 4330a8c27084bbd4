"""Evaluation: accuracy per config / source / question type, box validity and IoU, as JSON + table.

Each question is answered by a greedy crop-and-continue rollout (as the reference inference does).
Answers are read strictly (:func:`~unimed_cot.train.rewards.extract_choice`). Every box the model
writes is checked for syntax and bounds; IoU against the row's regions (best match of the same
dimensionality) is reported for analysis only and is never a reward.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unimed_cot.boxes import BOX_END, BOX_START, BoxError, iou, parse_coordinates, validate_box
from unimed_cot.train.data import TrainSample, load_samples, parse_mix
from unimed_cot.train.rewards import answer_reward, extract_choice
from unimed_cot.train.rollout import GenerateFn, rollout

_SPAN = re.compile(re.escape(BOX_START) + r"(.*?)" + re.escape(BOX_END), re.DOTALL)


@dataclass
class Prediction:
    """One evaluated question."""

    id: str
    config: str
    source: str
    question_type: str
    answer: str
    predicted: str | None
    correct: bool
    boxes_written: int
    boxes_valid: int
    ious: list[float]
    text: str


@dataclass
class EvalReport:
    """Totals and breakdowns; ``accuracy[group][key]`` = (correct, total)."""

    n: int
    accuracy: float
    box_validity: float | None
    mean_iou: float | None
    by: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    predictions: list[Prediction] = field(default_factory=list)
    region_tokens: bool = True  # crops were injected after boxes during the rollouts


def score_boxes(text: str, sample: TrainSample) -> tuple[int, int, list[float]]:
    """(box spans written, spans that parse and fit the image/stack, best IoU per valid box)."""
    written = min(text.count(BOX_START), text.count(BOX_END)) + abs(
        text.count(BOX_START) - text.count(BOX_END)
    )
    width, height = sample.images[0].size
    arity = 4 if sample.dims == 2 else 6
    valid, ious = 0, []
    for span in _SPAN.finditer(text):  # each span on its own: one bad box spoils no other
        try:
            box = parse_coordinates(span.group(1))
            if len(box) != arity:
                raise BoxError("wrong dimensionality")
            validate_box(
                box,
                width=width,
                height=height,
                n_slices=len(sample.images) if sample.dims == 3 else None,
            )
        except BoxError:
            continue
        valid += 1
        same = [iou(box, r.box) for r in sample.regions if len(r.box) == arity]
        if same:
            ious.append(max(same))
    return written, valid, ious


def evaluate_samples(
    samples: Sequence[TrainSample],
    processor: Any,
    generate: GenerateFn,
    *,
    max_new_tokens: int = 512,
    max_rounds: int = 10,
    region_tokens: bool = True,
) -> EvalReport:
    """Answer every sample with ``generate`` and score the answers and boxes.

    ``region_tokens`` off evaluates as the model was trained with ``--no-region-tokens``: boxes
    get no crops.
    """
    predictions = []
    for sample in samples:
        result = rollout(
            sample,
            processor,
            generate,
            max_rounds=max_rounds,
            max_new_tokens=max_new_tokens,
            region_tokens=region_tokens,
        )
        written, valid, ious = score_boxes(result.text, sample)
        predictions.append(
            Prediction(
                id=sample.id,
                config=f"{sample.dims}d",
                source=sample.source,
                question_type=sample.question_type,
                answer=sample.answer,
                predicted=extract_choice(result.text, sample.options),
                correct=bool(answer_reward(result.text, sample.answer, sample.options)),
                boxes_written=written,
                boxes_valid=valid,
                ious=ious,
                text=result.text,
            )
        )
    report = summarize(predictions)
    report.region_tokens = region_tokens
    return report


def summarize(predictions: Sequence[Prediction]) -> EvalReport:
    """Aggregate predictions into an :class:`EvalReport`."""
    by: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for p in predictions:
        for group, key in (
            ("config", p.config),
            ("source", p.source),
            ("question_type", p.question_type),
        ):
            by[group][key][0] += int(p.correct)
            by[group][key][1] += 1
    written = sum(p.boxes_written for p in predictions)
    ious = [v for p in predictions for v in p.ious]
    n = len(predictions)
    return EvalReport(
        n=n,
        accuracy=sum(p.correct for p in predictions) / n if n else 0.0,
        box_validity=sum(p.boxes_valid for p in predictions) / written if written else None,
        mean_iou=statistics.fmean(ious) if ious else None,
        by={g: {k: (v[0], v[1]) for k, v in sorted(d.items())} for g, d in by.items()},
        predictions=list(predictions),
    )


def markdown_table(report: EvalReport) -> str:
    """The report as markdown: overall line, then one row per group and key."""
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [
        f"**{report.n} questions** · accuracy {report.accuracy:.3f} · box validity "
        f"{fmt(report.box_validity)} · mean IoU {fmt(report.mean_iou)}",
        "",
        "| group | key | correct | total | accuracy |",
        "|---|---|---:|---:|---:|",
    ]
    for group, table in report.by.items():
        for key, (correct, total) in table.items():
            lines.append(f"| {group} | {key} | {correct} | {total} | {correct / total:.3f} |")
    return "\n".join(lines) + "\n"


def write_report(report: EvalReport, out: Path) -> tuple[Path, Path]:
    """Write ``eval.json`` and ``eval.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "eval.json", out / "eval.md"
    json_path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    md_path.write_text(markdown_table(report))
    return json_path, md_path


@dataclass
class EvalOptions:
    """One evaluation run."""

    data: str
    model: str
    output: Path
    mix: str = "2d=1,3d=1"
    split: str = "test"
    limit: int | None = None
    max_new_tokens: int = 512
    max_rounds: int = 10
    device: str = "cpu"
    region_tokens: bool = True


def run_eval(options: EvalOptions) -> EvalReport:
    """Load a checkpoint, answer the release's questions greedily and write the report."""
    from unimed_cot.train.model import load_model
    from unimed_cot.train.processor import load_processor
    from unimed_cot.train.rollout import model_generate_fn

    samples = load_samples(
        options.data, mix=parse_mix(options.mix), split=options.split, limit=options.limit
    )
    processor = load_processor(options.model)
    model = load_model(options.model, device=options.device).eval()
    report = evaluate_samples(
        samples,
        processor,
        model_generate_fn(model, processor),
        max_new_tokens=options.max_new_tokens,
        max_rounds=options.max_rounds,
        region_tokens=options.region_tokens,
    )
    write_report(report, options.output)
    return report
