"""The baseline ablation grid: data (2D / 3D / 2D+3D) × grounding × region tokens.

Every cell fine-tunes the same base model with the same schedule — the same number of SFT
optimizer steps (:func:`matched_steps`), rows per step, learning rate and seed, then the same GRPO
steps from its own SFT model — and is evaluated on the same held-out questions (both configs) with
its own region-token setting (a cell trained without crops is evaluated without crops), so cells
differ only in what the grid varies. A cell with grounding off and region tokens on is skipped:
with no boxes in the reasoning there is nothing to crop, so it would duplicate the cell with
region tokens off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from unimed_cot.train.ablate_table import CellResult, ablation_markdown, score_cell, write_table
from unimed_cot.train.data import load_samples, parse_mix
from unimed_cot.train.errors import TrainError
from unimed_cot.train.evaluate import EvalOptions, run_eval
from unimed_cot.train.grpo import GRPOOptions, run_grpo
from unimed_cot.train.sft import SFTOptions, run_sft

__all__ = ["Cell", "CellResult", "ablation_markdown", "parse_grid", "run_ablation"]

DATA_MIX = {"2d": "2d=1", "3d": "3d=1", "2d+3d": "2d=1,3d=1"}
_SWITCH = {"on": True, "off": False}


@dataclass(frozen=True)
class Cell:
    """One ablation cell."""

    data: str
    grounding: bool
    region_tokens: bool

    @property
    def name(self) -> str:
        """Folder-safe name, e.g. ``2d+3d_grounding-on_regions-off``."""
        g = "on" if self.grounding else "off"
        r = "on" if self.region_tokens else "off"
        return f"{self.data}_grounding-{g}_regions-{r}"


def _switches(text: str, flag: str) -> list[bool]:
    values = [v.strip().lower() for v in text.split(",") if v.strip()]
    if not values or any(v not in _SWITCH for v in values):
        raise TrainError(f"{flag}: expected on, off or on,off; got {text!r}")
    return [_SWITCH[v] for v in values]


def parse_grid(
    data: str = "2d,3d,2d+3d", grounding: str = "on,off", regions: str = "on,off"
) -> list[Cell]:
    """The cells of the requested subset of the grid, in table order.

    Raises:
        TrainError: an unknown data setting or switch value.
    """
    datas = [d.strip().lower() for d in data.split(",") if d.strip()]
    if not datas or any(d not in DATA_MIX for d in datas):
        raise TrainError(f"--data-settings: use 2d, 3d and/or 2d+3d; got {data!r}")
    cells = [
        Cell(d, g, r)
        for d in datas
        for g in _switches(grounding, "--grounding")
        for r in _switches(regions, "--region-tokens")
        if g or not r
    ]
    if not cells:
        raise TrainError("the requested grid is empty (region tokens need grounding)")
    return cells


def matched_steps(cells: Sequence[Cell], base: SFTOptions) -> int:
    """The SFT optimizer steps every cell runs.

    ``base.max_steps`` when set; otherwise the steps of ``base.epochs`` over the largest cell's
    rows (``ceil(rows / (batch × accum)) × epochs``), so the largest cell sees its epochs and the
    smaller ones repeat rows up to the same number of updates (same steps, same rows per step).
    """
    if base.max_steps > 0:
        return base.max_steps
    rows = max(
        len(load_samples(base.data, mix=parse_mix(DATA_MIX[c.data]), limit=base.limit))
        for c in cells
    )
    per_step = base.batch_size * base.grad_accum
    return max(1, math.ceil(math.ceil(rows / per_step) * base.epochs))


def run_ablation(
    *,
    cells: Sequence[Cell],
    base: SFTOptions,
    eval_options: EvalOptions,
    output: Path,
    grpo: GRPOOptions | None = None,
) -> list[CellResult]:
    """Run every cell (SFT, then GRPO from it when ``grpo`` is given, then evaluation with the
    cell's own region-token setting) under one matched schedule, and write the table."""
    steps = matched_steps(cells, base)
    results = []
    for cell in cells:
        folder = output / cell.name
        sft = run_sft(
            replace(
                base,
                mix=DATA_MIX[cell.data],
                grounding=cell.grounding,
                region_tokens=cell.region_tokens,
                max_steps=steps,
                output=folder / "sft",
            )
        )
        final = folder / "sft"
        grpo_steps = 0
        if grpo is not None and grpo.max_steps > 0:
            trained = run_grpo(
                replace(
                    grpo,
                    model=str(final),
                    mix=DATA_MIX[cell.data],
                    region_tokens=cell.region_tokens,
                    output=folder / "grpo",
                )
            )
            final, grpo_steps = folder / "grpo", trained.steps
        report = run_eval(
            replace(
                eval_options,
                model=str(final),
                output=folder,
                region_tokens=cell.region_tokens,
            )
        )
        overall, by = score_cell(report, seed=base.seed)
        results.append(
            CellResult(
                cell=cell.name,
                data=cell.data,
                grounding=cell.grounding,
                region_tokens=cell.region_tokens,
                sft_steps=sft.steps,
                grpo_steps=grpo_steps,
                sft_rows_per_step=base.batch_size * base.grad_accum,
                label_tokens=sft.label_tokens,
                final_loss=sft.losses[-1] if sft.losses else None,
                n=report.n,
                overall=overall,
                box_parse_rate=report.box_validity,
                mean_iou=report.mean_iou,
                by=by,
            )
        )
    write_table(results, output)
    return results
