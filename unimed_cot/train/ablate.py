"""The baseline ablation grid: data (2D / 3D / 2D+3D) × grounding × region tokens.

Every cell fine-tunes the same base model with the same schedule (steps, learning rate, batch,
seed), then is evaluated on the same held-out questions (both configs), so cells differ only in
what the grid varies. A cell with grounding off and region tokens on is skipped: with no boxes in
the reasoning there is nothing to crop, so it would duplicate the cell with region tokens off.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from unimed_cot.train.errors import TrainError
from unimed_cot.train.evaluate import EvalOptions, run_eval
from unimed_cot.train.sft import SFTOptions, run_sft

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


@dataclass
class CellResult:
    """A cell's scores on the shared evaluation set."""

    cell: str
    data: str
    grounding: bool
    region_tokens: bool
    steps: int
    final_loss: float | None
    accuracy_2d: float | None
    accuracy_3d: float | None
    accuracy: float
    box_validity: float | None


def run_ablation(
    *, cells: Sequence[Cell], base: SFTOptions, eval_options: EvalOptions, output: Path
) -> list[CellResult]:
    """Run every cell (SFT with ``base``'s schedule, then evaluation) and write the table."""
    results = []
    for cell in cells:
        folder = output / cell.name
        sft = run_sft(
            replace(
                base,
                mix=DATA_MIX[cell.data],
                grounding=cell.grounding,
                region_tokens=cell.region_tokens,
                output=folder / "model",
            )
        )
        report = run_eval(replace(eval_options, model=str(folder / "model"), output=folder))
        by_config = report.by.get("config", {})
        acc = {k: c / t for k, (c, t) in by_config.items()}
        results.append(
            CellResult(
                cell=cell.name,
                data=cell.data,
                grounding=cell.grounding,
                region_tokens=cell.region_tokens,
                steps=sft.steps,
                final_loss=sft.losses[-1] if sft.losses else None,
                accuracy_2d=acc.get("2d"),
                accuracy_3d=acc.get("3d"),
                accuracy=report.accuracy,
                box_validity=report.box_validity,
            )
        )
    write_table(results, output)
    return results


def ablation_markdown(results: Sequence[CellResult]) -> str:
    """The table in the shape of the reference paper's ablation table."""
    fmt = lambda v: "–" if v is None else f"{100 * v:.1f}"  # noqa: E731
    mark = lambda b: "✓" if b else "✗"  # noqa: E731
    lines = [
        "| training data | grounding | region tokens | 2D acc | 3D acc | overall | box validity |",
        "|---|:-:|:-:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.data} | {mark(r.grounding)} | {mark(r.region_tokens)} | {fmt(r.accuracy_2d)} "
            f"| {fmt(r.accuracy_3d)} | {fmt(r.accuracy)} | {fmt(r.box_validity)} |"
        )
    return "\n".join(lines) + "\n"


def write_table(results: Sequence[CellResult], output: Path) -> tuple[Path, Path]:
    """Write ``ablation.json`` and ``ablation.md`` into ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output / "ablation.json", output / "ablation.md"
    json_path.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    md_path.write_text(ablation_markdown(results))
    return json_path, md_path
