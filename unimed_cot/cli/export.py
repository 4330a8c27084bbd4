"""``unimed-cot export``: a release in another project's training layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import PublishedRelease, console, require_folder


def export(
    release: PublishedRelease,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="unireason (the reference release layout), trl, llamafactory or verl.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the exported files into.")],
) -> None:
    """Write a release in another project's layout: UniReason-Med, TRL, LLaMA-Factory, verl."""
    from unimed_cot.exports import export_release

    require_folder(release, "the release folder written by `publish`")
    report = export_release(release, fmt=format, out=out)
    console.print(report.summary(), markup=False)
