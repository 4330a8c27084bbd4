"""What people look at: ``stats`` (a release measured, with its findings) and ``preview`` (a
static HTML gallery of rows with their boxes drawn)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .options import DEFAULT_DIR, ReleaseDir, console


def stats(
    directory: ReleaseDir = DEFAULT_DIR,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the numbers and findings as JSON.")
    ] = None,
    plots: Annotated[
        Path | None, typer.Option(help="Also draw the card's figures (PNG) into this folder.")
    ] = None,
    staged: Annotated[
        bool, typer.Option(help="Measure the rows staged by `build`, not the published shards.")
    ] = False,
    aliases: Annotated[
        Path | None,
        typer.Option(help='Alias table (JSON: {"synonyms": [[...]], "broader": {...}}).'),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(min=0.0, max=50.0, help="Prior tolerance, in points of share.")
    ] = 3.0,
) -> None:
    """Measure a release per source and family: rows, answer priors, option-set problems,
    questions per case, region sizes, modalities, windows; and list what is out of tolerance."""
    from unimed_cot.stats import (
        DEFAULT_ALIASES,
        AliasTable,
        Tolerance,
        check_stats,
        compute_stats,
        print_stats,
        write_plots,
    )
    from unimed_cot.store import write_text_atomic

    relation = AliasTable.from_json(aliases) if aliases is not None else DEFAULT_ALIASES
    limits = Tolerance(yes_no_points=tolerance / 100, letter_points=tolerance / 100)
    measured = compute_stats(directory, aliases=relation, staged=True if staged else None)
    findings = check_stats(measured, limits)
    print_stats(measured, findings, console)
    if json_out is not None:
        data = {**measured.to_json(), "findings": [f.to_json() for f in findings]}
        write_text_atomic(json_out, json.dumps(data, indent=2, sort_keys=True) + "\n")
        console.print(f"wrote {json_out}")
    if plots is not None:
        written = write_plots(measured, plots)
        console.print(f"wrote {len(written)} figures to {plots}/")


def preview(
    directory: ReleaseDir = DEFAULT_DIR,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("preview.html"),
    n: Annotated[int, typer.Option("--n", min=1, help="Rows to show.")] = 50,
    staged: Annotated[
        bool, typer.Option(help="Show the rows staged by `build`, not the published shards.")
    ] = False,
) -> None:
    """Write a self-contained HTML gallery of rows: question, options, trace, and the image or
    slice strip with every box drawn where its region is; filter by source, family, split."""
    from unimed_cot.preview import write_preview

    report = write_preview(directory, out, n=n, staged=True if staged else None)
    console.print(report.summary(), markup=False)
    console.print(f"open it: {out.resolve().as_uri()}", markup=False, soft_wrap=True)
